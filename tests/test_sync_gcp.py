"""API sync of the Cloud Billing export against a real local HTTP server speaking Google's OAuth2
token endpoint (signed JWT grant, verified) and BigQuery's jobs.query / jobs.getQueryResults."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from aispend.connectors import make_connector
from aispend.ingest import import_file
from aispend.sync import renormalize

from .conftest import run_cli
from .fakes.bigquery_server import TABLE, FakeBigQuery, Fault, row_json
from .sync_helpers import Killed, billed, ledger, run_sync, settings_for, write_config

JAN, APR = date(2026, 1, 1), date(2026, 4, 1)
WEEK = (date(2026, 3, 1), date(2026, 3, 8))
ENV = "GCP_SA_KEY"


@pytest.fixture
def fake(monkeypatch):
    with FakeBigQuery(seed=11, page_cap=200) as server:
        monkeypatch.setenv(ENV, server.key)
        yield server


def gcp(fake, **extra):
    return {"type": "gcp", "table": TABLE, "credentials": {"env": ENV}, "base_url": fake.base_url, **extra}


@pytest.fixture
def settings(workdir, fake):
    return settings_for(workdir, {"bq": gcp(fake)})


def run(store, settings, window=WEEK, **kw):
    return run_sync(store, settings, window, **kw)


# -- the query ----------------------------------------------------------------------------------


def test_the_query_is_parameterised_and_reads_only_what_the_mapping_needs(workdir, fake):
    settings = settings_for(workdir, {"bq": gcp(fake, location="EU", billing_project="acme-jobs")})
    connector = make_connector("bq", settings.sources["bq"])
    body = connector.query_request("2026-03-01 00:00:00+00:00", "2026-03-08 00:00:00+00:00")
    sql = body["query"]
    assert sql.count(f"FROM `{TABLE}`") == 1 and "TO_JSON_STRING(STRUCT(" in sql
    assert "usage_start_time >= @start AND usage_start_time < @end" in sql
    assert "_PARTITIONTIME >= TIMESTAMP_SUB(TIMESTAMP_TRUNC(@start, DAY), INTERVAL 1 DAY)" in sql
    assert "REGEXP_CONTAINS(LOWER(service.description), @services)" in sql
    assert "2026" not in sql and "*" not in sql  # values travel as parameters; no SELECT *
    assert {p["name"]: (p["parameterType"]["type"], p["parameterValue"]["value"]) for p in body["queryParameters"]} == {
        "start": ("TIMESTAMP", "2026-03-01 00:00:00+00:00"), "end": ("TIMESTAMP", "2026-03-08 00:00:00+00:00"),
        "services": ("STRING", settings.sources["bq"].services)}
    assert (body["useLegacySql"], body["parameterMode"], body["location"]) == (False, "NAMED", "EU")
    assert connector.url(connector.endpoints()[0]).endswith("/projects/acme-jobs/queries")
    # every field the mapping reads is selected, and nothing it does not
    for field in ("billing_account_id", "service.description", "sku.description", "usage_start_time", "cost",
                  "currency", "usage.amount", "credits", "labels", "project.labels", "invoice.month", "cost_type"):
        assert field.split(".")[-1] in sql
    assert "export_time" not in sql and "system_labels" not in sql and "resource" not in sql


def test_a_view_without_partitions_and_every_service_can_be_asked_for(workdir, fake):
    settings = settings_for(workdir, {"bq": gcp(fake, partition_filter=False, services="")})
    body = make_connector("bq", settings.sources["bq"]).query_request("a", "b")
    assert "_PARTITIONTIME" not in body["query"] and "@services" not in body["query"]
    assert [p["name"] for p in body["queryParameters"]] == ["start", "end"]


@pytest.mark.parametrize("table", ["acme.billing", "acme.billing.t; DROP TABLE x", "acme.`billing`.t x"])
def test_a_table_name_that_is_not_project_dataset_table_is_refused(workdir, fake, table):
    from aispend.errors import ConfigError

    with pytest.raises(ConfigError, match="table is project.dataset.table"):
        settings_for(workdir, {"bq": gcp(fake, table=table)})


# -- pulls --------------------------------------------------------------------------------------


def test_a_90_day_backfill_pages_to_the_end_and_matches_the_fake_total_exactly(store, settings, fake):
    began = time.monotonic()
    [r] = run(store, settings, (JAN, APR))
    elapsed = time.monotonic() - began
    assert r.status == "ok", r.error
    n_rows = sum(1 for d in range(90) for row in fake.export_rows(JAN + timedelta(days=d))
                 if row["service"]["description"] != "Compute Engine")
    pages = -(-n_rows // 200)
    assert r.rows == n_rows and r.pages == pages
    methods = [(m, p.rsplit("/", 1)[-1] if m == "GET" else p, s) for m, p, s in fake.requests]
    assert methods[0] == ("POST", "/token", 200) and methods[1] == ("POST", "/projects/acme-billing/queries", 200)
    assert all(m == "GET" and s == 200 for m, _, s in methods[2:]) and len(methods) == pages + 1
    assert r.requests == pages  # the token request is google-auth's, not a page
    assert billed(store, "bq") == fake.total(JAN, APR)  # net of credits, exact
    total, unique = store.query("SELECT count(*), count(DISTINCT row_id) FROM ledger")[0]
    assert total == unique == n_rows  # the exact repeat of each day is a second charge, not a duplicate
    assert store.query("SELECT count(*) FROM ledger WHERE service = 'Compute Engine'")[0][0] == 0
    gemini = store.query("SELECT model, publisher, input_tokens, cache_read_tokens, tags FROM ledger WHERE description = "
                         "'Gemini 2.5 Flash GA Input Text Caching' AND tags LIKE '%answers%' LIMIT 1")[0]
    assert gemini[:2] == ("gemini-2.5-flash", "gcp")  # the canonical name of Google and gemini[2] == gemini[3] > 0
    assert json.loads(gemini[4]) == {"team": "platform", "feature": "answers"}
    claude = store.query("SELECT model, publisher FROM ledger WHERE service = 'Claude Sonnet 4.5' LIMIT 1")[0]
    assert claude == ("claude-sonnet-4-5", "anthropic")
    assert elapsed < 15


def test_synced_rows_equal_the_same_export_rows_imported_from_json_lines(workdir, store, settings, fake):
    run(store, settings, (date(2026, 1, 1), date(2026, 1, 3)))
    rows = [row_json({k: v for k, v in r.items() if k != "_partition"})
            for d in (0, 1) for r in fake.export_rows(date(2026, 1, 1) + timedelta(days=d))
            if r["service"]["description"] != "Compute Engine"]
    path = workdir / "export.jsonl"
    path.write_text("\n".join(rows) + "\n")
    import_file(store, settings, path, source="file")
    cols = "period_start, sku, model, input_tokens, output_tokens, cache_read_tokens, billed_cost, project, tags"
    synced = sorted(store.query(f"SELECT {cols} FROM ledger WHERE source = 'bq'"), key=repr)
    imported = sorted(store.query(f"SELECT {cols} FROM ledger WHERE source = 'file'"), key=repr)
    assert synced == imported and len(synced) == len(rows)


def test_a_query_still_running_is_polled_until_complete(store, settings, fake):
    fake.slow_polls = 2
    [r] = run(store, settings)
    assert r.status == "ok", r.error
    assert billed(store, "bq") == fake.total(*WEEK)
    gets = [p for m, p, _ in fake.requests if m == "GET"]
    assert len(gets) >= 2 and r.pages == len(gets) + 1


def test_429_with_retry_after_then_success(store, settings, fake):
    fake.faults.append(Fault("429", page=1, retry_after=1))
    began = time.monotonic()
    [r] = run(store, settings)
    assert r.status == "ok", r.error
    assert r.waited == 1.0 and time.monotonic() - began >= 1.0
    assert [s for _, _, s in fake.pulls()][:2] == [429, 200]
    assert billed(store, "bq") == fake.total(*WEEK)


def test_bigquery_rate_limit_403_and_500_are_retried(store, settings, fake):
    fake.faults += [Fault("ratelimit", page=1), Fault("500", page=2, times=2)]
    [r] = run(store, settings)
    assert r.status == "ok", r.error
    assert [s for _, _, s in fake.pulls()][:5] == [403, 200, 500, 500, 200]
    assert billed(store, "bq") == fake.total(*WEEK)


def test_a_key_google_refuses_and_a_key_without_access_say_what_to_do(workdir, store, fake, monkeypatch, caplog):
    from .fakes.bigquery_server import service_account

    forged, _ = service_account(fake.origin, fake.email)  # right account, wrong private key
    monkeypatch.setenv("FORGED", forged)
    monkeypatch.setenv("OTHER", fake.other_key)
    monkeypatch.setenv("NOT_JSON", "not-a-key-0123456789")
    caplog.set_level(logging.DEBUG)
    settings = settings_for(workdir, {"forged": gcp(fake, credentials={"env": "FORGED"}),
                                      "other": gcp(fake, credentials={"env": "OTHER"}),
                                      "junk": gcp(fake, credentials={"env": "NOT_JSON"}), "good": gcp(fake)})
    forged_r, other_r, junk_r, good_r = run(store, settings)
    assert good_r.status == "ok"
    assert forged_r.status == "failed" and "invalid_grant" in forged_r.error and "Invalid JWT Signature" in forged_r.error
    assert "env:FORGED" in forged_r.error and "roles/bigquery.jobUser" in forged_r.error
    assert other_r.status == "failed" and "403" in other_r.error and "Access Denied" in other_r.error
    assert "roles/bigquery.dataViewer" in other_r.error and "env:OTHER" in other_r.error
    assert junk_r.status == "failed" and "env:NOT_JSON" in junk_r.error and "not a service-account key JSON" in junk_r.error
    everything = caplog.text + forged_r.error + other_r.error + junk_r.error
    for secret in (forged, fake.other_key, json.loads(forged)["private_key"], "not-a-key-0123456789", *fake.tokens):
        assert secret not in everything
    assert store.query("SELECT DISTINCT source FROM ledger") == [("good",)]


def test_an_expired_token_is_refreshed_mid_run(store, settings, fake, monkeypatch):
    import google.oauth2.service_account as sa

    fake.page_cap = 100
    refreshes = []
    real = sa.Credentials.refresh

    def refresh(self, request):
        refreshes.append(1)
        real(self, request)
        self.expiry = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)  # an hour went by, every page

    monkeypatch.setattr(sa.Credentials, "refresh", refresh)
    [r] = run(store, settings)
    assert r.status == "ok", r.error
    assert len(refreshes) == r.pages >= 2 and len(fake.tokens) == r.pages


def test_a_malformed_page_names_the_page_and_changes_nothing(store, settings, fake):
    fake.page_cap = 50
    assert run(store, settings)[0].status == "ok"
    before, raw = ledger(store, stable=False), store.query("SELECT count(*), max(fetched_at) FROM raw_pages")
    fake.faults.append(Fault("malformed", page=3))
    [r] = run(store, settings)
    assert r.status == "failed" and "bq: query page 3: the response is not JSON" in r.error
    assert ledger(store, stable=False) == before
    assert store.query("SELECT count(*), max(fetched_at) FROM raw_pages") == raw


def test_a_bad_cost_is_reported_with_its_page_row_and_field(store, settings, fake):
    fake.faults.append(Fault("bad_record", page=1))
    [r] = run(store, settings)
    assert r.status == "failed"
    assert "query page 1: malformed page at .rows[0].f[0].v.cost: not a decimal number (value 'n/a')" in r.error
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 0


def test_an_empty_window_loads_nothing(store, settings, fake):
    fake.empty_days = {WEEK[0] + timedelta(days=i) for i in range(7)}
    [r] = run(store, settings)
    assert r.status == "ok" and r.rows == 0 and r.pages == 1


def test_a_restated_day_takes_the_new_value(store, settings, fake):
    now = datetime(2026, 3, 10, 15)
    run(store, settings, (None, None), now=now)
    day = datetime(2026, 3, 9)
    old = store.query("SELECT sum(billed_cost) FROM ledger WHERE period_start >= ? AND period_start < ?",
                      [day, day + timedelta(days=1)])[0][0]
    fake.restate(day.date())
    [r] = run(store, settings, (None, None), now=now + timedelta(days=1))
    assert (r.window_start, r.window_end) == (datetime(2026, 3, 8), datetime(2026, 3, 12))
    new = store.query("SELECT sum(billed_cost) FROM ledger WHERE period_start >= ? AND period_start < ?",
                      [day, day + timedelta(days=1)])[0][0]
    assert new != old and new == fake.total(day.date(), day.date() + timedelta(days=1))
    assert billed(store, "bq") == fake.total(date(2026, 2, 9), date(2026, 3, 12))


def test_a_sync_killed_mid_way_leaves_the_ledger_and_a_rerun_is_exact(store, settings, fake, monkeypatch):
    fake.page_cap = 40
    assert run(store, settings, (date(2026, 2, 20), date(2026, 3, 1)))[0].status == "ok"
    before = ledger(store, stable=False)
    fake.restate(date(2026, 2, 25))
    from aispend.connectors.gcp import GcpConnector

    real, calls = GcpConnector.fetch, []

    def dies(self, *args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise Killed
        return real(self, *args, **kw)

    monkeypatch.setattr(GcpConnector, "fetch", dies)
    with pytest.raises(Killed):
        run(store, settings, (date(2026, 2, 20), date(2026, 3, 1)))
    assert ledger(store, stable=False) == before
    monkeypatch.setattr(GcpConnector, "fetch", real)
    assert run(store, settings, (date(2026, 2, 20), date(2026, 3, 1)))[0].status == "ok"
    assert billed(store, "bq") == fake.total(date(2026, 2, 20), date(2026, 3, 1))


def test_two_syncs_in_a_row_change_nothing_and_renormalize_rebuilds_them(store, settings, fake):
    run(store, settings)
    first = ledger(store)
    [r] = run(store, settings)
    assert r.replaced == r.rows == len(first) and ledger(store) == first
    store.query("DELETE FROM ledger")
    renormalize(store, settings)
    assert ledger(store) == first


def test_sources_check_is_a_dry_run_and_sync_runs_from_the_cli(workdir, fake):
    write_config(workdir, {"bq": gcp(fake)})
    check = run_cli("sources", "check", cwd=workdir, env={ENV: fake.key})
    assert check.returncode == 0, check.stderr
    assert "bq: ok: credentials accepted; the billing query on" in check.stderr and "MB" in check.stderr
    assert fake.queries[-1]["dryRun"] is True
    out = run_cli("sync", "--start", "2026-03-01", "--end", "2026-03-04", "--format", "json", cwd=workdir,
                  env={ENV: fake.key})
    assert out.returncode == 0, out.stderr
    [row] = json.loads(out.stdout)
    assert row["status"] == "ok" and row["rows"] > 0
    assert fake.key not in out.stdout + out.stderr + check.stderr
    assert not any(Path(workdir).glob("*.json"))  # nothing of the key written beside the ledger
