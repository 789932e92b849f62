"""API sync against a real local HTTP server speaking Anthropic's Admin API wire format."""

from __future__ import annotations

import json
import logging
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from aispend.connectors import make_connector
from aispend.store import open_store
from aispend.sync import renormalize

from .fakes.anthropic_server import KEY, TOKENS, FakeAnthropic, Fault
from .sync_helpers import Killed, billed, ledger, run_sync, settings_for

JAN, APR = date(2026, 1, 1), date(2026, 4, 1)
WEEK = (date(2026, 3, 1), date(2026, 3, 8))
COST, USAGE = "/organizations/cost_report", "/organizations/usage_report/messages"


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("ANT_ADMIN_KEY", KEY)
    with FakeAnthropic(seed=11) as server:
        yield server


def ant(fake, **extra):
    return {"type": "anthropic", "api_key": {"env": "ANT_ADMIN_KEY"}, "base_url": fake.base_url, **extra}


@pytest.fixture
def settings(workdir, fake):
    return settings_for(workdir, {"ant": ant(fake)})


def run(store, settings, window=WEEK, **kw):
    return run_sync(store, settings, window, **kw)


def statuses(fake, fragment):
    return [s for p, _, s in fake.requests if p.endswith(fragment)]


def test_a_90_day_backfill_follows_the_cursor_and_matches_the_vendor_in_cents(store, settings, fake):
    began = time.monotonic()
    [r] = run(store, settings, (JAN, APR))
    assert r.status == "ok", r.error
    assert time.monotonic() - began < 10
    # 90 days at 31 buckets a page: 31 + 31 + 28, for the cost report and the usage report
    assert r.requests == len(fake.requests) == 6 and r.pages == 6
    assert dict(store.query("SELECT endpoint, count(*) FROM raw_pages GROUP BY endpoint")) == \
        {"cost_report": 3, "usage_report.messages": 3}
    first, second = [q for p, q, _ in fake.requests if p.endswith(USAGE)][:2]
    assert ("starting_at", "2026-01-01T00:00:00Z") in first and ("ending_at", "2026-04-01T00:00:00Z") in first
    assert ("group_by[]", "model") in first and ("limit", "31") in first
    assert second[-1][0] == "page" and second[-1][1].startswith("page_")  # the opaque cursor was followed
    # cents read as cents: the ledger's dollars are exactly the report's cents / 100
    assert billed(store, "ant") == fake.cost_cents(JAN, APR) / 100 > 0
    assert store.query("SELECT count(DISTINCT period_start) FROM ledger WHERE source = 'ant:usage'")[0][0] == 90
    assert store.query("SELECT DISTINCT cost_source FROM ledger WHERE source = 'ant:usage'") == [("estimated",)]


def test_each_amount_is_its_cents_string_divided_by_100(store, settings, fake):
    run(store, settings, (date(2026, 3, 1), date(2026, 3, 2)))
    [(body,)] = store.query("SELECT body FROM raw_pages WHERE endpoint = 'cost_report'")
    results = json.loads(body)["data"][0]["results"]
    assert all(isinstance(r["amount"], str) for r in results)
    assert any("." in r["amount"] and len(r["amount"].split(".")[1]) > 2 for r in results)  # fractional cents
    for r in results:
        got = store.query("SELECT billed_cost FROM ledger WHERE source = 'ant' AND description = ? "
                          "AND project IS NOT DISTINCT FROM ?", [r["description"], r["workspace_id"]])
        assert got == [(Decimal(r["amount"]) / 100,)], r


def test_cache_tokens_are_counted_once_inside_input_tokens(store, settings, fake):
    run(store, settings)
    want = fake.usage_totals(*WEEK)
    uncached, output, read, w5m, w1h = (want[k] for k in TOKENS)
    got = store.query("SELECT sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens) "
                      "FROM ledger WHERE source = 'ant:usage'")[0]
    assert read > 0 and w5m > 0 and w1h > 0
    assert got == (uncached + read + w5m + w1h, read, w5m + w1h, output)
    tagged = store.query("SELECT sum(CAST(json_extract_string(tags, '$.cache_write_1h_tokens') AS BIGINT)) "
                         "FROM ledger WHERE source = 'ant:usage'")[0][0]
    assert tagged == w1h


def test_hourly_usage_pages_by_the_hourly_limit_and_costs_stay_daily(store, settings, fake):
    window = (date(2026, 3, 1), date(2026, 3, 11))
    [r] = run(store, settings, window, granularity="1h")
    assert r.status == "ok", r.error
    assert r.requests == 1 + 2  # costs: 10 days in one page; usage: 240 hourly buckets = 168 + 72
    assert {dict(q)["bucket_width"] for p, q, _ in fake.requests if p.endswith(COST)} == {"1d"}
    assert {dict(q)["limit"] for p, q, _ in fake.requests if p.endswith(USAGE)} == {"168"}
    hours = store.query("SELECT count(DISTINCT period_start) FROM ledger WHERE source = 'ant:usage'")[0][0]
    assert hours == 240
    want = fake.usage_totals(*window, width="1h")
    assert store.query("SELECT sum(input_tokens) FROM ledger WHERE source = 'ant:usage'")[0][0] == \
        sum(want[k] for k in TOKENS if k != "output_tokens")
    assert billed(store, "ant") == fake.cost_cents(*window) / 100


def test_the_fake_refuses_what_the_real_api_refuses(fake):
    """The fake is strict, so a connector passing against it sends the documented request."""
    base = fake.base_url + COST
    good = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    ok = {"starting_at": "2026-01-01T00:00:00Z", "ending_at": "2026-01-03T00:00:00Z"}
    cases = [
        ({"x-api-key": KEY}, ok, 400, "anthropic-version"),
        ({"Authorization": f"Bearer {KEY}", "anthropic-version": "2023-06-01"}, ok, 401, "x-api-key"),
        (good, {"ending_at": "2026-01-03T00:00:00Z"}, 400, "starting_at: Field required"),
        (good, {**ok, "starting_at": "1735689600"}, 400, "RFC 3339"),
        (good, {**ok, "bucket_width": "1h"}, 400, "bucket_width"),
        (good, {**ok, "limit": "32"}, 400, "between 1 and 31"),
        (good, {**ok, "group_by": "description"}, 400, "group_by[]"),
        (good, {**ok, "group_by[]": "model"}, 400, "group_by[]"),
    ]
    for headers, params, status, needle in cases:
        response = httpx.get(base, params=params, headers=headers)
        body = response.json()
        assert response.status_code == status and body["type"] == "error", (params, body)
        assert needle in body["error"]["message"] and body["request_id"].startswith("req_")
    page = httpx.get(base, params=ok, headers=good).json()
    assert set(page) == {"data", "has_more", "next_page"} and len(page["data"]) == 2


def test_429_with_retry_after_is_waited_for_then_succeeds(store, settings, fake):
    fake.faults.append(Fault("429", COST, retry_after=1))
    began = time.monotonic()
    [r] = run(store, settings)
    assert r.status == "ok" and r.requests == 3 and r.waited == 1.0
    assert time.monotonic() - began >= 1.0
    assert statuses(fake, COST) == [429, 200]


@pytest.mark.parametrize("status", ["500", "529"])
def test_500_and_overloaded_529_are_retried_with_backoff(store, settings, fake, status):
    fake.faults.append(Fault(status, USAGE, times=2))
    [r] = run(store, settings)
    assert r.status == "ok" and r.requests == 4 and 0 < r.waited < 1
    assert statuses(fake, USAGE) == [int(status), int(status), 200]


def test_a_bad_key_names_the_admin_key_and_other_sources_still_sync(workdir, store, fake, monkeypatch, caplog):
    wrong = "sk-ant-api03-WRONG.key.do.not.print"
    monkeypatch.setenv("BAD_KEY", wrong)
    settings = settings_for(workdir, {"bad": ant(fake, api_key={"env": "BAD_KEY"}), "good": ant(fake)})
    caplog.set_level(logging.DEBUG)
    bad, good = run(store, settings)
    assert bad.status == "failed" and good.status == "ok"
    assert "401" in bad.error and "invalid x-api-key" in bad.error and "env:BAD_KEY" in bad.error
    assert "check the admin key" in bad.error and "Admin API key (sk-ant-admin01-" in bad.error
    assert "GET http://127.0.0.1" in bad.error and COST in bad.error
    assert wrong not in bad.error and wrong not in caplog.text
    assert store.query("SELECT last_error IS NOT NULL, cursor FROM sync_state WHERE source = 'bad'") == [(True, None)]
    assert store.query("SELECT DISTINCT source FROM ledger ORDER BY 1") == [("good",), ("good:usage",)]


def test_a_malformed_page_names_endpoint_and_page_and_changes_nothing(store, settings, fake):
    assert run(store, settings, (JAN, APR))[0].status == "ok"
    before, cursor = ledger(store, stable=False), store.query("SELECT cursor FROM sync_state")
    raw = store.query("SELECT count(*), max(fetched_at) FROM raw_pages")
    fake.faults.append(Fault("malformed", USAGE, page=2))
    [r] = run(store, settings, (JAN, APR))
    assert r.status == "failed" and "ant: usage_report.messages page 2: the response is not JSON" in r.error
    assert ledger(store, stable=False) == before and store.query("SELECT cursor FROM sync_state") == cursor
    assert store.query("SELECT count(*), max(fetched_at) FROM raw_pages") == raw


@pytest.mark.parametrize(("endpoint", "where"), [
    (COST, "cost_report page 1: malformed page at .data[0].results[0].amount: not a decimal string (cents)"),
    (USAGE, "usage_report.messages page 1: malformed page at .data[0].results[0].output_tokens: not a whole number"),
])
def test_a_bad_record_is_reported_with_its_page_and_position(store, settings, fake, endpoint, where):
    fake.faults.append(Fault("bad_record", endpoint))
    [r] = run(store, settings)
    assert r.status == "failed" and where in r.error and "ledger is unchanged" in r.error, r.error
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 0
    assert store.query("SELECT count(*) FROM raw_pages")[0][0] == 0


def test_an_empty_window_loads_nothing_and_a_day_gone_empty_converges(store, settings, fake):
    fake.empty_days = {WEEK[0] + timedelta(days=i) for i in range(7)}
    [r] = run(store, settings)
    assert r.status == "ok" and r.rows == 0 and r.pages == 2
    fake.empty_days = set()
    assert run(store, settings)[0].rows > 0
    fake.empty_days = {WEEK[0]}
    run(store, settings)
    assert store.query("SELECT count(*) FROM ledger WHERE period_start = ?", [WEEK[0]])[0][0] == 0


def test_a_restated_day_takes_the_new_value(store, settings, fake):
    now = datetime(2026, 3, 10, 15)
    run(store, settings, (None, None), now=now)  # first run: the last 30 days
    day = datetime(2026, 3, 9)
    old = store.query("SELECT sum(billed_cost), count(*) FROM ledger WHERE source = 'ant' AND period_start = ?",
                      [day])[0]
    fake.restate(day.date())
    [r] = run(store, settings, (None, None), now=now + timedelta(days=1))
    assert (r.window_start, r.window_end) == (datetime(2026, 3, 8), datetime(2026, 3, 12))  # cursor - 3 days
    new = store.query("SELECT sum(billed_cost), count(*) FROM ledger WHERE source = 'ant' AND period_start = ?",
                      [day])[0]
    assert new[0] != old[0] and new[0] == fake.cost_cents(day.date(), day.date() + timedelta(days=1)) / 100
    assert new[1] == old[1]  # restated, never doubled
    assert billed(store, "ant") == fake.cost_cents(date(2026, 2, 9), date(2026, 3, 12)) / 100


@pytest.mark.parametrize("kill_at", ["page", "loading"])
def test_a_sync_killed_midway_leaves_everything_as_it_was_and_a_rerun_is_exact(workdir, store, settings, fake, kill_at,
                                                                              ledger_url):
    run(store, settings, (date(2026, 2, 1), date(2026, 2, 15)))
    before, state = ledger(store, stable=False), store.query("SELECT * FROM sync_state")
    raw = store.query("SELECT count(*) FROM raw_pages")
    seen = []

    def die(event):
        seen.append(event.kind)
        if event.kind == kill_at and len(seen) > 3:
            raise Killed
    with pytest.raises(Killed):
        run(store, settings, (JAN, APR), on_event=die)
    assert ledger(store, stable=False) == before and store.query("SELECT * FROM sync_state") == state
    assert store.query("SELECT count(*) FROM raw_pages") == raw
    [r] = run(store, settings, (JAN, APR))
    assert r.status == "ok" and billed(store, "ant") == fake.cost_cents(JAN, APR) / 100
    with open_store(ledger_url("clean")) as clean:
        run(clean, settings, (JAN, APR))
        assert ledger(clean) == ledger(store)


def test_two_syncs_in_a_row_change_nothing(store, settings):
    run(store, settings)
    first = ledger(store)
    [r] = run(store, settings)
    assert r.replaced == r.rows == len(first) and ledger(store) == first


def test_renormalize_rebuilds_identical_rows_without_the_network(workdir, store, fake):
    settings = settings_for(workdir, {"ant": ant(fake, environment="prod")})
    run(store, settings, (date(2026, 1, 1), date(2026, 1, 20)))
    fake.restate(date(2026, 1, 16))
    run(store, settings, (date(2026, 1, 15), date(2026, 2, 5)))
    before = ledger(store, stable=False)
    store.query("DELETE FROM ledger")
    hits = len(fake.requests)
    [r] = renormalize(store, settings)
    assert len(fake.requests) == hits and r.rows == len(before) and ledger(store, stable=False) == before


def test_check_makes_one_authenticated_call(workdir, fake, settings):
    connector = make_connector("ant", settings.sources["ant"])
    with connector.client() as http:
        said = connector.check(http)
    assert said.startswith("admin key accepted; cost report readable") and http.requests == 1
    [(path, params, status)] = fake.requests
    assert path.endswith(COST) and status == 200 and dict(params)["limit"] == "1"
