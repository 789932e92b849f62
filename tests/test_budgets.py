"""Budgets: scopes over the counted ledger, periods, FX, the forecast and breach date, the CLI."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal as D

import pyarrow as pa
import pytest

from aispend.analysis.forecast import forecast
from aispend.analysis.report import Window, spend_report
from aispend.budgets import BudgetError, budget_period, budget_status
from aispend.config import BudgetSettings, Settings, load_settings
from aispend.demo import run_demo
from aispend.errors import ConfigError
from aispend.fx import import_fx
from aispend.schema import ARROW_SCHEMA
from aispend.store import open_store

from .conftest import run_cli
from .stores import toml_str

TODAY = date(2026, 4, 10)
DEMO_TODAY = date(2026, 4, 6)


def row(i: int, day: date, provider: str, cost: str, **kw: object) -> dict:
    r = dict.fromkeys(ARROW_SCHEMA.names)
    start = datetime(day.year, day.month, day.day)
    r.update(row_id=f"r{i}", source="t", source_type="test", period_start=start, period_end=start + timedelta(days=1),
             billing_period=f"{day:%Y-%m}", provider=provider, charge_category="usage", billed_cost=D(cost),
             cost_usd=D(cost), billing_currency="USD", cost_source="billed", pricing_status="none", **kw)
    if isinstance(r.get("tags"), dict):
        r["tags"] = json.dumps(r["tags"])
    return r


def load(store, rows: list[dict]) -> None:
    with store.transaction() as tx:
        tx.append("ledger", pa.Table.from_pylist(rows, schema=ARROW_SCHEMA))


def small_ledger(store, until: date = TODAY) -> None:
    """Feb 1 .. until: openai/search 100.10 a day, anthropic/ads 50.05, aws (team risk tag, no owner) 30."""
    rows, day, i = [], date(2026, 2, 1), 0
    while day <= until:
        for provider, cost, kw in (("openai", "100.10", {"owner": "search", "model": "gpt-4o", "api_key_id": "key-a"}),
                                   ("anthropic", "50.05", {"owner": "ads", "model": "claude-x", "feature": "chat"}),
                                   ("aws", "30", {"tags": {"team": "risk"}})):
            rows.append(row(i, day, provider, cost, **kw))
            i += 1
        day += timedelta(days=1)
    load(store, rows)


def settings_with(*budgets: dict) -> Settings:
    return Settings.model_validate({"budgets": list(budgets)})


def test_a_month_budget_counts_exactly_and_knows_when_it_broke(store):
    small_ledger(store)
    scope = {"provider": ["openai", "anthropic"], "owner": ["search", "ads"]}
    [s] = budget_status(store, settings_with({"name": "ai", "amount": "1500", "scope": scope}), TODAY)
    assert s.period.label == "2026-04" and (s.period.start, s.period.end) == (date(2026, 4, 1), date(2026, 5, 1))
    assert s.spent_usd == D("1501.50")  # 10 days x 150.15, exact
    assert s.remaining_usd == D("-1.50") and s.used_pct == D("100.10")
    assert s.breached == [50, 80, 100] and s.forecast_breached == [100]
    assert (s.breach_date, s.breach_projected) == (date(2026, 4, 10), False)  # 9 x 150.15 < 1500 <= 10 x 150.15
    # The estimate is analysis.forecast's, to the cent: spend through the end of TODAY is actual.
    f = forecast(store, period="month", as_of=TODAY + timedelta(days=1), where=scope)[0]
    assert (s.forecast_usd, s.forecast_lower_usd, s.forecast_upper_usd) == (f.forecast, f.lower, f.upper)
    assert s.forecast_lower_usd <= s.forecast_usd <= s.forecast_upper_usd
    assert abs(s.forecast_usd - D("150.15") * 30) < 1  # a flat series forecasts its rate
    assert s.estimated_days == 20 and s.method.startswith("run-rate")


def test_budgets_roll_up_across_vendors_and_scope_on_tags_and_unattributed(store):
    small_ledger(store)
    statuses = budget_status(store, settings_with(
        {"name": "everything", "amount": "10000"},
        {"name": "risk", "amount": "1000", "scope": {"tags.team": "risk"}},
        {"name": "nobody", "amount": "1000", "scope": {"owner": "(unattributed)"}},
        {"name": "search+risk", "amount": "1000", "scope": {"owner": ["search", "(unattributed)"]}},
    ), TODAY)
    got = {s.name: s for s in statuses}
    assert got["everything"].spent_usd == D("1801.50")  # three vendors, one budget
    assert got["risk"].spent_usd == D(300) == got["nobody"].spent_usd
    assert got["search+risk"].spent_usd == D("1301.00")
    # The forecast cannot filter tags: it forecasts the rest of the scope and scales by the tag's share.
    assert got["risk"].method.endswith("+share")
    assert abs(got["risk"].forecast_usd - 30 * 30) < 1
    assert abs(got["everything"].forecast_usd - D("180.15") * 30) < 2


def test_a_projected_breach_date_follows_the_forecast_rate(store):
    small_ledger(store)
    [s] = budget_status(store, settings_with({"name": "openai", "amount": "2000", "scope": {"provider": "openai"}}),
                        TODAY)
    assert s.spent_usd == D("1001.00") and s.breached == [50] and s.forecast_breached == [100]
    # 998.99 left at ~100.10 a day from Apr 11: the 10th estimated day, Apr 20.
    assert (s.breach_date, s.breach_projected) == (date(2026, 4, 20), True)


def test_periods_quarter_fiscal_year_and_custom():
    def period(today: date, **kw: object):
        p = budget_period(BudgetSettings.model_validate({"name": "b", "amount": 1, **kw}), today)
        return p.kind, p.label, p.start, p.end

    assert period(date(2026, 5, 17), period="quarter")[1:] == ("2026-Q2", date(2026, 4, 1), date(2026, 7, 1))
    assert period(date(2026, 1, 15), period="fiscal_year", fiscal_year_start_month=2)[1:] == (
        "FY2026", date(2025, 2, 1), date(2026, 2, 1))
    assert period(date(2026, 2, 1), period="fiscal_year", fiscal_year_start_month=2)[1:] == (
        "FY2027", date(2026, 2, 1), date(2027, 2, 1))
    assert period(date(2026, 12, 31), period="fiscal_year")[1:] == ("FY2026", date(2026, 1, 1), date(2027, 1, 1))
    custom = period(date(2030, 1, 1), period="custom", start="2026-03-15", end="2026-04-15")
    assert custom[1:] == ("2026-03-15..2026-04-15", date(2026, 3, 15), date(2026, 4, 15))


def test_custom_ranges_past_and_future(store):
    small_ledger(store)
    past, future = budget_status(store, settings_with(
        {"name": "past", "amount": "500", "period": "custom", "start": "2026-02-01", "end": "2026-02-08",
         "scope": {"provider": "aws"}},
        {"name": "future", "amount": "500", "period": "custom", "start": "2026-05-01", "end": "2026-05-11",
         "scope": {"provider": "aws"}},
    ), TODAY)
    assert past.spent_usd == past.forecast_usd == past.forecast_upper_usd == D(210)  # complete: nothing estimated
    assert (past.method, past.estimated_days, past.breach_date) == ("complete", 0, None)
    assert future.spent_usd == 0 and future.estimated_days == 10
    assert abs(future.forecast_usd - 300) < 1 and future.method.endswith("+daily-rate")


def test_a_budget_in_another_currency_needs_a_rate(store, workdir):
    small_ledger(store)
    eur = {"name": "eur", "amount": "1000", "currency": "EUR", "scope": {"provider": "aws"}}
    with pytest.raises(BudgetError, match="in EUR but the ledger has no EUR rate on or before 2026-04-10.*fx import"):
        budget_status(store, settings_with(eur), TODAY)
    (workdir / "rates.csv").write_text("currency,day,usd_rate\nEUR,2026-04-01,1.08\nEUR,2026-04-20,2\n")
    import_fx(store, workdir / "rates.csv")
    [s] = budget_status(store, settings_with(eur), TODAY)
    assert (s.fx_rate, s.amount_usd, s.amount) == (D("1.08"), D("1080.00"), D(1000))  # the rate of Apr 1, not Apr 20
    assert s.used_pct == D("27.78")  # 300 / 1080


@pytest.mark.parametrize(("toml", "message"), [
    ('[[budgets]]\nname = "b"\namount = 1\nscope = { colour = "red" }\n', "cannot scope on colour"),
    ('[[budgets]]\nname = "b"\namount = 1\nperiod = "custom"\nstart = 2026-01-01\n', "custom period needs start and end"),
    ('[[budgets]]\nname = "b"\namount = 0\n', "greater than 0"),
    ('[[budgets]]\nname = "b"\namount = 5\nthresholds = [0, 50]\n', "between 1 and 1000"),
    ('[[budgets]]\nname = "b"\namount = 5\ncurrency = "euro"\n', "currency"),
])
def test_bad_budget_settings_are_named(workdir, toml, message):
    (workdir / "aispend.toml").write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load_settings(None)


def test_duplicate_names_and_unknown_channels_are_refused(store):
    with pytest.raises(ConfigError, match="names must be unique: a"):
        budget_status(store, settings_with({"name": "a", "amount": 1}, {"name": "a", "amount": 2}), TODAY)
    with pytest.raises(ConfigError, match="budget a: unknown channel.*ops"):
        budget_status(store, settings_with({"name": "a", "amount": 1, "channels": ["ops"]}), TODAY)


# --- the demo --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory, make_ledger_url) -> str:
    root = tmp_path_factory.mktemp("budgets-demo")
    url = make_ledger_url(root, "ledger")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        with open_store(url) as store:
            run_demo(store, Settings(), root / "work", DEMO_TODAY, seed=7, months=4)
    return url


def counted(store, start: date, end: date, **where: list[str]) -> D:
    rows = spend_report(store, [], Window(datetime.combine(start, datetime.min.time()),
                                          datetime.combine(end, datetime.min.time())), where=where).rows
    return rows[0]["cost_usd"]


def test_a_fiscal_year_budget_on_the_demo(demo):
    fy = {"name": "fy", "amount": "150000", "period": "fiscal_year", "fiscal_year_start_month": 2,
          "thresholds": [10, 20, 50], "forecast": [100]}
    with open_store(demo) as store:
        [s] = budget_status(store, settings_with(fy), DEMO_TODAY)
        spent = counted(store, date(2026, 2, 1), DEMO_TODAY + timedelta(days=1))
        month = forecast(store, period="month", as_of=DEMO_TODAY + timedelta(days=1))[0]
    assert (s.period.label, s.period.start, s.period.end) == ("FY2027", date(2026, 2, 1), date(2027, 2, 1))
    assert s.spent_usd == spent  # Feb 1 .. Apr 6, exact, superseded rows not counted twice
    # The days left (Apr 7 .. Jan 31) at April's forecast daily rate; the interval scaled alike.
    assert s.estimated_days == (date(2027, 2, 1) - date(2026, 4, 7)).days == 300
    rate = (month.forecast - month.actual) / month.remaining_days
    assert abs(s.forecast_usd - (spent + rate * 300)) < D("0.01")
    assert s.forecast_lower_usd < s.forecast_usd < s.forecast_upper_usd
    assert s.method == month.method + "+daily-rate"
    assert s.breached == [10, 20] and s.forecast_breached == [100]
    assert s.breach_projected and date(2026, 10, 1) < s.breach_date < date(2027, 2, 1)


def test_a_quarter_budget_on_the_demo_is_the_quarter_forecast(demo):
    scope = {"owner": ["search"], "provider": ["openai"]}
    with open_store(demo) as store:
        [s] = budget_status(store, settings_with({"name": "q", "amount": "6000", "period": "quarter",
                                                  "scope": scope}), DEMO_TODAY)
        q = forecast(store, period="quarter", as_of=DEMO_TODAY + timedelta(days=1), where=scope)[0]
    assert s.period.label == q.period == "2026-Q2"
    assert (s.spent_usd, s.forecast_usd, s.forecast_lower_usd, s.forecast_upper_usd) == (
        q.actual, q.forecast, q.lower, q.upper)


def test_cli_budgets_status(demo, tmp_path, ledger_url, monkeypatch):
    ledger = ledger_url("ledger", copy_of=demo)
    monkeypatch.delenv("AISPEND_STORE_URL", raising=False)  # the file names the ledger (PostgreSQL mode sets it)
    (tmp_path / "aispend.toml").write_text(
        f'[store]\nurl = {toml_str(ledger)}\n\n'
        '[[budgets]]\nname = "search"\namount = 3000\nscope = { owner = ["search"], provider = "openai" }\n\n'
        '[[budgets]]\nname = "fy"\namount = 150000\nperiod = "fiscal_year"\nfiscal_year_start_month = 2\n')
    out = run_cli("budgets", "status", "--today", "2026-04-06", "--format", "json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    with open_store(ledger) as store:
        lib = budget_status(store, load_settings(tmp_path / "aispend.toml"), DEMO_TODAY)
    assert [r["name"] for r in rows] == ["search", "fy"]
    for r, s in zip(rows, lib, strict=True):
        assert D(r["spent_usd"]) == s.spent_usd and D(r["forecast_usd"]) == s.forecast_usd  # exact strings
        assert r["scope"] == s.scope and r["period_label"] == s.period.label
    assert rows[0]["scope"] == {"owner": ["search"], "provider": ["openai"]}
    table = run_cli("budgets", "status", "--today", "2026-04-06", cwd=tmp_path)
    assert table.returncode == 0 and "FY2027" in table.stdout and "forecast 100%" in table.stdout
    csv = run_cli("budgets", "status", "--today", "2026-04-06", "--format", "csv", cwd=tmp_path)
    assert csv.stdout.splitlines()[1].startswith('search,"owner=search,provider=openai",month,2026-04,')
    (tmp_path / "aispend.toml").write_text(f'[store]\nurl = {toml_str(ledger)}\n')
    none = run_cli("budgets", "status", cwd=tmp_path)
    assert none.returncode == 1 and "no budgets configured" in none.stderr
