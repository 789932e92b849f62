"""Anthropic cost_report and usage_report/messages pages and Console CSV exports.

No real Anthropic payloads may be copied (the docs are all rights reserved), so the fixtures under
tests/fixtures/anthropic are built to vendors.md §2 and INDEX.md ("Found but not copied") with
invented values. Oracles are ``json`` + ``Decimal`` and ``csv``, nothing of aispend.
"""

from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from aispend.errors import FormatDetectionError, ValidationError
from aispend.ingest import detect, import_file
from aispend.store import open_store

from .conftest import run_cli

FIX = Path(__file__).parent / "fixtures" / "anthropic"
CENTS_TOTAL = Decimal("1787.039131")  # the fixture's amounts, in cents, added by hand
DOLLARS_TOTAL = Decimal("17.87039131")
CONSOLE_COST_TOTAL = Decimal("14.3403913")


def pages(path: Path) -> list[dict]:
    text = path.read_text()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return doc if isinstance(doc, list) else [doc]


def results(path: Path) -> list[dict]:
    return [r for p in pages(path) for b in p["data"] for r in b["results"]]


def one(store, sql: str):
    return store.query(sql)[0]


def total_input(r: dict) -> int:
    return r["uncached_input_tokens"] + r["cache_read_input_tokens"] + cache_writes(r)


def cache_writes(r: dict) -> int:
    return r["cache_creation"]["ephemeral_5m_input_tokens"] + r["cache_creation"]["ephemeral_1h_input_tokens"]


# -- cost_report ---------------------------------------------------------------------------------


def test_cost_report_amounts_are_cents_converted_exactly(store, settings):
    path = FIX / "cost_report_pages.json"
    cents = sum((Decimal(r["amount"]) for r in results(path)), Decimal(0))
    assert cents == CENTS_TOTAL and cents / 100 == DOLLARS_TOTAL
    result = import_file(store, settings, path)
    assert (result.format, result.source, result.rows_loaded) == ("anthropic", "anthropic", 8)
    # cents read as dollars would give 1787.04: the total must be a hundredth of the cents
    assert one(store, "SELECT sum(billed_cost), sum(cost_usd) FROM ledger") == (DOLLARS_TOTAL, DOLLARS_TOTAL)
    assert one(store, "SELECT billed_cost FROM ledger WHERE sku = 'uncached_input_tokens'")[0] == Decimal("1.2378912")
    assert one(store, "SELECT billed_cost FROM ledger WHERE sku = 'code_execution'")[0] == Decimal("0.00000001")


def test_cost_report_dimensions(store, settings):
    import_file(store, settings, FIX / "cost_report_page1.json")
    rows = {r[0]: r[1:] for r in store.query(
        "SELECT sku, model_raw, model, service_tier, project, description, charge_category, cost_source, "
        "billing_currency, provider, publisher, service_category, tags, input_tokens FROM ledger")}
    sonnet_1h = rows["cache_creation.ephemeral_1h_input_tokens"]
    assert sonnet_1h[:11] == ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "standard", "wrkspc_01A",
                              "Claude Sonnet 4.5 Usage - Cache Write (1h)", "usage", "billed", "USD", "anthropic",
                              "anthropic", "AI and Machine Learning")
    assert json.loads(sonnet_1h[11]) == {"cost_type": "tokens", "context_window": "0-200k",
                                         "token_type": "cache_creation.ephemeral_1h_input_tokens"}
    assert sonnet_1h[12] is None  # the cost report carries money, not token counts
    assert rows["web_search"][:4] == (None, None, None, None)


def test_console_cost_csv_is_dollars(store, settings):
    path = FIX / "console_cost.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sum((Decimal(r["cost_usd"]) for r in rows), Decimal(0)) == CONSOLE_COST_TOTAL
    result = import_file(store, settings, path)
    assert (result.format, result.rows_loaded) == ("anthropic", 4)
    assert one(store, "SELECT sum(billed_cost), sum(list_cost_usd) FROM ledger") == (
        CONSOLE_COST_TOTAL, sum((Decimal(r["list_price_usd"]) for r in rows), Decimal(0)))
    haiku = one(store, "SELECT api_key_id, project, service_tier, tags, period_end - period_start FROM ledger "
                       "WHERE model_raw = 'claude-haiku-4-5-20251001'")
    assert haiku[:3] == ("apikey_02", "Research", "batch") and haiku[4] == timedelta(days=1)
    assert json.loads(haiku[3])["api_key_name"] == "batch-key"
    assert json.loads(haiku[3])["context_window"] == "≤ 200k"


def test_restated_days_replace_the_older_cost_import(store, settings):
    import_file(store, settings, FIX / "console_cost.csv")  # 2026-01-01 .. 02
    result = import_file(store, settings, FIX / "cost_report_pages.json")  # 01 .. 03, pulled later
    assert result.replaced_rows == 4
    assert one(store, "SELECT sum(billed_cost) FROM ledger")[0] == DOLLARS_TOTAL


# -- usage_report/messages -----------------------------------------------------------------------


def test_usage_input_adds_cache_reads_and_writes_once(store, settings):
    path = FIX / "usage_report_pages.json"
    raw = results(path)
    result = import_file(store, settings, path)
    assert (result.format, result.source, result.rows_loaded) == ("anthropic-usage", "anthropic-usage", 3)
    got = one(store, "SELECT sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens) "
                     "FROM ledger")
    assert got == (
        sum(total_input(r) for r in raw),
        sum(r["cache_read_input_tokens"] for r in raw),
        sum(cache_writes(r) for r in raw),
        sum(r["output_tokens"] for r in raw),
    ) == (1092279, 909425, 26624, 44877)
    # per row: input minus its cache subsets is exactly the uncached input (nothing counted twice or left out)
    for uncached, inp, read, write in store.query(
            "SELECT i.uncached, input_tokens, cache_read_tokens, cache_write_tokens FROM ledger l "
            "JOIN (VALUES (150230, 'claude-sonnet-4-5-20250929', NULL), (1000, 'claude-haiku-4-5-20251001', 'batch'), "
            "(5000, 'claude-sonnet-4-5-20250929', 'priority')) i(uncached, m, t) "
            "ON l.model_raw = i.m AND l.service_tier IS NOT DISTINCT FROM i.t"):
        assert inp - read - write == uncached


def test_usage_dimensions_and_the_1h_cache_share(store, settings):
    import_file(store, settings, FIX / "usage_report_pages.json")
    rows = {r[0]: r[1:] for r in store.query(
        "SELECT input_tokens, model, service_tier, project, api_key_id, tags, cost_source, billed_cost, pricing_status "
        "FROM ledger")}
    haiku = rows[15336]
    assert haiku[:4] == ("claude-haiku-4-5", "batch", "wrkspc_01A", None)
    assert json.loads(haiku[4]) == {"cache_write_1h_tokens": "4096", "context_window": "0-200k"}
    sonnet = rows[1071943]
    assert sonnet[3] == "apikey_01Rj2N8SVvo6BePZj99NhmiT" and json.loads(sonnet[4]) == {"web_search_requests": "3"}
    assert sonnet[5:] == ("estimated", None, "priced")
    priority = rows[5000]
    assert priority[1] == "priority"
    assert json.loads(priority[4]) == {"service_tier": "priority_on_demand", "context_window": "200k-1M"}


def test_a_short_context_estimate_uses_the_base_tier(store, settings):
    import_file(store, settings, FIX / "usage_report_page1.json")
    cost = one(store, "SELECT cost_usd FROM ledger WHERE model_raw = 'claude-sonnet-4-5-20250929'")[0]
    base = (150230 * Decimal(3) + 20480 * Decimal("3.75") + 901233 * Decimal("0.3") + 41877 * Decimal(15)) / 10**6
    assert cost == base


def test_console_usage_csv_daily_and_hourly(store, settings):
    result = import_file(store, settings, FIX / "console_usage.csv")
    assert (result.format, result.rows_loaded) == ("anthropic-usage", 3)
    rows = store.query("SELECT period_start, period_end, input_tokens, cache_read_tokens, cache_write_tokens, "
                       "output_tokens, project, service_tier, tags FROM ledger "
                       "ORDER BY period_start, input_tokens DESC")
    assert rows[0][:8] == (datetime(2026, 1, 1), datetime(2026, 1, 2), 150230 + 901233 + 20480, 901233, 20480, 41877,
                           "Default", "standard")
    assert json.loads(rows[0][8]) == {"web_search_requests": "3", "context_window": "≤ 200k", "speed": "standard",
                                      "inference_geo": "global", "usage_type": "standard", "api_key_name": "prod-key"}
    assert rows[1][2:5] == (1000 + 8192 + 2048 + 4096, 8192, 2048 + 4096)
    hourly = import_file(store, settings, FIX / "console_usage_hourly.csv")
    assert hourly.rows_loaded == 2
    assert store.query("SELECT period_start, period_end, input_tokens FROM ledger WHERE batch_id = ? "
                       "ORDER BY period_start", [hourly.batch_id]) == [
        (datetime(2026, 1, 1, 13), datetime(2026, 1, 1, 14), 100 + 50 + 25 + 400),
        (datetime(2026, 1, 1, 14), datetime(2026, 1, 1, 15), 200 + 800),
    ]


# -- detection, pagination, errors ---------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind"), [
    ("cost_report_page1.json", "anthropic"), ("cost_report_pages.json", "anthropic"),
    ("cost_report_pages.jsonl", "anthropic"), ("console_cost.csv", "anthropic"),
    ("usage_report_page1.json", "anthropic-usage"), ("usage_report_pages.json", "anthropic-usage"),
    ("usage_report_pages.jsonl", "anthropic-usage"), ("console_usage.csv", "anthropic-usage"),
    ("console_usage_hourly.csv", "anthropic-usage"),
])
def test_each_file_kind_is_detected_without_format(settings, name, kind):
    assert detect(FIX / name, settings).kind == kind


def test_a_usage_page_is_not_taken_for_costs(settings):
    with pytest.raises(FormatDetectionError):
        detect(FIX / "usage_report_page1.json", settings, "anthropic")


@pytest.mark.parametrize("stem", ["cost_report", "usage_report"])
def test_pages_split_across_files_import_to_the_same_totals_as_one_file(store, settings, workdir, stem, ledger_url):
    totals = ("SELECT count(*), sum(billed_cost), sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), "
              "sum(output_tokens) FROM ledger")
    import_file(store, settings, FIX / f"{stem}_page1.json")
    import_file(store, settings, FIX / f"{stem}_page2.json")
    split = one(store, totals)
    for name in (f"{stem}_pages.json", f"{stem}_pages.jsonl"):
        with open_store(ledger_url(name)) as other:
            import_file(other, settings, FIX / name)
            assert one(other, totals) == split
    # the whole window as one file restates both page files
    result = import_file(store, settings, FIX / f"{stem}_pages.jsonl")
    assert len(result.replaced_batches) == 2
    assert one(store, totals) == split


@pytest.mark.parametrize(("name", "old", "new", "column", "reason"), [
    ("cost_report_pages.json", '"amount": "250.25"', '"amount": "250,25"',
     ".[1].data[0].results[1].amount", "not a decimal string (cents)"),
    ("cost_report_pages.jsonl", '"amount": "250.25"', '"amount": null',
     "line 2: .data[0].results[1].amount", "required value is missing"),
    ("usage_report_pages.json", '"uncached_input_tokens": 5000', '"uncached_input_tokens": -5000',
     ".[1].data[0].results[0].uncached_input_tokens", "negative"),
    ("usage_report_page1.json", '"starting_at": "2026-01-01T00:00:00Z"', '"starting_at": "Jan 1"',
     ".data[0].starting_at", "not an RFC 3339 date/time"),
])
def test_a_malformed_record_is_reported_with_its_position(store, settings, workdir, name, old, new, column, reason):
    import_file(store, settings, FIX / "console_cost.csv")
    before = store.query("SELECT count(*), sum(billed_cost) FROM ledger")
    text = (FIX / name).read_text()
    assert old in text
    bad = workdir / name
    bad.write_text(text.replace(old, new))
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, bad)
    err = info.value.errors[0]
    assert (err.column, err.reason) == (column, reason)
    assert f"column {column}: {reason}" in str(info.value)
    assert store.query("SELECT count(*), sum(billed_cost) FROM ledger") == before


def test_a_malformed_csv_row_is_reported_with_its_line(store, settings, workdir):
    bad = workdir / "cost.csv"
    text = (FIX / "console_cost.csv").read_text(encoding="utf-8")
    bad.write_text(text.replace("2.5025", "2.50.25"), encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, bad)
    err = info.value.errors[0]
    assert (err.line, err.column, err.reason, err.value) == (4, "cost_usd", "not a decimal number (dollars)", "2.50.25")


# -- cost and usage together, end to end ---------------------------------------------------------


def test_cli_keeps_billed_costs_and_usage_estimates_apart(workdir):
    for name in ("cost_report_pages.json", "usage_report_pages.jsonl"):
        shutil.copy(FIX / name, workdir / name)
        done = run_cli("import", name, cwd=workdir)
        assert done.returncode == 0, done.stderr
    report = run_cli("report", "--by", "source,cost_source", "--format", "json", cwd=workdir)
    assert report.returncode == 0, report.stderr
    rows = {(r["source"], r["cost_source"]): r for r in json.loads(report.stdout)}
    assert set(rows) == {("anthropic", "billed"), ("anthropic-usage", "estimated")}
    assert Decimal(rows[("anthropic", "billed")]["cost_usd"]) == DOLLARS_TOTAL
    assert rows[("anthropic-usage", "estimated")]["input_tokens"] == 1092279
