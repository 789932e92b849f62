"""The Spark job gives the DuckDB path's answers, row by row and in total, to the cent and below.

One local Spark session (``local[2]``) and one generated dataset for the module: a FOCUS export
(gen_focus: several providers and models, hourly over months, cached tokens, unknown models,
credits and taxes), a second FOCUS file with EUR bills, estimates under a discount, ISO offsets,
a fractional token count and JSON tags, and per-request events over the same pools. The DuckDB
side is the product's own path (``import_file``, ``import_events``, ``allocate_all``) into a
fresh store. Skipped without Java unless ``AISPEND_REQUIRE_SPARK=1``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from aispend.config import AllocationSettings, PricingConfig, Settings, StoreConfig
from aispend.events.schema import ROLLUP_KEYS, ROLLUP_MEASURES
from aispend.schema import COLUMN_NAMES

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("AISPEND_SAMPLES", ROOT.parent / "shared" / "samples"))
sys.path.insert(0, str(ROOT / "benchmarks"))

REQUIRE = os.environ.get("AISPEND_REQUIRE_SPARK") == "1"
# The reference is the DuckDB path, by name, and no configured store is read: the PostgreSQL run
# would repeat the module unchanged.
pytestmark = pytest.mark.duckdb_only
VOLATILE = {"ingested_at", "batch_id"}  # when and under which id each side loaded

EXTRA_FOCUS = """\
BilledCost,ChargePeriodStart,ChargePeriodEnd,BillingCurrency,ProviderName,ChargeCategory,x_Model,x_InputTokens,x_OutputTokens,x_CacheReadTokens,x_Requests,x_CostSource,Tags
12.345678901234567891,2025-08-01T10:00:00+02:00,2025-08-01T11:00:00+02:00,EUR,OpenAI,Usage,gpt-4o,1200000,80000,300000,400,,"{""team"": ""search"",  ""env"" : ""prod""}"
0.000000000000000001,2025-08-02T00:00:00Z,2025-08-03T00:00:00Z,eur,OpenAI,Usage,gpt-4o-mini,777,33,,3,,
-3.105,2025-08-02 00:00:00,2025-08-03 00:00:00,EUR,OpenAI,Credit,,,,,,,
0,2025-08-01 09:00:00,2025-08-01 10:00:00,USD,OpenAI,Usage,gpt-4o,1234.5,98765,1000,7,estimated,
0,2025-08-03 09:00:00,2025-08-03 10:00:00,USD,OpenAI,Usage,o3-mini,333333,111111,,1,estimated,
0,2025-08-03 09:00:00,2025-08-03 10:00:00,USD,Anthropic,Usage,claude-sonnet-4-5,987654,12345,500000,50,estimated,
"""


def _settings(db: Path) -> Settings:
    return Settings(
        store=StoreConfig(url=str(db)),
        allocation=AllocationSettings(enabled=True),
        pricing=PricingConfig(discounts={"openai": Decimal("12.5")}, fx={"EUR": Decimal("1.0876543210987654")}),
    )


@pytest.fixture(scope="module")
def spark():
    from aispend.spark.session import java_available, spark_session

    reason = java_available()
    if reason:
        if REQUIRE:
            pytest.fail(f"AISPEND_REQUIRE_SPARK=1 but Spark cannot start: {reason}")
        pytest.skip(f"Spark tests need PySpark and Java: {reason}")
    session = spark_session("local[2]", app_name="aispend-tests", conf={"spark.sql.shuffle.partitions": "4"})
    yield session
    session.stop()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    import bench_spark

    d = tmp_path_factory.mktemp("spark-data")
    focus = bench_spark.write_exports(d / "focus.csv", 4000)
    extra = d / "extra.csv"
    extra.write_text(EXTRA_FOCUS)
    events = bench_spark.write_events(d / "events.jsonl", 15000)
    return {"dir": d, "exports": [str(focus), str(extra)], "events": [str(events)]}


@pytest.fixture(scope="module")
def duck(data):
    from aispend.attribution.allocate import allocate_all
    from aispend.events import import_events
    from aispend.ingest.runner import import_file
    from aispend.store import open_store

    db = data["dir"] / "duck.duckdb"
    settings = _settings(db)
    with open_store(str(db)) as store:
        for path in data["exports"]:
            import_file(store, settings, path)
        for path in data["events"]:
            import_events(store, settings, path)
        result = allocate_all(store, settings)
        q = store.query
        out = {
            "ledger": q(f"SELECT {', '.join(COLUMN_NAMES)} FROM ledger WHERE cost_source <> 'allocated'"),
            "allocated": q(f"SELECT {', '.join(COLUMN_NAMES)} FROM ledger WHERE cost_source = 'allocated'"),
            "daily": q(f"SELECT {', '.join((*ROLLUP_KEYS, *ROLLUP_MEASURES))} FROM events_daily"),
            "sources": q("SELECT row_id, provider, month FROM allocation_sources"),
            "result": result,
        }
    return out


@pytest.fixture(scope="module")
def job(spark, data):
    from aispend.spark.job import run

    out = data["dir"] / "spark-out"
    result = run(spark, _settings(data["dir"] / "unused.duckdb"), data["exports"], str(out), data["events"])

    def read(name: str, columns) -> list[tuple]:
        table = ds.dataset(out / name, format="parquet", partitioning="hive" if name == "ledger" else None).to_table()
        return [tuple(r[c] for c in columns) for r in table.to_pylist()]

    return {
        "out": out, "result": result,
        "ledger": read("ledger", COLUMN_NAMES), "allocated": read("allocated", COLUMN_NAMES),
        "daily": read("events_daily", (*ROLLUP_KEYS, *ROLLUP_MEASURES)),
        "sources": read("allocation_sources", ("row_id", "provider", "month")),
    }


def _by_id(rows: list[tuple]) -> dict[str, dict]:
    return {r[0]: {c: v for c, v in zip(COLUMN_NAMES, r, strict=True) if c not in VOLATILE} for r in rows}


def _total(rows: list[tuple], column: str) -> Decimal:
    i = COLUMN_NAMES.index(column)
    return sum((r[i] for r in rows if r[i] is not None), Decimal(0))


def test_ledger_equal_row_by_row(duck, job):
    ours, theirs = _by_id(job["ledger"]), _by_id(duck["ledger"])
    assert len(ours) == len(theirs) == 4000 + EXTRA_FOCUS.count("\n") - 1
    assert ours.keys() == theirs.keys()  # same row ids: md5(file sha256 || ordinal)
    differ = [(rid, c, theirs[rid][c], ours[rid][c]) for rid in theirs for c in theirs[rid] if theirs[rid][c] != ours[rid][c]]
    assert differ == []
    for column in ("billed_cost", "cost_usd", "list_cost_usd"):
        assert _total(job["ledger"], column) == _total(duck["ledger"], column)
        assert all(isinstance(r[COLUMN_NAMES.index(column)], Decimal | None) for r in job["ledger"])
    statuses = {r["pricing_status"] for r in ours.values()}
    assert {"priced", "unpriced", "none"} <= statuses


def test_the_edge_rows_are_exercised(job):
    rows = [dict(zip(COLUMN_NAMES, r, strict=True)) for r in job["ledger"]]
    eur = [r for r in rows if r["billing_currency"] == "EUR" and r["charge_category"] == "usage"]
    big = next(r for r in eur if r["billed_cost"] == Decimal("12.345678901234567891"))
    # 12.345678901234567891 x 1.0876543210987654 = 13.42783087... (36 digits), half-even to 18.
    assert big["cost_usd"] == (Decimal("12.345678901234567891") * Decimal("1.0876543210987654")).quantize(Decimal("1e-18"))
    assert big["period_start"].hour == 8  # +02:00 -> UTC
    assert big["tags"] == '{"team": "search",  "env" : "prod"}'  # kept as written, as DuckDB keeps it
    half = next(r for r in rows if r["output_tokens"] == 98765)
    assert half["input_tokens"] == 1235  # 1234.5 rounds half away from zero on both engines
    discounted = [r for r in rows if r["cost_source"] == "estimated" and r["provider"] == "openai"]
    assert discounted and all(r["cost_usd"] == (r["list_cost_usd"] * Decimal("0.875")).quantize(Decimal("1e-18"))
                              for r in discounted)
    assert next(r for r in rows if r["model"] == "o3-mini" and r["cost_source"] == "estimated")["tags"] is None


def test_events_daily_equal(duck, job):
    n = len(ROLLUP_KEYS)
    ours = {r[:n]: r[n:] for r in job["daily"]}
    theirs = {r[:n]: r[n:] for r in duck["daily"]}
    assert ours == theirs
    i = ROLLUP_MEASURES.index("estimated_cost_usd")
    assert sum(v[i] for v in ours.values()) == sum(v[i] for v in theirs.values()) > 0


def test_allocation_equal_to_the_cent(duck, job):
    ours, theirs = _by_id(job["allocated"]), _by_id(duck["allocated"])
    assert len(ours) > 1000 and ours.keys() == theirs.keys()
    differ = [(rid, c, theirs[rid][c], ours[rid][c]) for rid in theirs for c in theirs[rid]
              if c != "description" and theirs[rid][c] != ours[rid][c]]
    assert differ == []
    assert _total(job["allocated"], "cost_usd") == _total(duck["allocated"], "cost_usd")
    assert sorted(job["sources"]) == sorted(duck["sources"])
    mine, theirs_r = job["result"].allocation, duck["result"]
    assert Decimal(mine["allocated_usd"]) == theirs_r.allocated_usd
    assert Decimal(mine["unmatched_usd"]) == theirs_r.unmatched_usd
    assert Decimal(mine["unseen_usd"]) == theirs_r.unseen_usd
    assert mine["pools"] == theirs_r.pools


def test_load_into_the_store_converges(job, data, tmp_path):
    from aispend.spark.load import load_output
    from aispend.store import open_store

    settings = _settings(tmp_path / "served.duckdb")
    with open_store(settings.store.url) as store:
        load_output(store, settings, job["out"])
        load_output(store, settings, job["out"])  # twice: the same rows, not twice the rows
        ledger = store.query(f"SELECT {', '.join(COLUMN_NAMES)} FROM ledger WHERE cost_source <> 'allocated'")
        allocated = store.query(f"SELECT {', '.join(COLUMN_NAMES)} FROM ledger WHERE cost_source = 'allocated'")
    assert _by_id(ledger) == _by_id(job["ledger"])
    served = {k: v["cost_usd"] for k, v in _by_id(allocated).items()}
    assert served == {k: v["cost_usd"] for k, v in _by_id(job["allocated"]).items()}


def test_real_focus_sample(spark, tmp_path):
    from aispend.ingest.runner import import_file
    from aispend.spark.job import build
    from aispend.store import open_store

    sample = SAMPLES / "FOCUS-Sample-Data" / "FOCUS-1.0" / "focus_sample.csv"
    if not sample.is_file():
        pytest.skip(f"{sample} not found (set AISPEND_SAMPLES)")
    settings = Settings(store=StoreConfig(url=str(tmp_path / "s.duckdb")))
    with open_store(settings.store.url) as store:
        import_file(store, settings, sample)
        theirs = _by_id(store.query(f"SELECT {', '.join(COLUMN_NAMES)} FROM ledger"))
    frames = build(spark, settings, [str(sample)])
    ours = _by_id([tuple(r) for r in frames.ledger.collect()])
    assert ours == theirs and len(ours) == 1000
    by_provider: dict[str, Decimal] = {}
    for r in ours.values():
        by_provider[r["provider"]] = by_provider.get(r["provider"], Decimal(0)) + r["billed_cost"]
    # shared/samples/INDEX.md: BilledCost sums per ProviderName, recomputed with Decimal.
    assert sorted(by_provider.values()) == sorted([Decimal("18.00663861840"), Decimal("1.97651418586"),
                                                   Decimal("0.53707392473")])


def test_bad_rows_are_reported_as_the_import_reports_them(spark, data, tmp_path):
    from aispend.errors import ValidationError
    from aispend.ingest.runner import import_file
    from aispend.spark.normalize import normalize
    from aispend.store import open_store

    bad = tmp_path / "bad.csv"
    lines = EXTRA_FOCUS.splitlines()
    bad.write_text("\n".join([lines[0], lines[1], lines[2].replace("2025-08-02T00:00:00Z", "yesterday"),
                              lines[4].replace("1234.5", "many"), lines[5]]) + "\n")
    settings = _settings(tmp_path / "b.duckdb")
    with open_store(settings.store.url) as store, pytest.raises(ValidationError) as duck_error:
        import_file(store, settings, bad)
    with pytest.raises(ValidationError) as spark_error:
        normalize(spark, settings, [str(bad)])
    assert spark_error.value.total == duck_error.value.total == 2
    assert spark_error.value.errors == duck_error.value.errors


def test_importing_aispend_needs_no_pyspark():
    code = "import sys, aispend, aispend.cli, aispend.spark; assert 'pyspark' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rewrites_fix_what_transpiling_gets_wrong():
    from aispend.spark.sql import to_spark

    sql = to_spark("SELECT try_cast(try_cast(x AS DECIMAL(38, 18)) AS BIGINT), json_type(try_cast(t AS JSON)), "
                   "unnest(range(a, b, INTERVAL 1 DAY)) FROM r")
    assert "ROUND(TRY_CAST(x AS DECIMAL(38, 18)), 0)" in sql
    assert "TO_JSON" not in sql and "TRY_PARSE_JSON(t)" in sql
    assert "FILTER(SEQUENCE(a, b, INTERVAL '1' DAY)" in sql
