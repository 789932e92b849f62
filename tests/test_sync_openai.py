"""API sync against a real local HTTP server speaking OpenAI's Admin API wire format."""

from __future__ import annotations

import json
import logging
import time
from datetime import date, datetime, timedelta

import pytest

from aispend.errors import ConfigError
from aispend.sync import renormalize

from .conftest import run_cli
from .fakes.openai_server import KEY, FakeOpenAI, Fault
from .sync_helpers import Killed, billed, landed_cost_total, ledger, run_sync, settings_for, write_config

JAN, APR = date(2026, 1, 1), date(2026, 4, 1)
WEEK = (date(2026, 3, 1), date(2026, 3, 8))


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("OAI_ADMIN_KEY", KEY)
    with FakeOpenAI(seed=11) as server:
        yield server


def oai(fake, **extra):
    return {"type": "openai", "api_key": {"env": "OAI_ADMIN_KEY"}, "base_url": fake.base_url, **extra}


@pytest.fixture
def settings(workdir, fake):
    return settings_for(workdir, {"oai": oai(fake)})


def run(store, settings, window=WEEK, **kw):
    return run_sync(store, settings, window, **kw)


def test_a_90_day_backfill_pages_every_endpoint_and_matches_the_vendor_total(store, settings, fake):
    began = time.monotonic()
    [r] = run(store, settings, (JAN, APR))
    elapsed = time.monotonic() - began
    assert r.status == "ok", r.error
    # costs: 90 days in one page (limit 180); each of 10 usage endpoints: 31 + 31 + 28 daily buckets
    assert r.requests == len(fake.requests) == 31 and r.pages == 31
    pages = dict(store.query("SELECT endpoint, count(*) FROM raw_pages GROUP BY endpoint"))
    assert pages["costs"] == 1 and pages["usage.completions"] == 3 and len(pages) == 11
    assert [p for p in fake.requests if "completions" in p[0]][2][1][-1][0] == "page"  # the cursor was followed
    assert billed(store, "oai") == landed_cost_total(store, "oai") > 0
    days = store.query("SELECT count(DISTINCT period_start) FROM ledger WHERE source = 'oai:usage'")[0][0]
    assert days == 90
    assert elapsed < 10


def test_hourly_usage_pages_by_the_hourly_limit(store, settings, fake):
    [r] = run(store, settings, (date(2026, 3, 1), date(2026, 3, 11)), granularity="1h")
    assert r.status == "ok", r.error
    # 240 hourly buckets: 168 + 72 per usage endpoint; costs stay daily (the API has no hourly costs)
    assert r.requests == 1 + 10 * 2
    hours = store.query("SELECT count(DISTINCT period_start) FROM ledger WHERE source = 'oai:usage'")[0][0]
    assert hours == 240
    assert {p[1][2][1] for p in fake.requests if "costs" in p[0]} == {"1d"}


def test_429_with_retry_after_is_waited_for_then_succeeds(store, settings, fake):
    fake.faults.append(Fault("429", "/costs", retry_after=1))
    began = time.monotonic()
    [r] = run(store, settings)
    assert r.status == "ok" and r.requests == 12 and r.waited == 1.0
    assert time.monotonic() - began >= 1.0
    assert [s for p, _, s in fake.requests if p.endswith("costs")] == [429, 200]


def test_500_then_success_is_retried_with_backoff(store, settings, fake):
    fake.faults.append(Fault("500", "completions", times=2))
    [r] = run(store, settings)
    assert r.status == "ok" and r.requests == 13 and 0 < r.waited < 1


def test_persistent_429_fails_after_the_attempt_cap(store, settings, fake):
    fake.faults.append(Fault("429", "embeddings", times=99, retry_after=None))
    [r] = run(store, settings)
    assert r.status == "failed" and "after 4 attempts" in r.error and "429" in r.error
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 0


def test_a_bad_key_says_check_the_admin_key_and_other_sources_still_sync(workdir, store, fake, monkeypatch, caplog):
    wrong = "sk-admin-WRONG.key.do.not.print"
    monkeypatch.setenv("BAD_KEY", wrong)
    settings = settings_for(workdir, {"bad": oai(fake, api_key={"env": "BAD_KEY"}), "good": oai(fake)})
    caplog.set_level(logging.DEBUG)
    bad, good = run(store, settings)
    assert bad.status == "failed" and good.status == "ok"
    assert "401" in bad.error and "check the admin key" in bad.error and "env:BAD_KEY" in bad.error
    assert "GET http://127.0.0.1" in bad.error and "/organization/costs" in bad.error
    assert wrong not in bad.error and wrong not in caplog.text  # the fake echoed the whole key back
    assert store.query("SELECT last_error IS NOT NULL, cursor FROM sync_state WHERE source = 'bad'") == [(True, None)]
    assert store.query("SELECT DISTINCT source FROM ledger ORDER BY 1") == [("good",), ("good:usage",)]


def test_a_malformed_page_names_endpoint_and_page_and_changes_nothing(store, settings, fake):
    assert run(store, settings, (JAN, APR))[0].status == "ok"
    before, cursor = ledger(store, stable=False), store.query("SELECT cursor FROM sync_state")
    raw = store.query("SELECT count(*), max(fetched_at) FROM raw_pages")
    fake.faults.append(Fault("malformed", "completions", page=2))
    [r] = run(store, settings, (JAN, APR))
    assert r.status == "failed" and "oai: usage.completions page 2: the response is not JSON" in r.error
    assert ledger(store, stable=False) == before and store.query("SELECT cursor FROM sync_state") == cursor
    assert store.query("SELECT count(*), max(fetched_at) FROM raw_pages") == raw


def test_a_bad_record_is_reported_with_its_page_and_position(store, settings, fake):
    fake.faults.append(Fault("bad_record", "embeddings"))
    [r] = run(store, settings)
    assert r.status == "failed"
    assert "usage.embeddings page 1: malformed page at .data[0].results[2].input_tokens: not a whole number" in r.error
    assert "'lots'" in r.error and "ledger is unchanged" in r.error
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 0
    assert store.query("SELECT count(*) FROM raw_pages")[0][0] == 0


def test_an_empty_window_loads_nothing_and_a_window_gone_empty_converges(store, settings, fake):
    fake.empty_days = {WEEK[0] + timedelta(days=i) for i in range(7)}
    [r] = run(store, settings)
    assert r.status == "ok" and r.rows == 0 and r.pages == 11
    fake.empty_days = set()
    assert run(store, settings)[0].rows > 0
    fake.empty_days = {WEEK[0]}
    run(store, settings)
    assert store.query("SELECT count(*) FROM ledger WHERE period_start = ?", [WEEK[0]])[0][0] == 0


def test_a_restated_day_takes_the_new_value(store, settings, fake):
    now = datetime(2026, 3, 10, 15)
    run(store, settings, (None, None), now=now)  # first run: the last 30 days
    day = datetime(2026, 3, 9)
    old = store.query("SELECT sum(billed_cost) FROM ledger WHERE source = 'oai' AND period_start = ?", [day])[0][0]
    fake.restate(day.date())
    [r] = run(store, settings, (None, None), now=now + timedelta(days=1))
    assert (r.window_start, r.window_end) == (datetime(2026, 3, 8), datetime(2026, 3, 12))  # cursor - 3 days
    new = store.query("SELECT sum(billed_cost) FROM ledger WHERE source = 'oai' AND period_start = ?", [day])[0][0]
    assert new != old and billed(store, "oai") == landed_cost_total(store, "oai")
    rows_per_day = store.query("SELECT count(*) FROM ledger WHERE source = 'oai' GROUP BY period_start")
    assert {n for (n,) in rows_per_day} == {10}  # restated, never doubled


@pytest.mark.parametrize("kill_at", ["page", "loading"])
def test_a_sync_killed_midway_leaves_everything_as_it_was_and_a_rerun_is_exact(workdir, store, settings, fake, kill_at,
                                                                              ledger_url):
    run(store, settings, (date(2026, 2, 1), date(2026, 2, 15)))
    before, state = ledger(store, stable=False), store.query("SELECT * FROM sync_state")
    raw = store.query("SELECT count(*) FROM raw_pages")
    seen = []

    def die(event):
        seen.append(event.kind)
        if event.kind == kill_at and len(seen) > 5:
            raise Killed
    with pytest.raises(Killed):
        run(store, settings, (JAN, APR), on_event=die)
    assert ledger(store, stable=False) == before and store.query("SELECT * FROM sync_state") == state
    assert store.query("SELECT count(*) FROM raw_pages") == raw
    [r] = run(store, settings, (JAN, APR))
    assert r.status == "ok" and billed(store, "oai") == landed_cost_total(store, "oai")
    from aispend.store import open_store
    with open_store(ledger_url("clean")) as clean:
        run(clean, settings, (JAN, APR))
        assert ledger(clean) == ledger(store)


def test_two_syncs_in_a_row_change_nothing(store, settings):
    run(store, settings)
    first = ledger(store)
    [r] = run(store, settings)
    assert r.replaced == r.rows == len(first) and ledger(store) == first


def test_renormalize_rebuilds_identical_rows_without_the_network(workdir, store, fake):
    settings = settings_for(workdir, {"oai": oai(fake, environment="prod", owner="platform")})
    run(store, settings, (date(2026, 1, 1), date(2026, 1, 20)))
    run(store, settings, (date(2026, 1, 15), date(2026, 2, 5)))  # overlapping windows replay in order
    fake.restate(date(2026, 1, 16))
    run(store, settings, (date(2026, 1, 16), date(2026, 1, 18)))
    before = ledger(store, stable=False)
    assert {r for (r,) in store.query("SELECT DISTINCT environment FROM ledger")} == {"prod"}
    store.query("DELETE FROM ledger")
    hits = len(fake.requests)
    [r] = renormalize(store, settings)
    assert len(fake.requests) == hits and r.rows == len(before)
    assert ledger(store, stable=False) == before


def test_the_secret_never_reaches_logs_errors_landing_or_ledger(workdir, store, settings, fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.faults += [Fault("429", "costs", retry_after=None), Fault("500", "images")]
    results = run(store, settings, (JAN, date(2026, 1, 10)))
    fake.key = "sk-admin-rotated"  # now ours is refused: the 401 body echoes it in full
    results += run(store, settings, (JAN, date(2026, 1, 10)))
    assert results[-1].status == "failed"
    texts = [caplog.text, *(r.error or "" for r in results)]
    texts += [b for (b,) in store.query("SELECT body FROM raw_pages")]
    texts += [repr(row) for row in ledger(store, stable=False)]
    texts += [repr(store.query("SELECT * FROM sync_state"))]
    from .conftest import REPO
    texts += [p.read_text(errors="replace") for p in (REPO / "tests" / "fixtures").rglob("*.json")]
    assert all(KEY not in t for t in texts)


def test_literal_keys_and_typos_are_refused_without_echoing(workdir):
    secret = "sk-admin-literal-123456789"
    path = write_config(workdir, {"oai": {"type": "openai", "api_key": secret}})
    with pytest.raises(ConfigError) as exc:
        from aispend.config import load_settings
        load_settings(path)
    assert "sources.oai.api_key" in str(exc.value) and "literal key is not allowed" in str(exc.value)
    assert secret not in str(exc.value)
    path = write_config(workdir, {"oai": {"type": "openai", "api_key": {"env": "X"}, "restatment_days": 2}})
    with pytest.raises(ConfigError, match=r"sources\.oai\.restatment_days"):
        load_settings(path)
    path = write_config(workdir, {"oai": {"type": "opneai", "api_key": {"env": "X"}}})
    with pytest.raises(ConfigError, match=r"unknown source type 'opneai'; known: (.*, )?openai\b"):
        load_settings(path)


def test_cli_sources_sync_and_renormalize(workdir, fake):
    write_config(workdir, {"oai": oai(fake), "nokey": oai(fake, api_key={"env": "UNSET_KEY_VAR"})})
    env = {"OAI_ADMIN_KEY": KEY}
    listed = run_cli("sources", "list", "--format", "json", cwd=workdir, env=env)
    assert listed.returncode == 0, listed.stderr
    assert [s["api_key"] for s in json.loads(listed.stdout)] == ["env:OAI_ADMIN_KEY", "env:UNSET_KEY_VAR"]
    assert KEY not in listed.stdout + listed.stderr
    checked = run_cli("sources", "check", "oai", cwd=workdir, env=env)
    assert checked.returncode == 0 and "oai: ok: admin key accepted" in checked.stderr
    synced = run_cli("sync", "--start", "2026-03-01", "--end", "2026-03-04", "--format", "json", cwd=workdir, env=env)
    assert synced.returncode == 1  # nokey failed
    summary = {r["source"]: r for r in json.loads(synced.stdout)}
    assert summary["oai"]["status"] == "ok" and summary["oai"]["pages"] == 11 and summary["oai"]["rows"] > 0
    assert summary["nokey"]["status"] == "failed" and "UNSET_KEY_VAR is not set" in summary["nokey"]["error"]
    again = run_cli("renormalize", "--format", "json", cwd=workdir, env=env)
    assert again.returncode == 0 and json.loads(again.stdout)[0]["rows"] == summary["oai"]["rows"]
    assert KEY not in synced.stdout + synced.stderr + again.stdout
