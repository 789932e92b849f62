"""`aispend demo`, library side: generated vendor files loaded through the real import path."""

from __future__ import annotations

import csv
import io
import re
import statistics
from datetime import date, timedelta
from decimal import Decimal

import pytest

from aispend.config import Settings, load_settings
from aispend.demo import build_plan, run_demo
from aispend.demo import generate as gen
from aispend.errors import ConfigError
from aispend.store import open_store

TODAY = date(2026, 3, 12)  # mid-month: the current month is partial
MONTHS = 2
PROVIDERS = {"openai", "anthropic", "aws", "azure", "gcp", "vectorbase"}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, make_ledger_url):
    """One demo run on a real ledger, shared by the read-only checks below."""
    root = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        store = open_store(make_ledger_url(root, "ledger"))
        seen = []
        result = run_demo(store, Settings(), root / "work", TODAY, months=MONTHS,
                          on_file=lambda path, res: seen.append((path, res.rows_loaded)))
        yield store, result, seen
        store.close()


def q(store, sql, params=()):
    return store.query(sql, params)


def test_loads_all_six_vendors(loaded):
    store, result, seen = loaded
    assert {p for (p,) in q(store, "SELECT DISTINCT provider FROM ledger")} == PROVIDERS
    assert all(n > 0 for n in result.rows_by_source.values()) and len(result.rows_by_source) == 6
    # one file per vendor per month, each reported through on_file
    assert len(result.files) == 6 * MONTHS and [p for p, _ in seen] == result.files
    assert sum(n for _, n in seen) == result.rows == q(store, "SELECT count(*) FROM ledger")[0][0]
    # Claude on Bedrock: billed by aws, made by anthropic, model ids as Bedrock writes them
    bedrock = q(store, "SELECT DISTINCT publisher, service, model_raw FROM ledger WHERE provider = 'aws'")
    assert {r[0] for r in bedrock} == {"anthropic"} and {r[1] for r in bedrock} == {"Amazon Bedrock"}
    assert {r[2] for r in bedrock} == {"anthropic.claude-3-5-haiku-20241022-v1:0",
                                       "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}
    models = {m for (m,) in q(store, "SELECT DISTINCT model FROM ledger WHERE model IS NOT NULL")}
    assert {"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "text-embedding-3-small", "claude-sonnet-4-5",
            "claude-haiku-4-5", "gemini-2.5-flash"} <= models
    # prompt caching on Anthropic, reasoning on Gemini
    cache = q(store, "SELECT sum(cache_read_tokens), sum(cache_write_tokens) FROM ledger WHERE provider = 'anthropic'")
    assert all(v > 0 for v in cache[0])
    assert q(store, "SELECT sum(reasoning_tokens) FROM ledger WHERE provider = 'gcp'")[0][0] > 0
    # the vector DB came through the csv mapping, without tokens
    vb = q(store, "SELECT DISTINCT source_type, service_category, pricing_status FROM ledger WHERE provider = 'vectorbase'")
    assert vb == [("csv:vectorbase", "Databases", "none")]


def test_attribution_dimensions(loaded):
    store, _, _ = loaded
    customers = {c for (c,) in q(store, "SELECT DISTINCT customer FROM ledger WHERE customer IS NOT NULL")}
    assert 5 <= len(customers) <= 10
    assert {e for (e,) in q(store, "SELECT DISTINCT environment FROM ledger WHERE environment IS NOT NULL")} == {
        "prod", "staging", "dev"}
    assert len(q(store, "SELECT DISTINCT owner FROM ledger WHERE owner IS NOT NULL")) >= 5
    assert len(q(store, "SELECT DISTINCT feature FROM ledger WHERE feature IS NOT NULL")) >= 8
    assert len(q(store, "SELECT DISTINCT api_key_id FROM ledger WHERE api_key_id IS NOT NULL")) >= 5
    assert len(q(store, "SELECT DISTINCT project FROM ledger WHERE project IS NOT NULL")) >= 5


def test_spans_the_requested_months(loaded):
    store, result, _ = loaded
    assert (result.start, result.end) == (date(2026, 2, 1), TODAY)
    assert [p for (p,) in q(store, "SELECT DISTINCT billing_period FROM ledger ORDER BY 1")] == ["2026-02", "2026-03"]
    first, last = q(store, "SELECT min(period_start), max(period_start) FROM ledger WHERE charge_category = 'usage'")[0]
    assert (first.date(), last.date()) == (result.start, result.end)
    # every day of the window has usage from every LLM vendor
    days = q(store, "SELECT provider, count(DISTINCT period_start) FROM ledger WHERE charge_category = 'usage' "
                    "GROUP BY 1")
    assert dict(days) == {p: (TODAY - result.start).days + 1 for p in PROVIDERS}


def test_weekends_are_quieter(loaded):
    store, _, _ = loaded
    rows = q(store, "SELECT isodow(period_start) >= 6, sum(requests) / count(DISTINCT period_start) FROM ledger "
                    "WHERE environment = 'prod' AND requests IS NOT NULL GROUP BY 1")
    per_day = dict(rows)
    assert per_day[True] < 0.7 * per_day[False]


def test_every_ai_row_priced_and_list_matches_billed(loaded):
    store, _, _ = loaded
    statuses = q(store, "SELECT provider, pricing_status, count(*) FROM ledger "
                        "WHERE coalesce(input_tokens, 0) + coalesce(output_tokens, 0) > 0 GROUP BY 1, 2")
    assert {(p, s) for p, s, _ in statuses} == {(p, "priced") for p in PROVIDERS - {"vectorbase"}}
    diffs = q(store, "SELECT provider, period_start, abs(sum(list_cost_usd) - sum(billed_cost)) FROM ledger "
                     "WHERE pricing_status = 'priced' GROUP BY 1, 2")
    assert len(diffs) == 5 * ((TODAY - date(2026, 2, 1)).days + 1)
    worst = max(diffs, key=lambda r: r[2])
    assert worst[2] <= Decimal("0.01"), worst


def test_no_null_cost(loaded):
    store, _, _ = loaded
    assert q(store, "SELECT count(*) FROM ledger WHERE cost_usd IS NULL OR billed_cost IS NULL")[0][0] == 0
    # one promotional credit per month, kept apart from usage
    credits = q(store, "SELECT billing_period, billed_cost, pricing_status FROM ledger WHERE charge_category = 'credit'")
    assert sorted(credits) == [("2026-02", Decimal(-250), "none"), ("2026-03", Decimal(-250), "none")]


def test_runaway_prompt_day_is_detectable(loaded):
    store, result, _ = loaded
    rows = q(store, "SELECT CAST(period_start AS DATE), sum(input_tokens) / sum(requests) FROM ledger "
                    "WHERE feature = 'kb-answers' GROUP BY 1 ORDER BY 1")
    tpr = dict(rows)
    flagged = []
    for day, value in tpr.items():
        trailing = [tpr[day - timedelta(days=i)] for i in range(1, 8) if day - timedelta(days=i) in tpr]
        if len(trailing) == 7 and value >= 5 * statistics.median(trailing):
            flagged.append(day)
    assert flagged == [result.runaway_day]
    assert result.start + timedelta(days=7) <= result.runaway_day <= result.end


def test_model_migration_is_visible(loaded):
    store, result, _ = loaded
    spans = {m: (a.date(), b.date()) for m, a, b in q(
        store, "SELECT model, min(period_start), max(period_start) FROM ledger "
               "WHERE feature = 'support-chat' AND provider = 'openai' GROUP BY 1")}
    assert set(spans) == {"gpt-4o", "gpt-4.1-mini"}
    assert spans["gpt-4o"] == (result.start, result.migration_day - timedelta(days=1))
    assert spans["gpt-4.1-mini"] == (result.migration_day, result.end)
    assert result.start < result.migration_day < result.end


def test_rerun_does_not_double_count(tmp_path, monkeypatch, ledger_url):
    monkeypatch.chdir(tmp_path)
    store = open_store(ledger_url("ledger"))
    totals = "SELECT count(*), sum(billed_cost), sum(cost_usd), sum(input_tokens) FROM ledger"
    first = run_demo(store, Settings(), tmp_path / "work", TODAY, months=MONTHS)
    before = q(store, totals)
    again = run_demo(store, Settings(), tmp_path / "work", TODAY, months=MONTHS)
    assert q(store, totals) == before and again.rows == first.rows == before[0][0]
    assert again.retired_rows == 0
    # A later day, in another work directory: that run's files replace the earlier run's entirely.
    later = run_demo(store, Settings(), tmp_path / "elsewhere", TODAY + timedelta(days=3), months=1)
    assert later.retired_rows > 0
    assert q(store, "SELECT count(*) FROM ledger")[0][0] == later.rows
    assert [p for (p,) in q(store, "SELECT DISTINCT billing_period FROM ledger")] == ["2026-03"]
    store.close()


def test_mapping_comes_from_the_workdir_config(tmp_path, monkeypatch, ledger_url):
    monkeypatch.chdir(tmp_path)
    store = open_store(ledger_url("ledger"))
    settings = Settings()
    run_demo(store, settings, tmp_path / "work", TODAY, months=1)
    assert "vectorbase" not in settings.csv_mappings  # the caller's settings are left alone
    written = load_settings(tmp_path / "work" / "aispend.toml")
    assert "vectorbase" in written.csv_mappings
    # a user's own aispend.toml is never overwritten
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "aispend.toml").write_text("[store]\nurl = 'x.duckdb'\n")
    with pytest.raises(ConfigError, match="not written by `aispend demo`"):
        run_demo(store, settings, tmp_path / "mine", TODAY, months=1)
    store.close()


def test_generation_is_deterministic_with_exact_money():
    a, b = build_plan(TODAY, seed=7, months=MONTHS), build_plan(TODAY, seed=7, months=MONTHS)
    assert [f.text for f in a.files] == [f.text for f in b.files]
    assert [f.text for f in build_plan(TODAY, seed=8, months=MONTHS).files] != [f.text for f in a.files]
    money = re.compile(r"-?\d+(\.\d{1,10})?")
    for f in a.files:
        column = "BilledCost" if f.format == "focus" else "Amount (USD)"
        for row in csv.DictReader(io.StringIO(f.text)):
            assert money.fullmatch(row[column]), (f.name, row[column])
    assert all(f.name.endswith(".focus.csv") for f in a.files if f.vendor in gen.VENDOR_BY_KEY)


def test_bedrock_models_resolve_in_the_book():
    from aispend.pricing import PriceBook

    book = PriceBook()
    for wl in gen.WORKLOADS:
        vendor = gen.VENDOR_BY_KEY[wl.vendor]
        for model in filter(None, (wl.model, wl.migrate_to)):
            assert book.resolve(vendor.provider, vendor.publisher, model), (vendor.key, model)


def test_rejects_months_below_one(tmp_path):
    with pytest.raises(ValueError):
        build_plan(TODAY, months=0)


def test_customers_pay_a_plan_so_margins_show(loaded):
    import csv
    import io
    from decimal import Decimal

    from aispend.analysis import Window, margin
    from aispend.config import load_settings

    store, result, _ = loaded
    assert result.revenue == 8 * len(result.files) // 6  # eight customers, every month (six files a month)
    month = result.end.strftime("%Y-%m")
    text = result.revenue_file.read_text()
    paid = {r["customer"]: Decimal(r["amount"]) for r in csv.DictReader(io.StringIO(text)) if r["month"] == month}
    report = margin(store, load_settings(None), "customer", Window.parse(month=month))
    rows = {r["customer"]: r for r in report.rows}
    for customer, amount in paid.items():  # revenue as written in the CSV, cost from the ledger
        assert rows[customer]["revenue_usd"] == amount
        assert rows[customer]["margin_usd"] == amount - rows[customer]["cost_usd"]
