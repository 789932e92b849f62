"""Month-end forecast: known answers on generated spend, a backtest on the demo, the CLI."""

from __future__ import annotations

import json
import math
import random
import statistics
from datetime import date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest

from aispend.analysis.forecast import ForecastError, forecast, forecast_with_total, period_bounds
from aispend.config import Settings
from aispend.demo import run_demo
from aispend.schema import ARROW_SCHEMA
from aispend.store import open_store

from .conftest import run_cli

# --- generated spend with a known pattern ------------------------------------------------------------

WEEKDAY, WEEKEND = 100.0, 40.0  # USD a day at the start
GROWTH = 0.003  # +0.3% a day (~9.5% a month)
NOISE = 0.05  # lognormal sigma of each day
FIRST = date(2026, 1, 5)  # a Monday; ten weeks before the forecast
AS_OF = date(2026, 3, 16)
MARCH_END = date(2026, 4, 1)
PLAN_FEE = Decimal(500)  # a monthly fee: spend, not a rate


def expected_day(day: date) -> float:
    """The mean of a day's spend by construction (E[lognormal] = exp(sigma^2 / 2))."""
    base = WEEKEND if day.weekday() >= 5 else WEEKDAY
    return base * (1 + GROWTH * (day - FIRST).days) * math.exp(NOISE**2 / 2)


def generate(seed: int, first: date = FIRST, last: date = MARCH_END, noise: float = NOISE,
             spikes: tuple[date, ...] = ()) -> list[tuple[datetime, datetime, str, Decimal]]:
    rng = random.Random(seed)
    out = []
    day = first
    while day < last:
        cost = expected_day(day) / math.exp(NOISE**2 / 2) * math.exp(rng.gauss(0, noise))
        cost *= 10 if day in spikes else 1
        out.append((_dt(day), _dt(day + timedelta(days=1)), "openai", Decimal(f"{cost:.6f}")))
        day += timedelta(days=1)
    for month in (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)):
        if month >= first.replace(day=1):
            end = period_bounds("month", month.strftime("%Y-%m"))[2]
            out.append((_dt(month), _dt(end), "vectorbase", PLAN_FEE))
    return out


def load(store, entries, feature=lambda i: None) -> None:
    rows = []
    for i, (start, end, provider, cost) in enumerate(entries):
        row = dict.fromkeys(ARROW_SCHEMA.names)
        row.update(row_id=f"r{i}", source="gen", period_start=start, period_end=end, provider=provider,
                   feature=feature(i),
                   charge_category="usage" if provider == "openai" else "purchase", billed_cost=cost, cost_usd=cost,
                   billing_currency="USD", cost_source="billed", billing_period=start.strftime("%Y-%m"))
        rows.append(row)
    with store.transaction() as tx:
        tx.append("ledger", pa.Table.from_pylist(rows, schema=ARROW_SCHEMA))


def _dt(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def truth(entries, start: date, end: date) -> Decimal:
    return sum((c for s, _, _, c in entries if _dt(start) <= s < _dt(end)), Decimal(0))


SEEDS = range(30)


def test_known_pattern_lands_near_the_constructed_answer_and_covers_the_truth(ledger_url):
    """Thirty scopes with the same weekday/weekend levels and trend, different noise."""
    entries = {seed: generate(seed) for seed in SEEDS}
    with open_store(ledger_url("gen")) as store:
        load(store, [e for seed in SEEDS for e in entries[seed]], feature=lambda i: f"f{i // len(entries[0])}")
        results = {seed: forecast(store, month="2026-03", as_of=AS_OF, where={"feature": [f"f{seed}"]})[0]
                   for seed in SEEDS}
    rest = sum(expected_day(AS_OF + timedelta(days=i)) for i in range((MARCH_END - AS_OF).days))
    errors, covered = [], 0
    for seed, r in results.items():
        actual = truth(entries[seed], date(2026, 3, 1), AS_OF)
        expected = float(actual) + rest
        realised = truth(entries[seed], date(2026, 3, 1), MARCH_END)
        assert r.actual == actual  # exact, the monthly fee included
        assert r.method == "run-rate+weekday+trend" and r.history_days == 56 and r.remaining_days == 16
        assert r.lower < r.forecast < r.upper
        assert (r.forecast - r.actual) % Decimal("0.01") == 0  # the estimate is in cents
        errors.append((float(r.forecast) - expected) / expected)
        covered += r.lower <= realised <= r.upper
    mean_abs = statistics.mean(abs(e) for e in errors)
    print(f"known pattern: mean |error| {mean_abs:.2%}, worst {max(map(abs, errors)):.2%}, "
          f"bias {statistics.mean(errors):+.2%}, realised inside the 80% interval {covered}/{len(SEEDS)}")
    # Measured: mean |error| 1.07%, worst 2.9%, bias -0.75% (the damped trend), coverage 24/30.
    # Extrapolating the $500 monthly fee would add ~$260 (7%): it would fail the first bound.
    assert mean_abs < 0.02 and max(map(abs, errors)) < 0.05
    assert covered >= 0.65 * len(SEEDS)


def test_without_noise_the_answer_is_inside_the_interval(ledger_url):
    entries = generate(0, noise=0.0)  # weekday/weekend levels and the trend, nothing else
    with open_store(ledger_url("exact")) as store:
        load(store, entries)
        [r] = forecast(store, month="2026-03", as_of=AS_OF)
    answer = truth(entries, date(2026, 3, 1), MARCH_END)
    print(f"noiseless: forecast {r.forecast:.2f}, answer {answer:.2f}, interval [{r.lower:.2f}, {r.upper:.2f}]")
    # Measured: 0.7% low (half the slope is carried forward), the interval +-1.4%.
    assert abs(r.forecast - answer) / answer < Decimal("0.015")
    assert r.lower < answer < r.upper


def test_one_spike_day_in_the_history_barely_moves_the_forecast(ledger_url):
    spike = date(2026, 3, 11)  # a Wednesday in the last week: 10x its spend
    results = {}
    for name, spikes in (("clean", ()), ("spiked", (spike,))):
        with open_store(ledger_url(name)) as store:
            load(store, generate(7, spikes=spikes))
            [results[name]] = forecast(store, month="2026-03", as_of=AS_OF)
    clean, spiked = results["clean"], results["spiked"]
    added = spiked.actual - clean.actual  # nine days' worth of spend, in the actual
    assert added > 800
    estimate_shift = (spiked.forecast - spiked.actual) - (clean.forecast - clean.actual)
    # A plain mean of the last week would add ~$2,000; the winsorised level moves by noise only.
    assert abs(estimate_shift) < Decimal("0.05") * (clean.forecast - clean.actual)


def test_the_interval_widens_with_short_or_noisy_history(ledger_url):
    def width(name, **kw):
        with open_store(ledger_url(name)) as store:
            load(store, generate(11, **kw))
            [r] = forecast(store, month="2026-03", as_of=AS_OF)
        return float((r.upper - r.lower) / r.forecast), r

    long, _ = width("long")
    short, r_short = width("short", first=AS_OF - timedelta(days=5))
    noisy, _ = width("noisy", noise=0.3)
    print(f"relative width: 10 weeks {long:.1%}, 5 days {short:.1%}, noise 0.3 {noisy:.1%}")
    assert r_short.history_days == 5 and r_short.method == "run-rate"
    assert short > 3 * long and noisy > 2 * long


def test_a_lagging_source_has_its_missing_days_estimated_not_zeroed(ledger_url):
    with open_store(ledger_url("lag")) as store:
        load(store, [e for e in generate(5) if e[0] < _dt(AS_OF - timedelta(days=3)) or e[2] != "openai"])
        [late] = forecast(store, month="2026-03", as_of=AS_OF)
        [then] = forecast(store, month="2026-03", as_of=AS_OF - timedelta(days=3))
    assert late.observed_until == AS_OF - timedelta(days=3) and late.remaining_days == then.remaining_days == 19
    assert (late.forecast, late.lower, late.upper) == (then.forecast, then.lower, then.upper)


def test_a_silent_scope_forecasts_its_actual(ledger_url):
    entries = generate(3) + [(_dt(date(2026, 2, d)), _dt(date(2026, 2, d + 1)), "anthropic", Decimal(80))
                             for d in range(1, 20)]
    with open_store(ledger_url("silent")) as store:
        load(store, entries)
        scopes = forecast(store, month="2026-03", as_of=AS_OF, by=["provider"])
    by = {r.scope["provider"]: r for r in scopes}
    gone = by["anthropic"]
    assert (gone.actual, gone.forecast, gone.lower, gone.upper) == (0, 0, 0, 0)
    assert gone.method == "actual" and gone.last_period == Decimal(80 * 19)
    fee = by["vectorbase"]  # only a monthly fee: nothing to extrapolate
    assert fee.forecast == fee.actual == PLAN_FEE and fee.method == "actual"


def test_bad_arguments_say_what_to_do(store):
    with pytest.raises(ForecastError, match="not YYYY-MM"):
        forecast(store, month="March")
    with pytest.raises(ForecastError, match="choose month or quarter"):
        forecast(store, period="week")
    with pytest.raises(Exception, match="unknown dimension"):
        forecast(store, by=["team"])


# --- the demo: a backtest, finished periods, scopes that add up -----------------------------------

DEMO_TODAY = date(2026, 4, 6)  # six months: Nov 2025 .. Apr 6 2026
BACKTEST_MONTHS = ("2025-12", "2026-01", "2026-02", "2026-03")
BACKTEST_DAYS = (1, 4, 7, 10, 13, 16, 19, 22, 25, 28)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, make_ledger_url):
    """The demo's ledger, its URL (closed: each test opens it, the CLI too)."""
    root = tmp_path_factory.mktemp("forecast-demo")
    path = make_ledger_url(root, "ledger")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        with open_store(str(path)) as store:
            result = run_demo(store, Settings(), root / "work", DEMO_TODAY, seed=7, months=6)
    # The planted events fall in two of the backtest months: the migration cuts ~12% of the spend.
    assert (result.migration_day, result.runaway_day) == (date(2026, 1, 10), date(2026, 3, 27))
    return path, result


def month_total(store, month: str) -> Decimal:
    _, start, end = period_bounds("month", month)
    return store.query("SELECT sum(cost_usd) FROM ledger WHERE period_start >= ? AND period_start < ?",
                       [_dt(start), _dt(end)])[0][0]


def month_total_before(store, start: date, as_of: date) -> Decimal:
    return store.query("SELECT coalesce(sum(cost_usd), 0) FROM ledger WHERE period_start >= ? AND period_start < ?",
                       [_dt(start), _dt(as_of)])[0][0]


def test_backtest_on_the_demo(demo):
    path, result = demo
    events = (result.runaway_day, result.migration_day)
    rows = []
    with open_store(str(path)) as store:
        for month in BACKTEST_MONTHS:
            actual = month_total(store, month)
            _, start, end = period_bounds("month", month)
            for dom in BACKTEST_DAYS:
                as_of = start + timedelta(days=dom - 1)
                [r] = forecast(store, month=month, as_of=as_of)
                assert r.actual == month_total_before(store, start, as_of)
                # A planted event still ahead, or too recent to be in the level: no forecast sees it.
                surprise = any(as_of - timedelta(days=7) <= e < end for e in events)
                rows.append((dom, float((r.forecast - actual) / actual), r.lower <= actual <= r.upper, surprise))

    def mape(sel):
        return statistics.mean(abs(e) for _, e, _, _ in sel)

    def coverage(sel):
        return statistics.mean(c for _, _, c, _ in sel)

    calm = [r for r in rows if not r[3]]
    buckets = {name: [r for r in calm if lo <= r[0] <= hi] for name, lo, hi in
               (("days 1-10", 1, 10), ("days 11-20", 11, 20), ("days 21-28", 21, 28))}
    print(f"\nbacktest: {len(rows)} forecasts, MAPE {mape(rows):.2%}, 80% interval coverage {coverage(rows):.0%}")
    print(f"  without a planted event ahead: {len(calm)} forecasts, MAPE {mape(calm):.2%}, "
          f"coverage {coverage(calm):.0%}")
    print("  " + ", ".join(f"{k}: MAPE {mape(v):.2%}, coverage {coverage(v):.0%}" for k, v in buckets.items()))
    # Measured (seed 7): MAPE 4.05%, coverage 52%; without the events 1.93% and 79%; by day of
    # month 4.0%, 1.5%, 0.4%. The migration (~-12% a day from Jan 10) and the runaway day (+$800)
    # cannot be foreseen; the bounds below leave ~50% room, not licence.
    assert mape(rows) < 0.06
    assert mape(calm) < 0.03 and coverage(calm) >= 0.6
    assert mape(buckets["days 21-28"]) < mape(buckets["days 11-20"]) < mape(buckets["days 1-10"]) < 0.06
    # The day after the runaway day is in the history, the run rate ignores it.
    assert rows[-1][0] == 28 and abs(rows[-1][1]) < 0.01


def test_a_finished_period_forecasts_its_actual_exactly(demo):
    path, _ = demo
    with open_store(str(path)) as store:
        [jan] = forecast(store, month="2026-01", as_of=DEMO_TODAY)
        by = forecast(store, month="2026-01", as_of=date(2026, 2, 1), by=["provider"])
        [q4] = forecast(store, period="quarter", month="2025-11", as_of=DEMO_TODAY)
        sql = dict(store.query("SELECT provider, sum(cost_usd) FROM ledger WHERE period_start >= ? "
                               "AND period_start < ? GROUP BY 1", [datetime(2026, 1, 1), datetime(2026, 2, 1)]))
        q4_sql = month_total(store, "2025-11") + month_total(store, "2025-12")
    assert jan.forecast == jan.lower == jan.upper == jan.actual == sum(sql.values())
    assert jan.method == "complete" and jan.remaining_days == 0
    assert {r.scope["provider"]: r.forecast for r in by} == sql
    assert all(r.lower == r.upper == r.actual for r in by)
    assert q4.period == "2025-Q4" and q4.forecast == q4.actual == q4_sql


@pytest.mark.parametrize("by", [["provider"], ["customer", "feature"]])
def test_scopes_add_up_to_the_total_to_the_cent(demo, by):
    path, _ = demo
    with open_store(str(path)) as store:
        scopes, total = forecast_with_total(store, month="2026-02", as_of=date(2026, 2, 10), by=by)
        [alone] = forecast(store, month="2026-02", as_of=date(2026, 2, 10))
        [quarter] = forecast(store, period="quarter", as_of=date(2026, 2, 10))
        q_scopes = forecast(store, period="quarter", as_of=date(2026, 2, 10), by=by)
        ahead, ahead_total = forecast_with_total(store, month="2026-05", as_of=DEMO_TODAY, by=by)  # not begun
    assert (alone.forecast, alone.lower, alone.upper) == (total.forecast, total.lower, total.upper)
    assert len(scopes) > (40 if len(by) == 2 else 5)
    assert sum(r.actual for r in scopes) == total.actual  # exact
    assert sum(r.forecast for r in scopes) == total.forecast  # estimates: largest remainder, to the cent
    assert sum(r.forecast for r in q_scopes) == quarter.forecast
    assert ahead_total.actual == 0 and ahead_total.remaining_days == 31
    assert sum(r.forecast for r in ahead) == ahead_total.forecast > total.forecast
    for r in scopes:
        assert r.lower <= r.forecast <= r.upper
        assert (r.forecast - r.actual) % Decimal("0.01") == 0
    assert quarter.period == "2026-Q1" and quarter.remaining_days == 50
    assert quarter.forecast > 2 * total.forecast


def test_cli_forecast_json_matches_the_library(demo, tmp_path):
    path, _ = demo
    cwd = tmp_path  # any directory without an aispend.toml: the ledger is named by --store
    args = ("--store", str(path), "forecast", "--month", "2026-02", "--as-of", "2026-02-10")
    out = run_cli(*args, "--by", "provider", "--format", "json", cwd=cwd)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    with open_store(str(path)) as store:
        [total] = forecast(store, month="2026-02", as_of=date(2026, 2, 10))
        lib = {r.scope["provider"]: r for r in forecast(store, month="2026-02", as_of=date(2026, 2, 10),
                                                         by=["provider"])}
    assert {r["provider"] for r in rows} == set(lib) == {"openai", "anthropic", "aws", "azure", "gcp", "vectorbase"}
    for row in rows:
        r = lib[row["provider"]]
        assert Decimal(row["forecast_usd"]) == r.forecast and Decimal(row["actual_usd"]) == r.actual
        assert Decimal(row["lower_usd"]) <= Decimal(row["forecast_usd"]) <= Decimal(row["upper_usd"])
        assert row["period"] == "2026-02" and row["as_of"] == "2026-02-10" and row["remaining_days"] == 19
    assert sum(Decimal(r["forecast_usd"]) for r in rows) == total.forecast

    table = run_cli(*args, "--by", "provider", cwd=cwd)
    assert table.returncode == 0 and "TOTAL" in table.stdout and f"{total.forecast:,.2f}" in table.stdout
    bad = run_cli(*args, "--by", "team", cwd=cwd)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "unknown dimension(s) team" in bad.stderr
