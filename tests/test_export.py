"""Exports against a real DuckDB ledger: the FOCUS sample plus hand-made AI rows.

Totals are checked with an independent oracle (the csv module or pyarrow, and Decimal), the FOCUS
export against our FOCUS 1.2 checks and by re-importing it, and every check rule on a file broken
on purpose, so a rule that stops firing fails a test.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from aispend.config import load_settings
from aispend.errors import ExportError
from aispend.export import Problem, build_where, check_focus_file, export
from aispend.export.focus import plain_decimal
from aispend.export.focus_check import MANDATORY_COLUMNS, RULES
from aispend.ingest import import_file
from aispend.pricing import PriceBook, Pricer
from aispend.schema import ARROW_SCHEMA, COLUMN_NAMES, MONEY_ARROW, TOKEN_COLUMNS
from aispend.store import Store, open_store

from .conftest import FOCUS_SAMPLE

SAMPLE_TOTALS = {
    "aws": Decimal("18.00663861840"), "azure": Decimal("1.97651418586"), "oracle": Decimal("0.53707392473"),
}
SAMPLE_ROWS = {"aws": 942, "azure": 51, "oracle": 7}
TINY = Decimal("1E-10")  # Arrow would write this as 1.00000000E-10

X_COLUMNS = ["x_Model", "x_ServiceTier", "x_Project", "x_ApiKeyId", "x_Environment", "x_Owner", "x_Feature",
             "x_Customer", "x_Experiment", "x_InputTokens", "x_OutputTokens", "x_CacheReadTokens",
             "x_CacheWriteTokens", "x_ReasoningTokens", "x_Requests", "x_CostSource", "x_PricingStatus"]
DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
ATTRIBUTION = ("project", "api_key_id", "environment", "owner", "feature", "customer", "experiment", "service_tier")


def ai_row(row_id: str, provider: str, model: str, *, billed: Decimal | None, currency: str | None,
           day: int = 5, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {c: None for c in COLUMN_NAMES}
    row.update(
        row_id=row_id, source="handmade", source_type="test", ingested_at=datetime(2024, 10, 1), batch_id="b-ai",
        period_start=datetime(2024, 9, day), period_end=datetime(2024, 9, day + 1), billing_period="2024-09",
        provider=provider, publisher=provider, model_raw=model, charge_category="usage", service_tier="standard",
        input_tokens=1_000, output_tokens=500, cache_read_tokens=200, cache_write_tokens=0, reasoning_tokens=100,
        requests=3, billed_cost=billed, billing_currency=currency,
        cost_source="billed" if billed is not None else "estimated",
        project="search", api_key_id="key_abc", environment="prod", owner="team-search", feature="autocomplete",
        customer="acme", experiment="arm-b",
    )
    row.update(extra)
    return row


# Hand-made AI rows: billed USD (one tiny), estimated (no bill: priced from the book), billed EUR.
AI_ROWS = [
    ai_row("ai-1", "openai", "gpt-4o", billed=Decimal("0.0125"), currency="USD",
           tags='{"team": "search", "tier": 1, "nested": {"a": [1]}}'),
    ai_row("ai-2", "openai", "gpt-4o-mini", billed=TINY, currency="USD", day=6, environment="staging"),
    ai_row("ai-3", "anthropic", "claude-3-5-sonnet-20241022", billed=None, currency=None, day=7),
    ai_row("ai-4", "mistral", "mistral-large-latest", billed=Decimal("0.42"), currency="EUR", day=8,
           service_tier="batch"),
]
AI_TOTALS = {"openai": Decimal("0.0125") + TINY, "anthropic": Decimal(0), "mistral": Decimal("0.42")}
ALL_TOTALS = {**SAMPLE_TOTALS, **AI_TOTALS}


def build_ledger(store: Store) -> None:
    settings = load_settings(None)
    import_file(store, settings, FOCUS_SAMPLE)
    priced = Pricer(PriceBook(settings.pricing)).price(pa.Table.from_pylist(AI_ROWS, schema=ARROW_SCHEMA))
    with store.transaction() as tx:
        tx.append("ledger", priced)


@dataclass
class Ledger:
    store: Store
    dir: Path


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory, make_ledger_url) -> Iterator[Ledger]:
    """One ledger for the read-only tests, built in a directory with no aispend.toml."""
    root = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("AISPEND_CONFIG", raising=False)
        mp.delenv("AISPEND_STORE_URL", raising=False)
        store = open_store(make_ledger_url(root, "ledger"))
        build_ledger(store)
        yield Ledger(store, root)
        store.close()


@pytest.fixture(scope="module")
def focus_csv(ledger: Ledger) -> Path:
    result = export(ledger.store, "focus", ledger.dir / "focus.csv")
    assert result.rows == 1000 + len(AI_ROWS)
    return result.path


def read_csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def write_csv_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, header, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def sums(rows: list[dict[str, str]], key: str, value: str) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[row[key]] += Decimal(row[value]) if row[value] else Decimal(0)
    return dict(totals)


def ledger_totals(store: Store) -> dict[str, tuple]:
    cols = ", ".join(f"sum({c})" for c in TOKEN_COLUMNS)
    return {
        provider: rest
        for provider, *rest in store.query(
            f"SELECT provider, count(*), coalesce(sum(billed_cost), 0), {cols}, sum(requests) FROM ledger GROUP BY 1"
        )
    }


# --- csv and parquet ----------------------------------------------------------------------------


def test_csv_export_sums_back_to_the_exact_totals(ledger: Ledger):
    result = export(ledger.store, "csv", ledger.dir / "ledger.csv")
    header, rows = read_csv_rows(result.path)
    assert header == list(COLUMN_NAMES)
    assert result.rows == len(rows) == 1000 + len(AI_ROWS)
    assert sums(rows, "provider", "billed_cost") == ALL_TOTALS
    money = [r[c] for r in rows for c in ("billed_cost", "cost_usd", "list_cost_usd", "quantity") if r[c]]
    assert money and not [m for m in money if "e" in m.lower()], "money must be plain decimal text"
    tiny = next(r for r in rows if r["row_id"] == "ai-2")
    assert tiny["billed_cost"] == "0.0000000001"
    assert next(r for r in rows if r["row_id"] == "ai-1")["billed_cost"] == "0.0125"  # trailing zeros trimmed


def test_parquet_export_keeps_decimal128_and_exact_totals(ledger: Ledger):
    result = export(ledger.store, "parquet", ledger.dir / "ledger.parquet")
    table = pq.read_table(result.path)
    assert table.schema.equals(ARROW_SCHEMA)
    assert table.schema.field("billed_cost").type == MONEY_ARROW
    grouped = table.group_by("provider").aggregate([("billed_cost", "sum")]).to_pylist()
    totals = {g["provider"]: g["billed_cost_sum"] or Decimal(0) for g in grouped}
    assert totals == ALL_TOTALS
    assert table.num_rows == result.rows == 1000 + len(AI_ROWS)


def test_exports_stream_batch_by_batch(ledger: Ledger):
    """Small batches give one Parquet row group per batch: the writer never holds all rows."""
    result = export(ledger.store, "parquet", ledger.dir / "batched.parquet", batch_rows=100)
    meta = pq.ParquetFile(result.path).metadata
    assert meta.num_rows == 1004
    assert meta.num_row_groups >= 10
    assert max(meta.row_group(i).num_rows for i in range(meta.num_row_groups)) <= 100


def test_plain_decimal_text_is_exact_and_never_scientific():
    con = duckdb.connect()
    values = ["0", "-0.5", "10", "100.250", "0.000000000000000001", "-12345678901234567890.123456789012345678"]
    got = [con.execute(f"SELECT {plain_decimal(repr(v) + '::DECIMAL(38, 18)')}").fetchone()[0] for v in values]
    assert got == ["0", "-0.5", "10", "100.25", "0.000000000000000001", "-12345678901234567890.123456789012345678"]
    assert [Decimal(g) for g in got] == [Decimal(v) for v in values]


# --- filters ------------------------------------------------------------------------------------


def test_provider_filter_selects_only_that_provider(ledger: Ledger):
    result = export(ledger.store, "csv", ledger.dir / "aws.csv", filters={"provider": "aws"})
    _, rows = read_csv_rows(result.path)
    assert {r["provider"] for r in rows} == {"aws"}
    assert result.rows == SAMPLE_ROWS["aws"]
    assert sums(rows, "provider", "billed_cost") == {"aws": SAMPLE_TOTALS["aws"]}
    # A provider's display name is canonicalised like the importers do.
    again = export(ledger.store, "csv", ledger.dir / "aws2.csv", filters={"provider": "Amazon Web Services"})
    assert again.rows == SAMPLE_ROWS["aws"]


def test_start_end_window_is_inclusive_exclusive_on_period_start(ledger: Ledger):
    start, end = datetime(2024, 9, 5), datetime(2024, 9, 7)
    expected = ledger.store.query("SELECT count(*) FROM ledger WHERE period_start >= ? AND period_start < ?",
                                  [start, end])[0][0]
    result = export(ledger.store, "csv", ledger.dir / "window.csv", start=start, end=end)
    _, rows = read_csv_rows(result.path)
    assert 0 < result.rows == expected < 1004
    starts = {r["period_start"] for r in rows}
    assert min(starts) >= "2024-09-05T00:00:00Z" and max(starts) < "2024-09-07T00:00:00Z"
    assert {r["row_id"] for r in rows} >= {"ai-1", "ai-2"}  # 5th and 6th in; the 7th (ai-3) out
    assert "ai-3" not in {r["row_id"] for r in rows}
    # An aware datetime is converted to UTC first: 02:00+02:00 is midnight UTC.
    aware = export(ledger.store, "csv", ledger.dir / "aware.csv",
                   start=datetime(2024, 9, 5, 2, tzinfo=timezone(timedelta(hours=2))), end=end.replace(tzinfo=UTC))
    assert aware.rows == expected


def test_filters_combine_with_a_where_fragment_and_feed_focus(ledger: Ledger):
    result = export(ledger.store, "focus", ledger.dir / "openai.csv", "environment = ?", ["prod"],
                    filters={"provider": "openai"})
    _, rows = read_csv_rows(result.path)
    assert [r["x_Model"] for r in rows] == ["gpt-4o"]
    assert result.checks == RULES


def test_build_where_is_parameterised():
    sql, params = build_where({"provider": "aws", "owner": "x'; DROP TABLE ledger; --"}, datetime(2024, 9, 1))
    assert sql == "provider = ? AND owner = ? AND period_start >= ?"
    assert params == ["aws", "x'; DROP TABLE ledger; --", datetime(2024, 9, 1)]
    assert build_where() == ("TRUE", [])


@pytest.mark.parametrize("kwargs, message", [
    ({"filters": {"billed_cost": "1"}}, "cannot filter an export on 'billed_cost'"),
    ({"filters": {"nope": "1"}}, "cannot filter an export on 'nope'"),
    ({"start": datetime(2024, 9, 2), "end": datetime(2024, 9, 1)}, "export window is empty"),
])
def test_bad_filters_raise_export_error(ledger: Ledger, kwargs, message):
    with pytest.raises(ExportError, match=re.escape(message)):
        export(ledger.store, "csv", ledger.dir / "bad.csv", **kwargs)
    assert not (ledger.dir / "bad.csv").exists()


def test_bad_format_directory_and_sql_raise_export_error(ledger: Ledger, tmp_path: Path):
    with pytest.raises(ExportError, match="unknown export format 'xlsx'"):
        export(ledger.store, "xlsx", tmp_path / "x.xlsx")  # type: ignore[arg-type]
    with pytest.raises(ExportError, match="does not exist"):
        export(ledger.store, "csv", tmp_path / "missing" / "x.csv")
    with pytest.raises(ExportError, match="cannot export csv"):
        export(ledger.store, "csv", tmp_path / "x.csv", "no_such_column = 1")
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


# --- FOCUS --------------------------------------------------------------------------------------


def test_focus_export_passes_our_checks_and_has_every_column(focus_csv: Path):
    assert check_focus_file(focus_csv) == []
    header, rows = read_csv_rows(focus_csv)
    assert set(MANDATORY_COLUMNS) <= set(header)
    for conditional in ("ConsumedQuantity", "ConsumedUnit", "RegionId", "SkuId", "SubAccountId", "SubAccountName",
                        "Tags", "ServiceSubcategory", "ChargeFrequency"):
        assert conditional in header
    assert header[-len(X_COLUMNS):] == X_COLUMNS  # custom columns last, in this order
    assert not [h for h in header[: -len(X_COLUMNS)] if h.startswith("x_")]
    assert sums(rows, "ProviderName", "BilledCost") == ALL_TOTALS
    for row in rows:
        for col in ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd"):
            assert DATETIME_RE.fullmatch(row[col]), (col, row[col])
        assert row["PublisherName"] and row["InvoiceIssuerName"] == row["ProviderName"]
        for col in ("BilledCost", "EffectiveCost", "ContractedCost", "ListCost"):
            assert "e" not in row[col].lower()
    assert {r["ChargeCategory"] for r in rows} == {"Usage", "Credit", "Adjustment"}


def test_focus_rows_map_as_documented(focus_csv: Path):
    _, rows = read_csv_rows(focus_csv)
    by_model = {r["x_Model"]: r for r in rows if r["x_Model"]}
    assert set(by_model) == {"gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "mistral-large"}
    for r in by_model.values():
        assert (r["ServiceCategory"], r["ServiceSubcategory"]) == ("AI and Machine Learning", "Generative AI")
        assert r["ChargeFrequency"] == "Usage-Based"
        assert (r["x_InputTokens"], r["x_OutputTokens"], r["x_CacheReadTokens"]) == ("1000", "500", "200")
        assert (r["ConsumedQuantity"], r["ConsumedUnit"]) == ("1500", "Tokens")
        assert (r["BillingPeriodStart"], r["BillingPeriodEnd"]) == ("2024-09-01T00:00:00Z", "2024-10-01T00:00:00Z")
    gpt = by_model["gpt-4o"]
    assert json.loads(gpt["Tags"]) == {"team": "search", "tier": "1", "nested": '{"a":[1]}'}
    assert (gpt["x_Project"], gpt["x_Owner"], gpt["x_CostSource"], gpt["x_PricingStatus"]) == (
        "search", "team-search", "billed", "priced")
    assert Decimal(gpt["ListCost"]) == Decimal("0.00725")  # the price book's list cost (USD)
    assert Decimal(gpt["EffectiveCost"]) == Decimal(gpt["BilledCost"]) == Decimal("0.0125")
    # Estimated: nothing billed yet, the estimate is the effective cost, in USD.
    claude = by_model["claude-3-5-sonnet"]
    assert (claude["BilledCost"], claude["BillingCurrency"], claude["x_CostSource"]) == ("0", "USD", "estimated")
    assert Decimal(claude["EffectiveCost"]) == Decimal(claude["ContractedCost"]) == Decimal("0.00996")
    # Not billed in USD: list cost falls back to the billed cost, in the billing currency.
    mistral = by_model["mistral-large"]
    assert (mistral["BillingCurrency"], mistral["ListCost"], mistral["x_ServiceTier"]) == ("EUR", "0.42", "batch")
    # Sample rows keep their own category; the subcategory is that category's "Other (...)", AI
    # services without tokens or a model included.
    sample = [r for r in rows if not r["x_Model"]]
    assert {r["ServiceSubcategory"] for r in sample} == {f"Other ({r['ServiceCategory']})" for r in sample}
    assert {"Compute", "Storage", "Networking", "AI and Machine Learning"} <= {r["ServiceCategory"] for r in sample}


def test_focus_parquet_passes_checks_with_decimals_and_utc_timestamps(ledger: Ledger):
    result = export(ledger.store, "focus", ledger.dir / "focus.parquet")
    assert result.checks == RULES and check_focus_file(result.path) == []
    table = pq.read_table(result.path)
    assert table.schema.field("BilledCost").type == MONEY_ARROW
    assert table.schema.field("ChargePeriodStart").type == pa.timestamp("us", tz="UTC")
    assert pc.sum(table["BilledCost"]).as_py() == sum(ALL_TOTALS.values())


@pytest.mark.parametrize("name", ["focus-roundtrip.csv", "focus-roundtrip.parquet"])
def test_focus_export_round_trips_through_the_importer(ledger: Ledger, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch, name: str, ledger_url):
    monkeypatch.chdir(tmp_path)
    out = export(ledger.store, "focus", tmp_path / name).path
    with open_store(ledger_url("again")) as again:
        loaded = import_file(again, load_settings(None), out)
        assert (loaded.rows_loaded, loaded.rows_rejected) == (1004, 0)
        assert ledger_totals(again) == ledger_totals(ledger.store)
        money = "SELECT row_id IS NULL, cost_source, sum(cost_usd), count(*) FROM ledger GROUP BY ALL ORDER BY ALL"
        assert again.query(money) == ledger.store.query(money)  # estimates come back as estimates
        cols = ", ".join(("model", *ATTRIBUTION))
        query = f"SELECT {cols} FROM ledger WHERE model IS NOT NULL ORDER BY model"
        assert again.query(query) == ledger.store.query(query)
        tags = "SELECT tags FROM ledger WHERE provider = 'aws' AND tags IS NOT NULL ORDER BY tags"
        assert [json.loads(t) for (t,) in again.query(tags)] == [json.loads(t) for (t,) in ledger.store.query(tags)]


def test_a_bad_focus_export_raises_and_keeps_the_file_aside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger_url):
    monkeypatch.chdir(tmp_path)
    row = ai_row("no-provider", "openai", "gpt-4o", billed=Decimal(1), currency="USD")
    row["provider"] = row["publisher"] = None
    with open_store(ledger_url("bad")) as store, store.transaction() as tx:
        tx.append("ledger", pa.Table.from_pylist([row], schema=ARROW_SCHEMA))
    with open_store(ledger_url("bad")) as store, pytest.raises(ExportError) as err:
        export(store, "focus", tmp_path / "out.csv")
    message = str(err.value)
    assert "not_null: ProviderName" in message and "InvoiceIssuerName" in message and "PublisherName" in message
    assert "out.invalid.csv" in message
    assert not (tmp_path / "out.csv").exists() and (tmp_path / "out.invalid.csv").exists()


# --- every check rule fires on a file broken on purpose ------------------------------------------


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


def broken_copy(focus_csv: Path, tmp_path: Path, change) -> Path:
    header, rows = read_csv_rows(focus_csv)
    header = change(header, rows) or header
    return write_csv_rows(tmp_path / "broken.csv", header, rows)


def test_rule_missing_mandatory_column(focus_csv: Path, tmp_path: Path):
    path = broken_copy(focus_csv, tmp_path, lambda h, rows: [c for c in h if c != "BillingCurrency"])
    p = only(check_focus_file(path))
    assert (p.rule, p.column, p.rows) == ("mandatory_column", "BillingCurrency", 1004)


def test_rule_bad_date_format(focus_csv: Path, tmp_path: Path):
    def change(h, rows):
        rows[3]["ChargePeriodStart"] = "2024-09-18 22:00:00"
        rows[4]["BillingPeriodEnd"] = "2024-13-01T00:00:00Z"
    problems = check_focus_file(broken_copy(focus_csv, tmp_path, change))
    assert sorted((p.rule, p.column, p.rows, p.example) for p in problems) == [
        ("datetime", "BillingPeriodEnd", 1, "2024-13-01T00:00:00Z"),
        ("datetime", "ChargePeriodStart", 1, "2024-09-18 22:00:00"),
    ]


def test_rule_period_order(focus_csv: Path, tmp_path: Path):
    def change(h, rows):
        rows[0]["ChargePeriodEnd"] = rows[0]["ChargePeriodStart"]
    p = only(check_focus_file(broken_copy(focus_csv, tmp_path, change)))
    assert (p.rule, p.column, p.rows) == ("period_order", "ChargePeriodEnd", 1)


def test_rule_bad_charge_category(focus_csv: Path, tmp_path: Path):
    def change(h, rows):
        rows[0]["ChargeCategory"] = "usage"
        rows[1]["ChargeCategory"] = "Refund"
    p = only(check_focus_file(broken_copy(focus_csv, tmp_path, change)))
    assert (p.rule, p.column, p.rows) == ("allowed_values", "ChargeCategory", 2)
    assert p.example in {"usage", "Refund"}


def test_rule_null_in_a_non_null_column(focus_csv: Path, tmp_path: Path):
    def change(h, rows):
        rows[0]["BilledCost"] = ""
        rows[1]["BilledCost"] = "NULL"
    p = only(check_focus_file(broken_copy(focus_csv, tmp_path, change)))
    assert (p.rule, p.column, p.rows) == ("not_null", "BilledCost", 2)


def test_rule_bad_decimal(focus_csv: Path, tmp_path: Path):
    def change(h, rows):
        rows[0]["EffectiveCost"] = "1,000.00"
        rows[1]["EffectiveCost"] = "$3"
        rows[2]["EffectiveCost"] = "1.5E-7"  # mEn is allowed
    p = only(check_focus_file(broken_copy(focus_csv, tmp_path, change)))
    assert (p.rule, p.column, p.rows) == ("decimal", "EffectiveCost", 2)


def test_rule_bad_tags_json(focus_csv: Path, tmp_path: Path):
    def change(h, rows):
        rows[0]["Tags"] = '{"team": {"nested": 1}}'
        rows[1]["Tags"] = "team=search"
        rows[2]["Tags"] = '["a"]'
        rows[3]["Tags"] = '{"n": 1, "b": true, "z": null}'  # scalars are fine
    p = only(check_focus_file(broken_copy(focus_csv, tmp_path, change)))
    assert (p.rule, p.column, p.rows) == ("key_value", "Tags", 3)


def test_rule_custom_column_without_x_prefix(focus_csv: Path, tmp_path: Path):
    def change(h, rows):
        for row in rows:
            row["Team"] = "search"
        return [*h, "Team"]
    p = only(check_focus_file(broken_copy(focus_csv, tmp_path, change)))
    assert (p.rule, p.column, p.example) == ("custom_column_prefix", "Team", "Team")


def test_rule_custom_column_before_focus_columns(focus_csv: Path, tmp_path: Path):
    path = broken_copy(focus_csv, tmp_path, lambda h, rows: ["x_Model", *[c for c in h if c != "x_Model"]])
    p = only(check_focus_file(path))
    assert (p.rule, p.column) == ("custom_column_order", "x_Model")


def test_rule_currency_and_service_subcategory(focus_csv: Path, tmp_path: Path):
    def change(h, rows):
        rows[0]["BillingCurrency"] = "usd"
        rows[1]["ServiceSubcategory"] = "Generative AI"  # under a non-AI category
        rows[2]["ChargeFrequency"] = "Monthly"
    problems = check_focus_file(broken_copy(focus_csv, tmp_path, change))
    assert sorted((p.rule, p.column, p.rows) for p in problems) == [
        ("allowed_values", "ChargeFrequency", 1),
        ("allowed_values", "ServiceSubcategory", 1),
        ("currency", "BillingCurrency", 1),
    ]


def test_rule_unreadable_file(tmp_path: Path):
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("BilledCost,ChargeCategory\n1,Usage\n2,Usage,extra\n")
    p = only(check_focus_file(ragged))
    assert (p.rule, p.column) == ("readable", str(ragged))


def test_rules_apply_to_parquet_too(ledger: Ledger, tmp_path: Path):
    table = pq.read_table(export(ledger.store, "focus", tmp_path / "good.parquet").path)
    cost = table["BilledCost"].to_pylist()
    cost[0] = None
    table = table.set_column(table.schema.get_field_index("BilledCost"), "BilledCost", pa.array(cost, MONEY_ARROW))
    category = table["ChargeCategory"].to_pylist()
    category[1] = "usage"
    table = table.set_column(table.schema.get_field_index("ChargeCategory"), "ChargeCategory", pa.array(category))
    pq.write_table(table.drop_columns(["ServiceName"]), tmp_path / "bad.parquet")
    problems = check_focus_file(tmp_path / "bad.parquet")
    assert sorted((p.rule, p.column, p.rows) for p in problems) == [
        ("allowed_values", "ChargeCategory", 1),
        ("mandatory_column", "ServiceName", 1004),
        ("not_null", "BilledCost", 1),
    ]
