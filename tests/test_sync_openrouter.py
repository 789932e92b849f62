"""API sync against a real local HTTP server speaking OpenRouter's activity API wire format.

The connector's and the fake's "today" are pinned to TODAY, so the API's reach (the last 30
completed UTC days) is 2026-03-02 .. 2026-03-31.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from aispend.connectors import make_connector
from aispend.connectors import openrouter as connector_module
from aispend.store import open_store
from aispend.sync import renormalize

from .fakes.openrouter_server import INFERENCE_KEY, KEY, KEY_HASHES, PATH, FakeOpenRouter, Fault
from .sync_helpers import billed, ledger, run_sync, settings_for

TODAY = date(2026, 4, 1)
EARLIEST = TODAY - timedelta(days=30)  # 2026-03-02
MONTH = (EARLIEST, TODAY)  # everything the API can give
WEEK = (date(2026, 3, 20), date(2026, 3, 27))


def days(window):
    start, end = window
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days)]


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("OR_MGMT_KEY", KEY)
    monkeypatch.setattr(connector_module, "utc_today", lambda: TODAY)
    with FakeOpenRouter(seed=11, today=TODAY) as server:
        yield server


def orc(fake, **extra):
    return {"type": "openrouter", "api_key": {"env": "OR_MGMT_KEY"}, "base_url": fake.base_url, **extra}


@pytest.fixture
def settings(workdir, fake):
    return settings_for(workdir, {"or": orc(fake)})


def run(store, settings, window=WEEK, **kw):
    return run_sync(store, settings, window, **kw)


def statuses(fake):
    return [s for p, _, s in fake.requests if p == PATH]


def test_a_30_day_backfill_is_one_request_per_day_and_matches_the_vendor_exactly(store, settings, fake):
    began = time.monotonic()
    [r] = run(store, settings, MONTH)
    assert r.status == "ok", r.error
    assert time.monotonic() - began < 10
    assert r.requests == r.pages == 30 and fake.dates() == days(MONTH)
    assert store.query("SELECT count(*), min(endpoint), max(endpoint) FROM raw_pages") == [(30, "activity", "activity")]
    items = fake.items(*MONTH)
    assert r.rows == len(items) == store.query("SELECT count(*) FROM ledger")[0][0]
    # dollars read from the JSON text, never through a float: the exact decimal total
    want = fake.usage_total(*MONTH)
    assert billed(store, "or") == want > 0
    assert Decimal(repr(sum(i["usage"] for i in items))) != want  # summing floats would be off
    assert store.query("SELECT count(DISTINCT period_start), min(period_start), max(period_end) FROM ledger") == \
        [(30, datetime(2026, 3, 2), datetime(2026, 4, 1))]
    assert store.query("SELECT DISTINCT cost_source, provider, billing_currency FROM ledger") == \
        [("billed", "openrouter", "USD")]


def test_each_amount_is_the_json_numbers_exact_text(store, settings, fake):
    run(store, settings, (date(2026, 3, 20), date(2026, 3, 21)))
    [(body,)] = store.query("SELECT body FROM raw_pages")
    assert "e-0" in body  # tiny amounts come in exponent form, as JavaScript prints them
    for item in json.loads(body, parse_float=Decimal)["data"]:
        got = store.query("SELECT billed_cost FROM ledger WHERE sku = ?", [item["endpoint_id"]])
        assert got == [(item["usage"],)], item


def test_a_window_older_than_30_days_is_refused_and_names_the_earliest_start(store, settings, fake):
    run(store, settings, WEEK)
    before = ledger(store, stable=False)
    [r] = run(store, settings, (date(2026, 1, 1), TODAY))  # a 90-day backfill
    assert r.status == "failed" and r.requests == 0
    assert "last 30 completed UTC days" in r.error and "cannot be pulled" in r.error
    assert "--start 2026-03-02" in r.error and "Nothing was loaded" in r.error
    assert ledger(store, stable=False) == before and fake.dates() == days(WEEK)


def test_today_and_later_are_not_asked_for(store, settings, fake):
    [r] = run(store, settings, (date(2026, 3, 29), TODAY + timedelta(days=3)))
    assert r.status == "ok" and fake.dates() == ["2026-03-29", "2026-03-30", "2026-03-31"]
    [r] = run(store, settings, (TODAY, TODAY + timedelta(days=1)))
    assert r.status == "ok" and r.requests == 0 and r.rows == 0
    assert store.query("SELECT max(period_start) FROM ledger")[0][0] == datetime(2026, 3, 31)


def test_the_first_run_pulls_the_last_30_days_and_the_next_one_only_the_tail(store, settings, fake, monkeypatch):
    now = datetime(2026, 4, 1, 6)
    [r] = run(store, settings, (None, None), now=now)
    assert (r.window_start, r.window_end) == (datetime(2026, 3, 3), datetime(2026, 4, 2))
    assert r.status == "ok" and r.requests == 29  # 03-03 .. 03-31; today is not complete
    fake.requests.clear()
    later = TODAY + timedelta(days=1)
    monkeypatch.setattr(connector_module, "utc_today", lambda: later)  # a day on
    fake.today = later
    [r] = run(store, settings, (None, None), now=now + timedelta(days=1))
    assert (r.window_start, r.window_end) == (datetime(2026, 3, 30), datetime(2026, 4, 3))
    assert fake.dates() == ["2026-03-30", "2026-03-31", "2026-04-01"]
    assert billed(store, "or") == fake.usage_total(date(2026, 3, 3), later)


def test_an_automatic_sync_after_a_long_gap_pulls_what_the_api_still_has(store, settings, fake, monkeypatch):
    run(store, settings, WEEK)  # cursor: 2026-03-27
    fake.requests.clear()
    later = TODAY + timedelta(days=40)
    monkeypatch.setattr(connector_module, "utc_today", lambda: later)
    fake.today = later
    [r] = run(store, settings, (None, None), now=datetime.combine(later, datetime.min.time()))
    assert r.status == "ok", r.error
    assert r.window_start == datetime.combine(later - timedelta(days=30), datetime.min.time())
    assert fake.dates()[0] == f"{later - timedelta(days=30):%Y-%m-%d}"


def test_tokens_reasoning_is_inside_output_and_prompt_is_input(store, settings, fake):
    run(store, settings)
    items = fake.items(*WEEK)
    got = store.query("SELECT sum(input_tokens), sum(output_tokens), sum(reasoning_tokens), sum(requests) "
                      "FROM ledger")[0]
    want = tuple(sum(i[k] for i in items) for k in ("prompt_tokens", "completion_tokens", "reasoning_tokens",
                                                    "requests"))
    assert got == want and want[2] > 0
    assert store.query("SELECT count(*) FROM ledger WHERE reasoning_tokens > output_tokens")[0][0] == 0
    assert store.query("SELECT count(*) FROM ledger WHERE tags->>'reasoning_tokens_separate' IS NOT NULL")[0][0] == 0


def test_dimensions_publisher_model_and_byok(store, settings, fake):
    run(store, settings)
    rows = store.query("SELECT DISTINCT publisher, model_raw, model, pricing_status FROM ledger ORDER BY 1, 2")
    assert rows == [
        ("anthropic", "anthropic/claude-sonnet-4.5", "anthropic/claude-sonnet-4.5", "priced"),
        ("deepseek", "deepseek/deepseek-r1", "deepseek/deepseek-r1", "priced"),
        ("meta-llama", "meta-llama/llama-3.3-70b-instruct", "meta-llama/llama-3.3-70b-instruct", "priced"),
        ("openai", "openai/gpt-4.1", "openai/gpt-4.1", "priced"),
        ("openai", "openai/o3-mini", "openai/o3-mini", "priced"),
    ]
    # BYOK inference is paid to the upstream provider: a tag, never billed by OpenRouter
    byok = [i for i in fake.items(*WEEK) if i["byok_usage_inference"]]
    assert byok
    tagged = store.query("SELECT sum(CAST(tags->>'byok_usage_inference' AS DECIMAL(38, 18))), sum(billed_cost) "
                         "FROM ledger WHERE tags->>'byok_usage_inference' IS NOT NULL")[0]
    assert tagged == (sum(Decimal(repr(i["byok_usage_inference"])) for i in byok),
                      sum(Decimal(repr(i["usage"])) for i in byok))
    assert tagged[1] < tagged[0]  # the 5% fee, not the inference
    sample = json.loads(store.query("SELECT tags FROM ledger WHERE sku = 'ep-3d4e5f6a-sonnet-bedrock' LIMIT 1")[0][0])
    assert sample["provider_name"] == "Amazon Bedrock" and sample["model_permaslug"].startswith("anthropic/claude-4.5")


def test_the_api_key_hash_filter_is_sent_and_narrows_the_rows(workdir, store, fake):
    settings = settings_for(workdir, {"or": orc(fake, api_key_hash=KEY_HASHES[1].upper())})
    [r] = run(store, settings)
    assert r.status == "ok", r.error
    assert {dict(q)["api_key_hash"] for _, q, _ in fake.requests} == {KEY_HASHES[1]}
    assert billed(store, "or") == fake.usage_total(*WEEK, KEY_HASHES[1]) < fake.usage_total(*WEEK)


def test_a_bad_filter_is_refused_before_any_request(workdir, fake):
    from aispend.errors import ConfigError
    with pytest.raises(ConfigError) as exc:
        settings_for(workdir, {"or": orc(fake, api_key_hash="not-a-hash")})
    assert "api_key_hash" in str(exc.value) and fake.requests == []


def test_the_fake_refuses_what_the_real_api_refuses(fake):
    """The fake is strict, so a connector passing against it sends the documented request."""
    url = fake.base_url + "/activity"
    good = {"Authorization": f"Bearer {KEY}"}
    cases = [
        ({}, {}, 401, "No auth credentials found"),
        ({"Authorization": "Bearer sk-or-v1-nope"}, {}, 401, "User not found."),
        ({"Authorization": f"Bearer {INFERENCE_KEY}"}, {}, 403, "management keys"),
        (good, {"date": "2026-03-01"}, 400, "last 30 completed UTC days"),
        (good, {"date": "2026-04-01"}, 400, "last 30 completed UTC days"),  # today is not complete
        (good, {"date": "20260310"}, 400, "YYYY-MM-DD"),
        (good, {"start_date": "2026-03-10"}, 400, "Invalid query parameter"),
        (good, {"api_key_hash": "xyz"}, 400, "SHA-256"),
    ]
    for headers, params, status, needle in cases:
        response = httpx.get(url, params=params, headers=headers)
        body = response.json()
        assert response.status_code == status and body["error"]["code"] == status, (params, body)
        assert needle in body["error"]["message"]
    everything = httpx.get(url, headers=good).json()
    assert set(everything) == {"data"} and {i["date"] for i in everything["data"]} == set(days(MONTH))
    one = httpx.get(url, params={"date": "2026-03-02"}, headers=good).json()
    assert {i["date"] for i in one["data"]} == {"2026-03-02"}


def test_429_with_retry_after_is_waited_for_then_succeeds(store, settings, fake):
    fake.faults.append(Fault("429", date(2026, 3, 22), retry_after=1))
    began = time.monotonic()
    [r] = run(store, settings)
    assert r.status == "ok" and r.requests == 8 and r.waited == 1.0
    assert time.monotonic() - began >= 1.0
    assert statuses(fake) == [200, 200, 429, 200, 200, 200, 200, 200]
    assert billed(store, "or") == fake.usage_total(*WEEK)


def test_500_is_retried_with_backoff_then_succeeds(store, settings, fake):
    fake.faults.append(Fault("500", date(2026, 3, 20), times=2))
    [r] = run(store, settings)
    assert r.status == "ok" and r.requests == 9 and 0 < r.waited < 1
    assert statuses(fake)[:3] == [500, 500, 200]


@pytest.mark.parametrize(("key", "status", "said"), [
    ("sk-or-v1-WRONG.key.do.not.print", 401, "User not found."),
    (INFERENCE_KEY, 403, "Only management keys"),
])
def test_a_refused_key_names_the_management_key_and_other_sources_still_sync(
        workdir, store, fake, monkeypatch, caplog, key, status, said):
    monkeypatch.setenv("BAD_KEY", key)
    settings = settings_for(workdir, {"bad": orc(fake, api_key={"env": "BAD_KEY"}), "good": orc(fake)})
    caplog.set_level(logging.DEBUG)
    bad, good = run(store, settings)
    assert bad.status == "failed" and good.status == "ok"
    assert str(status) in bad.error and said in bad.error and "env:BAD_KEY" in bad.error
    assert "check the management key" in bad.error and "not an inference API key" in bad.error
    assert "GET http://127.0.0.1" in bad.error and "/activity" in bad.error and bad.requests == 1
    assert key not in bad.error and key not in caplog.text
    assert store.query("SELECT last_error IS NOT NULL, cursor FROM sync_state WHERE source = 'bad'") == [(True, None)]
    assert store.query("SELECT DISTINCT source FROM ledger") == [("good",)]


def test_a_malformed_page_names_endpoint_and_page_and_changes_nothing(store, settings, fake):
    assert run(store, settings, MONTH)[0].status == "ok"
    before, cursor = ledger(store, stable=False), store.query("SELECT cursor FROM sync_state")
    raw = store.query("SELECT count(*), max(fetched_at) FROM raw_pages")
    fake.faults.append(Fault("malformed", date(2026, 3, 4)))
    [r] = run(store, settings, MONTH)
    assert r.status == "failed" and "or: activity page 3: the response is not JSON" in r.error
    assert ledger(store, stable=False) == before and store.query("SELECT cursor FROM sync_state") == cursor
    assert store.query("SELECT count(*), max(fetched_at) FROM raw_pages") == raw


def test_a_bad_record_is_reported_with_its_page_and_position(store, settings, fake):
    fake.faults.append(Fault("bad_record", date(2026, 3, 21)))
    [r] = run(store, settings)
    assert r.status == "failed", r.error
    assert "activity page 2: malformed page at .data[0].usage: not a number (USD)" in r.error
    assert "'twelve cents'" in r.error and "ledger is unchanged" in r.error
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 0
    assert store.query("SELECT count(*) FROM raw_pages")[0][0] == 0


def test_an_empty_window_loads_nothing_and_a_day_gone_empty_converges(store, settings, fake):
    fake.empty_days = set(map(date.fromisoformat, days(WEEK)))
    [r] = run(store, settings)
    assert r.status == "ok" and r.rows == 0 and r.pages == 7
    assert store.query("SELECT DISTINCT body FROM raw_pages") == [('{"data": []}',)]
    fake.empty_days = set()
    assert run(store, settings)[0].rows > 0
    fake.empty_days = {WEEK[0]}
    run(store, settings)
    assert store.query("SELECT count(*) FROM ledger WHERE period_start = ?", [WEEK[0]])[0][0] == 0
    assert billed(store, "or") == fake.usage_total(*WEEK)


def test_a_restated_day_takes_the_new_value_and_keeps_its_row_ids(store, settings, fake):
    run(store, settings)
    day = date(2026, 3, 24)
    q = "SELECT sum(billed_cost), count(*), list(row_id ORDER BY row_id) FROM ledger WHERE period_start = ?"
    old = store.query(q, [day])[0]
    fake.restate(day)
    [r] = run(store, settings)
    new = store.query(q, [day])[0]
    assert r.status == "ok" and new[0] != old[0] and new[0] == fake.usage_total(day, day + timedelta(days=1))
    assert billed(store, "or") == fake.usage_total(*WEEK)  # restated, never doubled
    same = set(old[2]) & set(new[2])
    assert same and len(new[2]) == new[1]  # an endpoint used both times keeps its id


def test_two_syncs_in_a_row_change_nothing(store, settings):
    run(store, settings)
    first = ledger(store)
    [r] = run(store, settings)
    assert r.replaced == r.rows == len(first) and ledger(store) == first


def test_renormalize_rebuilds_identical_rows_without_the_network(workdir, store, fake):
    settings = settings_for(workdir, {"or": orc(fake, environment="prod")})
    run(store, settings, (date(2026, 3, 5), date(2026, 3, 15)))
    fake.restate(date(2026, 3, 14))
    run(store, settings, (date(2026, 3, 13), date(2026, 3, 20)))
    before = ledger(store, stable=False)
    assert store.query("SELECT DISTINCT environment FROM ledger") == [("prod",)]
    store.query("DELETE FROM ledger")
    hits = len(fake.requests)
    [r] = renormalize(store, settings)
    assert len(fake.requests) == hits and r.rows == len(before) and ledger(store, stable=False) == before


def test_a_synced_page_and_the_same_page_imported_give_the_same_money(workdir, store, settings, fake, ledger_url):
    from aispend.ingest import import_file
    run(store, settings)
    path = workdir / "activity.json"
    path.write_text("[" + ",".join(b for (b,) in store.query("SELECT body FROM raw_pages ORDER BY page_no")) + "]")
    with open_store(ledger_url("other")) as other:
        result = import_file(other, settings, path)
        assert (result.format, result.rows_loaded) == ("openrouter", store.query("SELECT count(*) FROM ledger")[0][0])
        cols = "period_start, sku, model, billed_cost, input_tokens, output_tokens, reasoning_tokens, tags"
        assert sorted(other.query(f"SELECT {cols} FROM ledger")) == sorted(store.query(f"SELECT {cols} FROM ledger"))


def test_check_makes_one_authenticated_call(fake, settings):
    connector = make_connector("or", settings.sources["or"])
    with connector.client() as http:
        said = connector.check(http)
    assert said.startswith("management key accepted; activity readable") and http.requests == 1
    assert fake.dates() == ["2026-03-31"] and statuses(fake) == [200]
