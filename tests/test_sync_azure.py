"""API sync against a real local HTTP server speaking Entra ID's token endpoint and the Cost
Management Query API (POST + nextLink paging)."""

from __future__ import annotations

import json
import logging
import time
from datetime import date, datetime, timedelta

import pytest

from aispend.config import load_settings
from aispend.errors import ConfigError
from aispend.sync import renormalize

from .conftest import run_cli
from .fakes.azure_server import CLIENT_ID, SCOPE, SECRET, TENANT, FakeAzure, Fault
from .sync_helpers import billed, ledger, run_sync, settings_for, write_config

JAN, APR = date(2026, 1, 1), date(2026, 4, 1)
WEEK = (date(2026, 3, 1), date(2026, 3, 8))
ENV = "AZ_CLIENT_SECRET"


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv(ENV, SECRET)
    with FakeAzure(seed=11) as server:
        yield server


def az(fake, **extra):
    return {"type": "azure", "tenant_id": TENANT, "client_id": CLIENT_ID, "client_secret": {"env": ENV},
            "scope": SCOPE, "base_url": fake.base_url, "login_url": fake.base_url, **extra}


@pytest.fixture
def settings(workdir, fake):
    return settings_for(workdir, {"az": az(fake)})


def run(store, settings, window=WEEK, **kw):
    return run_sync(store, settings, window, **kw)


def test_a_90_day_backfill_follows_next_link_and_matches_the_fake_total_exactly(store, settings, fake):
    began = time.monotonic()
    [r] = run(store, settings, (JAN, APR))
    elapsed = time.monotonic() - began
    assert r.status == "ok", r.error
    # 90 days x 6 AI meters x 2 resource groups = 1080 rows, 100 a page: 11 pages, plus one token
    assert r.pages == 11 and r.requests == len(fake.requests) == 12 and r.rows == 1080
    token, *queries = fake.requests
    assert token[0] == f"/{TENANT}/oauth2/v2.0/token"
    assert queries[0][1] == [("api-version", "2023-03-01")]
    assert all(dict(q[1])["$skiptoken"] for q in queries[1:])  # each next page was its nextLink
    first = fake.bodies[0]
    assert all(b == first for b in fake.bodies)  # the same body POSTed to every nextLink
    assert first["type"] == "ActualCost" and first["timeframe"] == "Custom"
    assert first["timePeriod"] == {"from": "2026-01-01T00:00:00Z", "to": "2026-03-31T23:59:59Z"}
    assert first["dataset"]["granularity"] == "Daily"
    assert first["dataset"]["aggregation"] == {"totalCost": {"name": "Cost", "function": "Sum"}}
    assert [g["name"] for g in first["dataset"]["grouping"]] == ["Meter", "ResourceGroup"]
    assert first["dataset"]["filter"]["dimensions"]["values"] == ["Cognitive Services", "Foundry Models"]
    assert billed(store, "az") == fake.total(JAN, APR)  # exact, to the 12th decimal
    assert store.query("SELECT count(DISTINCT period_start) FROM ledger")[0][0] == 90
    models = {s: (m, raw) for s, m, raw in store.query("SELECT DISTINCT sku, model, model_raw FROM ledger")}
    assert models["gpt-4o-0806-Inp-glbl Tokens"] == ("gpt-4o", "gpt-4o-2024-08-06")  # the azure format's parser
    assert models["gpt-4o-mini-0718-Inp-glbl Tokens"] == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    assert models["R1 Outp glbl Tokens"] == ("deepseek-reasoner", "deepseek-r1")
    assert models["Standard Text Records"] == (None, None)
    row = store.query("SELECT project, service_category, tags, cost_source, billing_currency FROM ledger "
                      "WHERE sku = 'gpt 4o 1120 cached Inp glbl' LIMIT 1")[0]
    assert row[0] in ("rg-chat-prod", "rg-lab") and row[1] == "AI and Machine Learning"
    assert json.loads(row[2]) == {"azure.deployment_type": "global"} and row[3:] == ("billed", "USD")
    assert elapsed < 10


def test_429_with_the_qpu_retry_after_header_is_waited_for_then_succeeds(store, settings, fake):
    fake.faults.append(Fault("429", page=1, retry_after=1))
    began = time.monotonic()
    [r] = run(store, settings)
    assert r.status == "ok", r.error
    assert r.waited == 1.0 and time.monotonic() - began >= 1.0  # the Azure header, not the backoff
    assert [s for _, _, s in fake.queries()] == [429, 200]
    assert billed(store, "az") == fake.total(*WEEK)


def test_429_with_both_headers_waits_for_the_longer(store, settings, fake):
    fake.faults.append(Fault("429", retry_after=1, retry_after_std=0))
    [r] = run(store, settings)
    assert r.status == "ok" and r.waited == 1.0


def test_500_then_success_is_retried_with_backoff(store, settings, fake):
    fake.page_rows = 30
    fake.faults.append(Fault("500", page=2, times=2))
    [r] = run(store, settings)
    assert r.status == "ok", r.error
    assert [s for _, _, s in fake.queries()] == [200, 500, 500, 200, 200]  # 84 rows, 30 a page
    assert 0 < r.waited < 1 and billed(store, "az") == fake.total(*WEEK)


def test_a_bad_secret_names_the_service_principal_and_the_role(workdir, store, fake, monkeypatch, caplog):
    wrong = "azWRONG~secret-do-not-print-0987654321"
    monkeypatch.setenv("BAD_SECRET", wrong)
    settings = settings_for(workdir, {"bad": az(fake, client_secret={"env": "BAD_SECRET"}), "good": az(fake)})
    caplog.set_level(logging.DEBUG)
    bad, good = run(store, settings)
    assert bad.status == "failed" and good.status == "ok"
    assert "401" in bad.error and "oauth2/v2.0/token" in bad.error and "invalid_client" in bad.error
    assert "service principal" in bad.error and "Cost Management Reader" in bad.error and "env:BAD_SECRET" in bad.error
    assert wrong not in bad.error and wrong not in caplog.text  # the fake echoed the secret back
    assert store.query("SELECT DISTINCT source FROM ledger") == [("good",)]


def test_a_principal_without_the_role_is_told_to_get_cost_management_reader(store, settings, fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.has_role = False
    [r] = run(store, settings)
    assert r.status == "failed" and "403" in r.error and "AuthorizationFailed" not in r.error
    assert "does not have authorization" in r.error and "Cost Management Reader" in r.error
    assert SECRET not in r.error + caplog.text
    assert all(t not in r.error + caplog.text for t in fake.tokens)


def test_a_refused_token_is_a_401_that_never_shows_the_token(store, settings, fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.accept_tokens = False  # the token endpoint issues tokens, the API refuses them (and echoes them)
    [r] = run(store, settings)
    assert r.status == "failed" and "401" in r.error and "Cost Management Reader" in r.error
    assert fake.tokens and all(t not in r.error + caplog.text for t in fake.tokens)


def test_a_token_about_to_expire_is_renewed_before_the_next_page(store, settings, fake):
    fake.page_rows, fake.token_lifetime = 30, 300  # within the renewal margin as soon as issued
    [r] = run(store, settings)
    assert r.status == "ok", r.error
    tokens = [p for p, _, _ in fake.requests if p.endswith("/oauth2/v2.0/token")]
    assert r.pages == len(tokens) == len(fake.tokens) >= 3  # one fresh token per page
    assert billed(store, "az") == fake.total(*WEEK)


def test_a_malformed_page_names_the_page_and_changes_nothing(store, settings, fake):
    assert run(store, settings, (JAN, APR))[0].status == "ok"
    before, cursor = ledger(store, stable=False), store.query("SELECT cursor FROM sync_state")
    raw = store.query("SELECT count(*), max(fetched_at) FROM raw_pages")
    fake.faults.append(Fault("malformed", page=3))
    [r] = run(store, settings, (JAN, APR))
    assert r.status == "failed" and "az: query page 3: the response is not JSON" in r.error
    assert ledger(store, stable=False) == before and store.query("SELECT cursor FROM sync_state") == cursor
    assert store.query("SELECT count(*), max(fetched_at) FROM raw_pages") == raw


def test_a_bad_cost_is_reported_with_its_page_row_and_column(store, settings, fake):
    fake.faults.append(Fault("bad_record", page=1))
    [r] = run(store, settings)
    assert r.status == "failed", r.error
    assert "query page 1: malformed page at .properties.rows[0][0] (Cost): not a decimal number" in r.error
    assert "'n/a'" in r.error and "ledger is unchanged" in r.error
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 0


def test_an_empty_window_loads_nothing_and_a_window_gone_empty_converges(store, settings, fake):
    fake.empty_days = {WEEK[0] + timedelta(days=i) for i in range(7)}
    [r] = run(store, settings)
    assert r.status == "ok" and r.rows == 0 and r.pages == 1
    fake.empty_days = set()
    assert run(store, settings)[0].rows == 7 * 12
    fake.empty_days = {WEEK[0]}
    run(store, settings)
    assert store.query("SELECT count(*) FROM ledger WHERE period_start = ?", [WEEK[0]])[0][0] == 0
    assert billed(store, "az") == fake.total(*WEEK)


def test_a_204_no_content_answer_is_an_empty_window(store, settings, fake):
    fake.faults.append(Fault("204"))
    [r] = run(store, settings)
    assert r.status == "ok" and r.rows == 0 and r.pages == 1


def test_a_restated_day_takes_the_new_value(store, settings, fake):
    now = datetime(2026, 3, 10, 15)
    run(store, settings, (None, None), now=now)  # first run: the last 30 days
    day = datetime(2026, 3, 9)
    old = store.query("SELECT sum(billed_cost) FROM ledger WHERE period_start = ?", [day])[0][0]
    fake.restate(day.date())
    [r] = run(store, settings, (None, None), now=now + timedelta(days=1))
    assert (r.window_start, r.window_end) == (datetime(2026, 3, 8), datetime(2026, 3, 12))  # cursor - 3 days
    new = store.query("SELECT sum(billed_cost) FROM ledger WHERE period_start = ?", [day])[0][0]
    assert new != old and new == fake.total(day.date(), day.date() + timedelta(days=1))
    assert billed(store, "az") == fake.total(date(2026, 2, 9), date(2026, 3, 12))
    rows_per_day = store.query("SELECT count(*) FROM ledger GROUP BY period_start")
    assert {n for (n,) in rows_per_day} == {12}  # restated, never doubled


def test_two_syncs_in_a_row_change_nothing(store, settings, fake):
    run(store, settings)
    first = ledger(store)
    [r] = run(store, settings)
    assert r.replaced == r.rows == len(first) and ledger(store) == first
    assert billed(store, "az") == fake.total(*WEEK)


def test_renormalize_rebuilds_identical_rows_without_the_network(workdir, store, fake):
    settings = settings_for(workdir, {"az": az(fake, environment="prod")})
    run(store, settings, (date(2026, 1, 1), date(2026, 1, 20)))
    run(store, settings, (date(2026, 1, 15), date(2026, 2, 5)))
    before = ledger(store, stable=False)
    store.query("DELETE FROM ledger")
    hits = len(fake.requests)
    [r] = renormalize(store, settings)
    assert len(fake.requests) == hits and r.rows == len(before) and ledger(store, stable=False) == before


def test_settings_group_by_metric_and_all_services(workdir, store, fake):
    settings = settings_for(workdir, {"az": az(fake, metric="AmortizedCost", cost_column="PreTaxCost",
                                             group_by=["ServiceName", "Meter"], service_names=[])})
    [r] = run(store, settings, (WEEK[0], WEEK[0] + timedelta(days=1)))
    assert r.status == "ok", r.error
    body = fake.bodies[0]
    assert body["type"] == "AmortizedCost" and "filter" not in body["dataset"]
    services = {s for (s,) in store.query("SELECT DISTINCT service FROM ledger")}
    assert services == {"Cognitive Services", "Foundry Models", "Storage"}
    assert store.query("SELECT service_category FROM ledger WHERE service = 'Storage'")[0][0] == "Storage"
    everything = ("Cognitive Services", "Foundry Models", "Storage")
    assert billed(store, "az") == fake.total(WEEK[0], WEEK[0] + timedelta(days=1), everything)


def test_a_next_link_to_another_host_is_refused(store, settings, fake, monkeypatch):
    fake.page_rows = 10
    real = fake._query

    def elsewhere(*args):
        status, body, headers = real(*args)
        if isinstance(body, dict) and body["properties"]["nextLink"]:
            body["properties"]["nextLink"] = body["properties"]["nextLink"].replace("127.0.0.1", "evil.example")
        return status, body, headers
    monkeypatch.setattr(fake, "_query", elsewhere)
    [r] = run(store, settings)
    assert r.status == "failed" and "nextLink points at http://evil.example" in r.error
    assert len(fake.queries()) == 1


def test_literal_secrets_and_bad_settings_are_refused_without_echoing(workdir, fake):
    secret = "azLITERAL~secret-123456789"
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(workdir, {"az": {**az(fake), "client_secret": secret}}))
    assert "literal client_secret is not allowed" in str(exc.value) and secret not in str(exc.value)
    with pytest.raises(ConfigError, match=r"sources\.az\.group_by"):
        load_settings(write_config(workdir, {"az": az(fake, group_by=["Meter", "ResourceGroup", "ServiceName"])}))
    with pytest.raises(ConfigError, match=r"sources\.az\.scope"):
        load_settings(write_config(workdir, {"az": az(fake, scope="https://example.com/x")}))
    with pytest.raises(ConfigError, match=r"sources\.az\.tenant_id"):
        load_settings(write_config(workdir, {"az": {k: v for k, v in az(fake).items() if k != "tenant_id"}}))


def test_cli_sources_check_and_sync(workdir, fake):
    write_config(workdir, {"az": az(fake)})
    env = {ENV: SECRET}
    listed = run_cli("sources", "list", "--format", "json", cwd=workdir, env=env)
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["api_key"] == f"env:{ENV}"
    checked = run_cli("sources", "check", "az", cwd=workdir, env=env)
    assert checked.returncode == 0, checked.stderr
    assert "az: ok: service principal accepted" in checked.stderr
    synced = run_cli("sync", "--start", "2026-03-01", "--end", "2026-03-04", "--format", "json", cwd=workdir, env=env)
    assert synced.returncode == 0, synced.stderr
    [summary] = json.loads(synced.stdout)
    assert summary["status"] == "ok" and summary["rows"] == 36
    assert SECRET not in listed.stdout + checked.stderr + synced.stdout + synced.stderr
