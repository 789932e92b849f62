"""AWS CUR imports: legacy CUR (the real sample), CUR 2.0 CSV/gz/Parquet, manifests, Bedrock tokens.

The CUR 2.0 fixture (tests/fixtures/aws_cur/cur2-bedrock-2026-01.csv) uses vendors.md §3.2 column
names with invented values. Its Bedrock and Marketplace token lines are billed at the price book's
list prices, so a line's list cost equals its billed cost: a cached token counted twice (or a
per-1K quantity read as tokens) shows up as a mismatch.
"""

from __future__ import annotations

import csv
import gzip
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from aispend.errors import FormatDetectionError, ImportError_, ValidationError
from aispend.ingest import import_file
from aispend.ingest.native.aws_cur import model_key, model_table
from aispend.pricing import PriceBook

from .conftest import SAMPLES, run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "aws_cur"
CUR2 = FIXTURES / "cur2-bedrock-2026-01.csv"
LEGACY = (SAMPLES / "focus_converters" / "focus_converter_base" / "tests" / "provider_config_tests" / "aws"
          / "sample-anonymous-aws-export-dataset.csv")
LEGACY_TOTAL = Decimal("1.68230869740")  # shared/samples/INDEX.md: sum of lineItem/UnblendedCost

# The fixture's expected report, worked out by hand from its rows (see the docstring above).
EXPECTED = {
    ("aws", "amazon", "amazon.nova-lite-v1:0"): Decimal("0.04169"),  # 0.09123 + 0.05046 - 0.10 credit
    ("aws", "amazon", "amazon.nova-pro-v1:0"): Decimal("1.28"),
    ("aws", "anthropic", "regional.anthropic.claude-sonnet-4-6-v1:0"): Decimal("2.773485"),
    ("aws", "anthropic", "regional.anthropic.claude-3-haiku-20240307-v1:0"): Decimal("0.975"),
    ("aws", "anthropic", "global.anthropic.claude-sonnet-4-5-20250929-v1:0"): Decimal("6.075"),
    ("aws", "aws", None): Decimal("0.6375"),  # S3 0.2875 + tax 0.35
}
# model -> (input incl. cache, output, cache read, cache write)
TOKENS = {
    "amazon.nova-lite-v1:0": (1_520_500, 210_250, 0, 0),
    "amazon.nova-pro-v1:0": (2_900_000, 50_000, 2_000_000, 100_000),
    "regional.anthropic.claude-sonnet-4-6-v1:0": (660_450, 125_000, 500_000, 20_000),
    "regional.anthropic.claude-3-haiku-20240307-v1:0": (2_400_000, 300_000, 0, 0),
    "global.anthropic.claude-sonnet-4-5-20250929-v1:0": (4_300_000, 80_000, 3_000_000, 100_000),
}


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="") as fh:
        writer = csv.DictWriter(fh, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def csv_total(path: Path, column: str) -> Decimal:
    """An independent oracle: the csv module and Decimal, nothing of aispend."""
    return sum((Decimal(r[column]) for r in read_rows(path)[1]), Decimal(0))


def report(workdir: Path, by: str) -> list[dict]:
    out = run_cli("report", "--by", by, "--format", "json", cwd=workdir)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def ledger_total(store) -> Decimal:
    return store.query("SELECT coalesce(sum(billed_cost), 0) FROM ledger")[0][0]


# --- CUR 2.0 fixture ---------------------------------------------------------------------------------


def test_report_by_provider_publisher_model_is_exact(workdir):
    assert sum(EXPECTED.values()) == csv_total(CUR2, "line_item_unblended_cost") == Decimal("11.782675")
    imported = run_cli("import", str(CUR2), cwd=workdir)
    assert imported.returncode == 0, imported.stderr
    assert "19 rows as aws-cur" in imported.stderr
    rows = report(workdir, "provider,publisher,model")
    assert {(r["provider"], r["publisher"], r["model"]): Decimal(r["cost_usd"]) for r in rows} == EXPECTED
    tokens = {r["model"]: (r["input_tokens"], r["output_tokens"], r["cache_read_tokens"]) for r in rows if r["model"]}
    assert tokens == {m: t[:3] for m, t in TOKENS.items()}


def test_cache_tokens_are_counted_once_inside_input(store, settings):
    import_file(store, settings, CUR2)
    got = store.query(
        "SELECT model, sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens) "
        "FROM ledger WHERE model IS NOT NULL GROUP BY model")
    assert {m: tuple(int(v or 0) for v in rest) for m, *rest in got} == TOKENS
    # One CUR line per token type: a cache line carries its tokens in input and in its own column only.
    lines = store.query(
        "SELECT sku, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens FROM ledger "
        "WHERE sku LIKE '%NovaPro%' ORDER BY sku")
    assert lines == [
        ("USE1-NovaPro-cache-read-input-token-count", 2_000_000, None, 2_000_000, None),
        ("USE1-NovaPro-cache-write-input-token-count", 100_000, None, None, 100_000),
        ("USE1-NovaPro-input-tokens", 800_000, None, None, None),
        ("USE1-NovaPro-output-tokens", None, 50_000, None, None),
    ]
    # Billed at list price: every token line's list cost is its billed cost, to the last digit.
    priced = store.query(
        "SELECT sku, billed_cost, list_cost_usd FROM ledger WHERE pricing_status = 'priced' ORDER BY sku")
    assert len(priced) == 16
    assert [(sku, billed) for sku, billed, _ in priced] == [(sku, listed) for sku, _, listed in priced]


def test_quantities_in_1k_and_1m_token_units_become_token_counts(store, settings):
    import_file(store, settings, CUR2)
    rows = {sku: (q, unit, i, o) for sku, q, unit, i, o in store.query(
        "SELECT sku, quantity, unit, input_tokens, output_tokens FROM ledger "
        "WHERE input_tokens > 0 OR output_tokens > 0")}
    assert rows["USE1-NovaLite-input-tokens"] == (Decimal("1520.5"), "1K tokens", 1_520_500, None)
    assert rows["USE1-NovaLite-output-tokens"] == (Decimal("210.25"), "1K tokens", None, 210_250)
    assert rows["USE1-Claude4.6Sonnet-input-tokens"] == (Decimal("0.14045"), "1M tokens", 140_450, None)
    assert rows["USW2-MP:USW2_InputTokenCount-Units"] == (Decimal("2.4"), "1M tokens", 2_400_000, None)
    # The unit is read per row: the same product's cache-read line is in 1K tokens.
    assert rows["USE1-MP:USE1_CacheReadInputTokenCount_Global-Units"] == (Decimal(3000), "1K tokens", 3_000_000, None)


def test_a_token_line_in_an_unknown_unit_keeps_its_money_but_claims_no_tokens(store, settings, workdir):
    header, rows = read_rows(CUR2)
    rows[0]["pricing_unit"] = "Units"
    import_file(store, settings, write_rows(workdir / "units.csv", header, rows))
    line = store.query("SELECT billed_cost, quantity, unit, input_tokens, model, pricing_status FROM ledger "
                       "WHERE sku = 'USE1-NovaLite-input-tokens' AND charge_category = 'usage'")
    assert line == [(Decimal("0.09123"), Decimal("1520.5"), "Units", None, "amazon.nova-lite-v1:0", "none")]


def test_marketplace_claude_is_ai_spend_billed_by_aws_made_by_anthropic(store, settings):
    import_file(store, settings, CUR2)
    rows = store.query(
        "SELECT DISTINCT provider, publisher, service, service_category, region FROM ledger "
        "WHERE sku LIKE '%MP:%' ORDER BY service")
    assert rows == [
        ("aws", "anthropic", "Claude 3 Haiku (Amazon Bedrock Edition)", "AI and Machine Learning", "us-west-2"),
        ("aws", "anthropic", "Claude Sonnet 4.5 (Amazon Bedrock Edition)", "AI and Machine Learning", "us-east-1"),
    ]


def test_non_ai_tax_and_credit_lines_are_kept_and_labelled(store, settings):
    import_file(store, settings, CUR2)
    rows = store.query(
        "SELECT charge_category, service, service_category, publisher, billed_cost, input_tokens, output_tokens "
        "FROM ledger WHERE charge_category <> 'usage' OR service_category <> 'AI and Machine Learning' ORDER BY 1")
    assert rows == [
        ("credit", "Amazon Bedrock", "AI and Machine Learning", "amazon", Decimal("-0.10"), None, None),
        ("tax", "Amazon Bedrock", "AI and Machine Learning", "aws", Decimal("0.35"), None, None),
        ("usage", "Amazon Simple Storage Service", "Storage", "aws", Decimal("0.2875"), None, None),
    ]
    ai = store.query("SELECT sum(billed_cost) FROM ledger WHERE service_category = 'AI and Machine Learning' "
                     "AND charge_category = 'usage'")[0][0]
    assert ai == Decimal("11.782675") - Decimal("0.2875") - Decimal("0.35") + Decimal("0.10")


def test_lineage_and_attribution_columns(store, settings):
    import_file(store, settings, CUR2)
    row = store.query(
        "SELECT provider, billing_currency, billing_period, period_start, period_end, account_id, project, "
        "api_key_id, tags, cost_source, service_tier, source_type FROM ledger "
        "WHERE sku = 'USE1-NovaLite-output-tokens'")[0]
    assert row[:3] == ("aws", "USD", "2026-01")
    assert (str(row[3]), str(row[4])) == ("2026-01-05 00:00:00", "2026-01-06 00:00:00")
    assert row[5:8] == ("444455556666", "ml-prod", "arn:aws:iam::444455556666:role/SearchRankerRole")
    assert json.loads(row[8]) == {"user_environment": "prod", "user_team": "search"}
    assert row[9:] == ("billed", "standard", "aws-cur")
    assert store.query("SELECT count(*) FROM ledger WHERE tags IS NULL")[0][0] == 2  # tax and credit carry {}


# --- legacy CUR: the real sample --------------------------------------------------------------------


def test_legacy_sample_total_matches_index_to_the_last_digit(workdir):
    assert csv_total(LEGACY, "lineItem/UnblendedCost") == LEGACY_TOTAL
    imported = run_cli("import", str(LEGACY), cwd=workdir)  # no --format: detected
    assert imported.returncode == 0, imported.stderr
    assert "1,281 rows as aws-cur" in imported.stderr
    assert [(r["provider"], Decimal(r["cost_usd"])) for r in report(workdir, "provider")] == [("aws", LEGACY_TOTAL)]
    by_charge = {r["charge_category"]: Decimal(r["cost_usd"]) for r in report(workdir, "charge_category")}
    assert by_charge == {"usage": Decimal("1.6023086974"), "tax": Decimal("0.08")}


def test_legacy_sample_rows_are_categorised_and_never_ai(store, settings):
    import_file(store, settings, LEGACY)
    assert store.query("SELECT count(*), count(DISTINCT billing_period), min(billing_period) FROM ledger")[0] == (
        1281, 1, "2023-11")
    assert store.query("SELECT count(*) FROM ledger WHERE charge_category = 'tax'")[0][0] == 12
    assert store.query("SELECT count(*) FROM ledger WHERE service_category = 'AI and Machine Learning' "
                       "OR input_tokens IS NOT NULL OR model IS NOT NULL")[0][0] == 0
    by_category = dict(store.query("SELECT service_category, count(*) FROM ledger GROUP BY 1"))
    codes = [r["lineItem/ProductCode"] for r in read_rows(LEGACY)[1]]
    assert by_category["Storage"] == codes.count("AmazonS3") + codes.count("AmazonEFS") == 814
    assert store.query("SELECT DISTINCT account_id FROM ledger") == [("123412340534",)]


def test_legacy_resource_tag_columns_become_tags(store, settings, workdir):
    header, rows = read_rows(LEGACY)
    header = [*header, "resourceTags/user:Environment", "resourceTags/aws:createdBy"]
    for i, row in enumerate(rows):
        row["resourceTags/user:Environment"] = "prod" if i % 2 else ""
        row["resourceTags/aws:createdBy"] = "IAMUser:alice" if i == 1 else ""
    import_file(store, settings, write_rows(workdir / "tagged.csv", header, rows))
    tags = [json.loads(t) if t else None for (t,) in store.query("SELECT tags FROM ledger ORDER BY row_id")]
    assert tags.count(None) == 641
    assert {"user:Environment": "prod", "aws:createdBy": "IAMUser:alice"} in tags
    assert ledger_total(store) == LEGACY_TOTAL


# --- containers and detection -----------------------------------------------------------------------


def _typed_parquet(src: Path, dst: Path) -> Path:
    """CUR 2.0 as Data Exports writes Parquet: timestamps, doubles, product/resource_tags as maps."""
    doubles = ["line_item_unblended_cost", "line_item_net_unblended_cost", "line_item_usage_amount",
               "pricing_public_on_demand_cost"]
    stamps = ["bill_billing_period_start_date", "bill_billing_period_end_date", "line_item_usage_start_date",
              "line_item_usage_end_date"]
    replace = [f"try_cast(nullif({c}, '') AS DOUBLE) AS {c}" for c in doubles]
    replace += [f"CAST(CAST({c} AS TIMESTAMPTZ) AS TIMESTAMP) AS {c}" for c in stamps]
    replace += [f"CAST(CAST({c} AS JSON) AS MAP(VARCHAR, VARCHAR)) AS {c}" for c in ("product", "resource_tags")]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"COPY (SELECT * REPLACE ({', '.join(replace)}) FROM read_csv('{src}', all_varchar = true)) "
                f"TO '{dst}' (FORMAT parquet)")
    return dst


def _gzip(src: Path, dst: Path) -> Path:
    duckdb.connect().execute(f"COPY (SELECT * FROM read_csv('{src}', all_varchar = true)) TO '{dst}' (HEADER)")
    return dst


LEDGER_VIEW = ("SELECT period_start, billing_period, publisher, model, sku, charge_category, input_tokens, "
               "output_tokens, cache_read_tokens, cache_write_tokens, billed_cost, tags FROM ledger "
               "WHERE source = ? ORDER BY sku, charge_category, billed_cost")


def _normalised(rows: list[tuple]) -> list[tuple]:
    return [(*r[:-1], json.loads(r[-1]) if r[-1] else None) for r in rows]


def test_gzip_and_typed_parquet_give_the_same_ledger_as_csv(store, settings, workdir):
    gz = _gzip(CUR2, workdir / "cur2.csv.gz")
    pq = _typed_parquet(CUR2, workdir / "cur2.parquet")
    for path in (CUR2, gz, pq):
        result = import_file(store, settings, path, source=path.name)  # no fmt: detected
        assert result.format == "aws-cur"
    want = _normalised(store.query(LEDGER_VIEW, [CUR2.name]))
    assert len(want) == 19
    assert _normalised(store.query(LEDGER_VIEW, [gz.name])) == want
    assert _normalised(store.query(LEDGER_VIEW, [pq.name])) == want


def test_legacy_gzip_is_detected_and_exact(store, settings, workdir):
    result = import_file(store, settings, _gzip(LEGACY, workdir / "legacy.csv.gz"))
    assert (result.format, result.rows_loaded) == ("aws-cur", 1281)
    assert ledger_total(store) == LEGACY_TOTAL


def test_a_file_without_the_cur_columns_is_not_taken_for_one(store, settings, workdir):
    header, rows = read_rows(CUR2)
    header.remove("line_item_unblended_cost")
    for r in rows:
        del r["line_item_unblended_cost"]
    path = write_rows(workdir / "not-cur.csv", header, rows)
    with pytest.raises(FormatDetectionError):
        import_file(store, settings, path)
    with pytest.raises(FormatDetectionError, match="does not look like a aws-cur file"):
        import_file(store, settings, path, fmt="aws-cur")


# --- manifests --------------------------------------------------------------------------------------


def _data_exports_delivery(root: Path, rows_split: int = 10, period: str = "2026-01") -> Path:
    """A Data Exports layout: <export>/data/BILLING_PERIOD=.../*.csv.gz and metadata/.../*-Manifest.json."""
    header, rows = read_rows(CUR2)
    data = root / "acme-export" / "data" / f"BILLING_PERIOD={period}"
    write_rows(data / "acme-export-00001.csv.gz", header, rows[:rows_split])
    write_rows(data / "acme-export-00002.csv.gz", header, rows[rows_split:])
    manifest = root / "acme-export" / "metadata" / f"BILLING_PERIOD={period}" / "acme-export-Manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({
        "executionId": "6f0c2a4e-1b9d-4c55-9a51-0d7f3e2b8c11",
        "exportArn": "arn:aws:bcm-data-exports:us-east-1:111122223333:export/acme-export-1a2b3c4d",
        "exportName": "acme-export",
        "billingPeriod": {"start": f"{period}-01T00:00:00.000Z", "end": "2026-02-01T00:00:00.000Z"},
        "dataFiles": [f"s3://acme-billing/cur/acme-export/data/BILLING_PERIOD={period}/acme-export-0000{i}.csv.gz"
                      for i in (1, 2)],
    }, indent=2))
    return manifest


def test_a_data_exports_manifest_reads_every_listed_file(store, settings, workdir):
    manifest = _data_exports_delivery(workdir / "s3")
    result = import_file(store, settings, manifest)
    assert (result.format, result.rows_loaded) == ("aws-cur", 19)
    assert ledger_total(store) == Decimal("11.782675")
    again = import_file(store, settings, manifest)  # the same manifest again replaces, never adds
    assert again.replaced_rows == 19 and ledger_total(store) == Decimal("11.782675")


def test_a_legacy_manifest_finds_its_report_keys(store, settings, workdir):
    header, rows = read_rows(LEGACY)
    folder = workdir / "cur" / "acme" / "20231101-20231201"
    keys = []
    for i, chunk in enumerate((rows[:600], rows[600:]), start=1):
        key = f"cur/acme/20231101-20231201/0f9e8d7c-assembly/acme-0000{i}.csv.gz"
        write_rows(workdir / key, header, chunk)
        keys.append(key)
    manifest = folder / "acme-Manifest.json"
    manifest.write_text(json.dumps({
        "assemblyId": "0f9e8d7c-assembly", "bucket": "acme-billing", "reportName": "acme",
        "billingPeriod": {"start": "20231101T000000.000Z", "end": "20231201T000000.000Z"},
        "compression": "GZIP", "contentType": "text/csv", "reportKeys": keys,
    }))
    result = import_file(store, settings, manifest)
    assert (result.format, result.rows_loaded) == ("aws-cur", 1281)
    assert ledger_total(store) == LEGACY_TOTAL


def test_a_manifest_with_a_missing_file_is_a_clear_error(store, settings, workdir):
    manifest = _data_exports_delivery(workdir / "s3")
    (manifest.parents[2] / "data" / "BILLING_PERIOD=2026-01" / "acme-export-00002.csv.gz").unlink()
    with pytest.raises(ImportError_) as info:
        import_file(store, settings, manifest)
    text = str(info.value)
    assert "acme-export-00002.csv.gz" in text and "nothing was imported" in text and "Manifest.json" in text
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 0


def test_a_bad_row_in_a_manifest_delivery_names_its_data_file(store, settings, workdir):
    manifest = _data_exports_delivery(workdir / "s3")
    part = manifest.parents[2] / "data" / "BILLING_PERIOD=2026-01" / "acme-export-00002.csv.gz"
    header, rows = read_rows(part)
    rows[2]["line_item_unblended_cost"] = "1,50"
    write_rows(part, header, rows)
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, manifest)
    err = info.value.errors[0]
    # Lines count the delivery's records in manifest order (10 in the first file, then the third here).
    assert (err.line, err.column, err.reason, err.value) == (
        14, "line_item_unblended_cost (in acme-export-00002.csv.gz)", "not a decimal number", "1,50")


# --- restatement ------------------------------------------------------------------------------------


def test_a_restated_delivery_replaces_the_earlier_one_of_its_month(store, settings, workdir):
    header, rows = read_rows(CUR2)
    early = [dict(r) for r in rows[:10]]
    early[0]["line_item_unblended_cost"] = "5"  # the first delivery's estimate, later restated
    d1 = write_rows(workdir / "delivery-1" / "cur2-2026-01.csv", header, early)
    d2 = CUR2
    feb = [{k: v.replace("2026-02-01T", "2026-03-01T").replace("2026-01-", "2026-02-")
            if k.endswith(("_date", "interval")) else v for k, v in r.items()} for r in rows[:4]]
    d_feb = write_rows(workdir / "cur2-2026-02.csv", header, feb)

    import_file(store, settings, d1)
    assert ledger_total(store) == csv_total(d1, "line_item_unblended_cost")
    second = import_file(store, settings, d2)
    assert second.replaced_rows == 10
    assert ledger_total(store) == Decimal("11.782675")  # delivery 2 alone, never the sum
    import_file(store, settings, d_feb)
    by_month = dict(store.query("SELECT billing_period, sum(billed_cost) FROM ledger GROUP BY 1"))
    assert by_month == {"2026-01": Decimal("11.782675"), "2026-02": csv_total(d_feb, "line_item_unblended_cost")}
    live = store.query("SELECT count(*) FROM imports WHERE replaced_by IS NULL")[0][0]
    assert live == 2


# --- bad rows ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "line", "column", "value", "reason"),
    [
        (CUR2, 5, "line_item_unblended_cost", "twelve", "not a decimal number"),
        (CUR2, 12, "line_item_usage_start_date", "2026-13-45T00:00:00Z", "not a date/time"),
        (CUR2, 3, "resource_tags", "{not json", "not a JSON object"),
        (LEGACY, 734, "lineItem/UnblendedCost", "n/a", "not a decimal number"),
        (LEGACY, 1000, "lineItem/UsageEndDate", "", "required value is missing"),
    ],
)
def test_a_corrupted_row_is_reported_with_its_line(store, settings, workdir, path, line, column, value, reason):
    header, rows = read_rows(path)
    rows[line - 2][column] = value
    bad = write_rows(workdir / "bad.csv", header, rows)
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, bad)
    err = info.value
    assert err.total == 1
    assert (err.errors[0].line, err.errors[0].column, err.errors[0].reason) == (line, column, reason)
    assert f"bad.csv:{line} column {column}: {reason}" in str(err)
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 0


# --- Bedrock billing names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "product_name", "usage_type", "publisher", "model_raw", "tier", "priced"),
    [
        ("AmazonBedrock", "Amazon Bedrock", "USE1-Claude3Haiku-input-tokens", "anthropic",
         "anthropic.claude-3-haiku-20240307-v1:0", "standard", True),
        ("AmazonBedrockFoundationModels", "Amazon Bedrock",
         "USE1-Claude4Sonnet-cache-read-input-token-count-cross-region-global", "anthropic",
         "global.anthropic.claude-sonnet-4-20250514-v1:0", "standard", True),
        ("AmazonBedrockFoundationModels", "Amazon Bedrock", "USE1-Claude4.6Opus-input-tokens-batch", "anthropic",
         "anthropic.claude-opus-4-6", "batch", True),
        ("AmazonBedrock", "Amazon Bedrock", "USE1-Nova2.0Lite-input-tokens-flex", "amazon",
         "amazon.nova-2-lite-v1:0", "flex", False),
        ("AmazonBedrock", "Amazon Bedrock", "USE1-openai.gpt-oss-120b-mantle-input-tokens-standard", "openai",
         "openai.gpt-oss-120b-1:0", "standard", True),
        ("AmazonBedrock", "Amazon Bedrock", "USW2-Llama3.1-70B-Instruct-output-tokens", "meta",
         "meta.llama3-1-70b-instruct-v1:0", "standard", True),
        ("AmazonBedrock", "Amazon Bedrock", "USE1-DeepSeekR1-output-tokens", "deepseek", "deepseek.r1-v1:0",
         "standard", True),
        ("AmazonBedrock", "Amazon Bedrock", "USE1-CohereCommandRPlus-input-tokens", "cohere",
         "CohereCommandRPlus", "standard", False),
        ("prodcode3a5sonnetv2xq", "Claude 3.5 Sonnet v2 (Amazon Bedrock Edition)",
         "USW2-MP:USW2_InputTokenCount-Units", "anthropic", "anthropic.claude-3-5-sonnet-20241022-v2:0",
         "standard", True),
        ("prodcodeopus41zzzzzzz", "Claude Opus 4.1 (Amazon Bedrock Edition)",
         "USE1-MP:USE1_output_tokens_standard-Units", "anthropic", "anthropic.claude-opus-4-1-20250805-v1:0",
         "standard", True),
        ("prodcodesonnet46zzzzz", "Claude 4.6 Sonnet (Amazon Bedrock Edition)",
         "USE1-MP:USE1_InputTokenCount_Global-Units", "anthropic", "global.anthropic.claude-sonnet-4-6",
         "standard", True),
    ],
)
def test_bedrock_usage_types_map_to_models_the_price_book_knows(
    store, settings, workdir, code, product_name, usage_type, publisher, model_raw, tier, priced
):
    header, rows = read_rows(CUR2)
    row = dict(rows[0])
    row.update(line_item_product_code=code, line_item_usage_type=usage_type,
               bill_billing_entity="AWS Marketplace" if "MP:" in usage_type else "AWS",
               product=json.dumps({"product_name": product_name, "region": "us-east-1"}))
    import_file(store, settings, write_rows(workdir / "one.csv", header, [row]))
    got = store.query("SELECT provider, publisher, model_raw, service_tier, service_category, pricing_status, "
                      "coalesce(input_tokens, output_tokens) FROM ledger")
    status = "priced" if priced else "unpriced"  # unknown to the book: flagged, never $0
    assert got == [("aws", publisher, model_raw, tier, "AI and Machine Learning", status, 1_520_500)]
    if priced:
        assert PriceBook().resolve("aws", publisher, model_raw) is not None


def test_model_table_keys_are_normalised_and_resolve():
    book = PriceBook()
    table = model_table()
    assert all(model_key(k) == k for k in table)
    unresolved = sorted({m for _, m in table.values() if book.resolve("aws", "x", m) is None})
    # Models genai-prices does not list under aws (they stay 'unpriced', never $0).
    assert unresolved == ["amazon.nova-2-lite-v1:0", "meta.llama3-1-405b-instruct-v1:0"]
