"""Google Cloud Billing export rows (CSV, JSON lines, Parquet): credits, labels, Gemini SKUs, lines.

No real GCP billing export is public; the fixture follows shared/reference/vendors.md §4.2/§4.3:
the standard usage cost schema, Vertex AI and Gemini API SKU descriptions, invented values.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aispend.errors import ValidationError
from aispend.ingest import import_file
from aispend.ingest.detect import detect
from aispend.ingest.native import gcp
from aispend.pricing import PriceBook

from .stores import LEDGER_COLUMNS_SQL

FIXTURES = Path(__file__).parent / "fixtures" / "gcp"
JSONL = FIXTURES / "billing_export.jsonl"
CSV = FIXTURES / "billing_export.csv"

# BigQuery's types for the standard export's columns (FLOAT64 -> double, TIMESTAMP -> UTC).
KV = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))
PARQUET_SCHEMA = pa.schema([
    ("billing_account_id", pa.string()),
    ("service", pa.struct([("id", pa.string()), ("description", pa.string())])),
    ("sku", pa.struct([("id", pa.string()), ("description", pa.string())])),
    ("usage_start_time", pa.timestamp("us", tz="UTC")),
    ("usage_end_time", pa.timestamp("us", tz="UTC")),
    ("project", pa.struct([("id", pa.string()), ("number", pa.string()), ("name", pa.string()), ("labels", KV),
                           ("ancestry_numbers", pa.string())])),
    ("labels", KV),
    ("system_labels", KV),
    ("location", pa.struct([("location", pa.string()), ("country", pa.string()), ("region", pa.string()),
                            ("zone", pa.string())])),
    ("export_time", pa.timestamp("us", tz="UTC")),
    ("cost", pa.float64()),
    ("currency", pa.string()),
    ("currency_conversion_rate", pa.float64()),
    ("usage", pa.struct([("amount", pa.float64()), ("unit", pa.string()), ("amount_in_pricing_units", pa.float64()),
                         ("pricing_unit", pa.string())])),
    ("credits", pa.list_(pa.struct([("name", pa.string()), ("amount", pa.float64()), ("full_name", pa.string()),
                                    ("id", pa.string()), ("type", pa.string())]))),
    ("invoice", pa.struct([("month", pa.string()), ("publisher_type", pa.string())])),
    ("cost_type", pa.string()),
])


def records() -> list[dict]:
    with JSONL.open() as fh:
        return [json.loads(line, parse_float=Decimal) for line in fh]


def write_parquet(dst: Path) -> Path:
    def ts(v: str) -> datetime:
        return datetime.strptime(v, "%Y-%m-%d %H:%M:%S.%f UTC" if "." in v else "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)

    rows = []
    for line in JSONL.read_text().splitlines():
        r = json.loads(line)
        for k in ("usage_start_time", "usage_end_time", "export_time"):
            r[k] = ts(r[k])
        rows.append({k: r[k] for k in PARQUET_SCHEMA.names})
    pq.write_table(pa.Table.from_pylist(rows, schema=PARQUET_SCHEMA), dst)
    return dst


def write_jsonl(dst: Path, change) -> Path:
    lines = []
    for i, line in enumerate(JSONL.read_text().splitlines()):
        r = json.loads(line)
        change(i, r)
        lines.append(json.dumps(r))
    dst.write_text("\n".join(lines) + "\n")
    return dst


@pytest.fixture
def files(workdir) -> dict[str, Path]:
    return {"csv": CSV, "jsonl": JSONL, "parquet": write_parquet(workdir / "billing_export.parquet")}


def oracle() -> tuple[Decimal, Decimal, Decimal]:
    """Gross cost, credits and net, from the JSON with Decimal: nothing of aispend."""
    gross = sum(r["cost"] for r in records())
    credits = sum(c["amount"] for r in records() for c in r["credits"])
    return gross, credits, gross + credits


# --- money ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_credits_are_netted_once_and_totals_are_exact(store, settings, files, kind):
    gross, credits, net = oracle()
    assert (gross, credits, net) == (Decimal("5.6175646"), Decimal("-1.012644"), Decimal("4.6049206"))
    result = import_file(store, settings, files[kind])
    assert (result.format, result.rows_loaded) == ("gcp", 11)
    total = store.query("SELECT sum(billed_cost), sum(cost_usd), min(billing_currency), max(billing_currency) FROM ledger")[0]
    assert total == (net, net, "USD", "USD")
    assert total[0] != gross  # credits not netted
    assert total[0] != gross + 2 * credits  # credits netted twice
    by_sku = dict(store.query("SELECT description, billed_cost FROM ledger"))
    assert by_sku["Gemini 2.5 Flash GA Text Output - Predictions"] == Decimal("1.1419725") - Decimal("0.5")
    # Two credits (free tier and a promotion) cover the whole cost.
    assert by_sku["Generate content input token count gemini 2.5 flash lite"] == 0
    assert by_sku["N2 Instance Core running in Americas"] == Decimal("0.050578")
    # The credit detail and the gross cost stay with the row, as text.
    tags = json.loads(store.query("SELECT tags FROM ledger WHERE description LIKE 'N2 Instance%'")[0][0])
    assert json.loads(tags["gcp.credits"])[0]["type"] == "SUSTAINED_USAGE_DISCOUNT"
    assert Decimal(tags["gcp.gross_cost"]) == Decimal("0.063222")
    assert store.query("SELECT count(*) FROM ledger WHERE tags LIKE '%gcp.credits%'")[0][0] == 3
    assert store.query("SELECT DISTINCT charge_category, cost_source, provider FROM ledger") == [("usage", "billed", "gcp")]


def test_csv_jsonl_and_parquet_give_the_same_rows(store, settings, files):
    for kind, path in files.items():
        import_file(store, settings, path, source=kind)
    skip = {"row_id", "source", "batch_id", "ingested_at"}
    cols = ", ".join(c for c in (r[0] for r in store.query(LEDGER_COLUMNS_SQL)) if c not in skip)
    got = {kind: store.query(f"SELECT {cols} FROM ledger WHERE source = ? ORDER BY period_start, description", [kind])
           for kind in files}
    assert got["csv"] == got["jsonl"] == got["parquet"]
    assert len(got["csv"]) == 11


# --- attribution ----------------------------------------------------------------------------------


def test_labels_become_tags_and_project_id_the_project(store, settings):
    import_file(store, settings, JSONL)
    row = store.query("SELECT project, account_id, region, tags FROM ledger WHERE description = "
                      "'Gemini 2.5 Flash GA Text Input - Predictions'")[0]
    assert row[:3] == ("acme-ml-prod", "01D0BC-3978F2-824033", "us-central1")
    # Resource labels win over the project's labels of the same key.
    assert json.loads(row[3]) == {"cost-center": "cc-42", "team": "search", "feature": "answers"}
    api = json.loads(store.query("SELECT tags FROM ledger WHERE description LIKE 'Generate content input%'")[0][0])
    assert api["goog-generativelanguage-model"] == "gemini25flashlite"
    assert store.query("SELECT region FROM ledger WHERE description LIKE 'Generate content input%'")[0][0] == "global"


# --- models and tokens ----------------------------------------------------------------------------

# description -> (model, input, output, cache_read, reasoning, service_tier, pricing_status)
EXPECTED = {
    "Gemini 2.5 Flash GA Text Input - Predictions": ("gemini-2.5-flash", 1234567, None, None, None, "standard", "priced"),
    "Gemini 2.5 Flash GA Text Output - Predictions": ("gemini-2.5-flash", None, 456789, None, None, "standard", "priced"),
    "Gemini 2.5 Flash GA Input Text Caching": ("gemini-2.5-flash", 800000, None, 800000, None, "standard", "priced"),
    "Gemini 2.5 Flash GA Thinking Text Output - Predictions": ("gemini-2.5-flash", None, 200000, None, 200000, "standard", "priced"),
    "Gemini 2.5 Flash Batch Text Input - Predictions": ("gemini-2.5-flash", 2000000, None, None, None, "batch", "priced"),
    "Gemini 1.0 Pro Text Input Characters": ("gemini-pro", None, None, None, None, "standard", "none"),
    "Gemini 3.7 Flash Global Text Input - Predictions": ("gemini-3.7-flash", 300000, None, None, None, "standard", "priced"),
    "Generate content input token count gemini 2.5 flash lite": ("gemini-2.5-flash-lite", 5000000, None, None, None, "standard", "priced"),
    "Generate content cached input token count gemini 2.5 flash input image": ("gemini-2.5-flash", 100000, None, 100000, None, "standard", "priced"),
    "Cached content storage token hours": (None, None, None, None, None, None, "none"),
    "N2 Instance Core running in Americas": (None, None, None, None, None, None, "none"),
}


def test_models_and_token_types(store, settings):
    import_file(store, settings, JSONL)
    got = store.query("SELECT description, model, input_tokens, output_tokens, cache_read_tokens, reasoning_tokens, "
                      "service_tier, pricing_status FROM ledger")
    assert {r[0]: tuple(r[1:]) for r in got} == EXPECTED
    # Cached input is counted once, inside input; thinking tokens once, inside output.
    sums = store.query("SELECT sum(input_tokens), sum(cache_read_tokens), sum(output_tokens), sum(reasoning_tokens) FROM ledger")[0]
    assert sums == (1234567 + 800000 + 2000000 + 300000 + 5000000 + 100000, 900000, 456789 + 200000, 200000)
    cats = dict(store.query("SELECT service, list(DISTINCT service_category) FROM ledger GROUP BY 1"))
    assert cats == {"Vertex AI": ["AI and Machine Learning"], "Gemini API": ["AI and Machine Learning"], "Compute Engine": ["Compute"]}
    assert store.query("SELECT DISTINCT publisher FROM ledger WHERE model IS NOT NULL") == [("gcp",)]


def test_character_billed_skus_keep_characters_out_of_the_token_columns(store, settings):
    import_file(store, settings, JSONL)
    row = store.query("SELECT quantity, unit, input_tokens, output_tokens, billed_cost, list_cost_usd, pricing_status "
                      "FROM ledger WHERE description = 'Gemini 1.0 Pro Text Input Characters'")[0]
    assert row == (Decimal(1000000), "characters", None, None, Decimal("0.125"), None, "none")


def test_token_counts_come_from_usage_amount_not_pricing_units(store, settings, workdir):
    # usage.amount_in_pricing_units is per 1M here; read as tokens it would shrink a millionfold.
    import_file(store, settings, JSONL)
    assert store.query("SELECT input_tokens FROM ledger WHERE description LIKE 'Gemini 2.5 Flash GA Text Input%'")[0][0] == 1234567
    # Without usage.amount, the pricing units times their block give the same count.
    def drop_amount(_i, r):
        r["usage"]["amount"] = None

    import_file(store, settings, write_jsonl(workdir / "no_amount.jsonl", drop_amount), source="no-amount")
    got = store.query("SELECT sum(input_tokens), sum(output_tokens) FROM ledger WHERE source = 'no-amount'")[0]
    assert got == (1234567 + 800000 + 2000000 + 300000 + 5000000 + 100000, 456789 + 200000)


@pytest.mark.parametrize(
    ("sku", "unit", "model", "token_type", "canonical", "tier"),
    [
        ("Gemini 2.5 Flash GA Text Input - Predictions", "count", "gemini-2.5-flash", "input", "gemini-2.5-flash", "standard"),
        ("Gemini 2.5 Flash GA Text Output - Predictions", "requests", "gemini-2.5-flash", "output", "gemini-2.5-flash", "standard"),
        ("Gemini 2.5 Flash GA Thinking Text Output - Predictions", "count", "gemini-2.5-flash", "reasoning", "gemini-2.5-flash", "standard"),
        ("Gemini 2.5 Flash GA Input Text Caching", "count", "gemini-2.5-flash", "cached_input", "gemini-2.5-flash", "standard"),
        ("Gemini 3 Flash Text Input Caching Storage", "token-hour", "gemini-3-flash", None, None, "standard"),
        ("Gemini 3.7 Flash Global Text Input - Predictions", "count", "gemini-3.7-flash", "input", "gemini-3.7-flash", "standard"),
        ("Generate content input token count gemini 2.5 flash lite", "count", "gemini-2.5-flash-lite", "input", "gemini-2.5-flash-lite", "standard"),
        ("Generate content output token count gemini 3.1 flash lite preview text", "count", "gemini-3.1-flash-lite-preview", "output",
         "gemini-3.1-flash-lite", "standard"),
        ("Generate content input token count Gemini 2.5 Pro short input text", "count", "gemini-2.5-pro", "input", "gemini-2.5-pro", "standard"),
        ("Generate content cached input token count gemini 2.5 flash input image", "count", "gemini-2.5-flash", "cached_input",
         "gemini-2.5-flash", "standard"),
        ("EmbedContent input token count for gemini-embedding-2 text", "count", "gemini-embedding-2", "input", "gemini-embedding-2", "standard"),
        ("Generate content input token count gemini 2.5 flash flex", "count", "gemini-2.5-flash", "input", "gemini-2.5-flash", "flex"),
        ("Cached content storage token hours", "hour", None, None, None, None),
        ("Grounding with Google Search", "count", None, None, None, None),
        ("Gemini 1.0 Pro Text Input Characters", "characters", "gemini-1.0-pro", None, "gemini-pro", "standard"),
    ],
)
def test_sku_descriptions(sku, unit, model, token_type, canonical, tier):
    parts = gcp.sku_sql("sku", "unit", "NULL")
    select = ", ".join(f"{expr} AS {alias}" for alias, expr in parts.items())
    got = duckdb.execute(f"SELECT k_model, k_token_type, k_tier, k_publisher FROM (SELECT {select} FROM "
                         "(SELECT ? AS sku, ? AS unit))", [sku, unit]).fetchone()
    assert got[:3] == (model, token_type, tier)
    if canonical:
        assert PriceBook().resolve("gcp", got[3], model)[1] == canonical


# --- detection and errors -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_each_container_is_detected_without_format(settings, files, kind):
    assert detect(files[kind], settings).kind == "gcp"


def test_underscore_flattened_csv_is_detected_and_read(store, settings, workdir):
    text = CSV.read_text().split("\n", 1)
    flat = workdir / "flat.csv"
    flat.write_text(text[0].replace(".", "_") + "\n" + text[1])
    assert detect(flat, settings).kind == "gcp"
    import_file(store, settings, flat)
    assert store.query("SELECT sum(billed_cost) FROM ledger")[0][0] == oracle()[2]


def test_a_malformed_jsonl_row_is_reported_with_its_line(store, settings, workdir):
    def bad(i, r):
        if i == 3:
            r["cost"] = "1,5"
        if i == 6:
            r["credits"] = [{"name": "x", "amount": "minus one", "type": "PROMOTION"}]

    with pytest.raises(ValidationError) as info:
        import_file(store, settings, write_jsonl(workdir / "bad.jsonl", bad))
    errors = [(e.line, e.column, e.reason) for e in info.value.errors]
    assert errors == [(4, "cost", "not a decimal number"),
                      (7, "credits", "not a JSON array of credits with numeric amounts")]
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 0


def test_a_malformed_csv_row_is_reported_with_its_line(store, settings, workdir):
    with CSV.open(newline="") as fh:
        rows = list(csv.reader(fh))
    rows[5][rows[0].index("usage_start_time")] = "yesterday"
    bad = workdir / "bad.csv"
    with bad.open("w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, bad)
    e = info.value.errors[0]
    assert (e.line, e.column, e.reason, e.value) == (6, "usage_start_time", "not a timestamp", "yesterday")


def test_a_later_export_of_the_same_hours_restates_them(store, settings, workdir):
    import_file(store, settings, JSONL)

    def late(_i, r):  # a corrected cost for one row arrives in the next export
        if r["sku"]["description"] == "Gemini 2.5 Flash GA Text Input - Predictions":
            r["cost"] = 0.4703701

    result = import_file(store, settings, write_jsonl(workdir / "export-2.jsonl", late))
    assert result.replaced_rows == 11
    assert store.query("SELECT count(*), sum(billed_cost) FROM ledger")[0] == (11, oracle()[2] + Decimal("0.1"))
