"""API sync against a real local HTTP server speaking AWS Cost Explorer's JSON 1.1 + SigV4 wire format."""

from __future__ import annotations

import json
import logging
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from aispend.config import load_settings
from aispend.connectors import make_connector
from aispend.errors import ConfigError
from aispend.store import open_store

from .fakes.aws_ce_server import KEY_ID, LINES, SECRET, FakeCostExplorer, Fault
from .sync_helpers import FAST, billed, ledger, run_sync, settings_for, write_config

JAN, APR = date(2026, 1, 1), date(2026, 4, 1)
WEEK = (date(2026, 3, 1), date(2026, 3, 8))


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("AWS_CE_SECRET", SECRET)
    with FakeCostExplorer(seed=11) as server:
        yield server


def aws(fake, **extra):
    return {"type": "aws", "access_key_id": KEY_ID, "api_key": {"env": "AWS_CE_SECRET"}, "base_url": fake.base_url,
            **extra}


@pytest.fixture
def settings(workdir, fake):
    return settings_for(workdir, {"aws": aws(fake)})


def run(store, settings, window=WEEK, **kw):
    return run_sync(store, settings, window, **kw)


def statuses(fake):
    return [status for _, status in fake.requests]


def test_a_90_day_backfill_follows_next_page_token_and_matches_the_bill_exactly(store, settings, fake):
    began = time.monotonic()
    [r] = run(store, settings, (JAN, APR))
    assert r.status == "ok", r.error
    assert time.monotonic() - began < 10
    pages = len(fake.requests)
    assert pages >= 5 and r.requests == r.pages == pages and set(statuses(fake)) == {200}
    first, second = fake.requests[0][0], fake.requests[1][0]
    assert first["TimePeriod"] == {"Start": "2026-01-01", "End": "2026-04-01"} and first["Granularity"] == "DAILY"
    assert first["Metrics"] == ["UnblendedCost", "UsageQuantity"]
    assert first["GroupBy"] == [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}]
    assert first["Filter"] == {"Or": [
        {"Dimensions": {"Key": "SERVICE", "Values": ["Amazon Bedrock"], "MatchOptions": ["EQUALS"]}},
        {"Dimensions": {"Key": "BILLING_ENTITY", "Values": ["AWS Marketplace"], "MatchOptions": ["EQUALS"]}}]}
    assert "NextPageToken" not in first and second.pop("NextPageToken") and second == first  # identical request
    # every Amount string summed with Decimal by the fake equals the ledger, to the last digit
    assert billed(store, "aws") == fake.cost(JAN, APR) > 0
    assert store.query("SELECT count(DISTINCT period_start) FROM ledger")[0][0] == 90
    services = {s for (s,) in store.query("SELECT DISTINCT service FROM ledger")}
    assert services == {"Amazon Bedrock", "Claude 3 Haiku (Amazon Bedrock Edition)",
                        "Claude Sonnet 4.5 (Amazon Bedrock Edition)"}  # S3 and EC2 were filtered out by AWS
    assert store.query("SELECT DISTINCT provider, cost_source, service_category FROM ledger") == \
        [("aws", "billed", "AI and Machine Learning")]


def test_models_publishers_and_thousands_of_tokens(store, settings, fake):
    run(store, settings)
    rows = {(svc, sku): tuple(rest) for svc, sku, *rest in store.query(
        "SELECT service, sku, model_raw, publisher, region, input_tokens, output_tokens, cache_read_tokens, quantity, "
        "unit FROM ledger")}  # the last row of each line wins: every row must hold
    sonnet_in = rows[("Amazon Bedrock", "USE1-Claude4.6Sonnet-input-tokens")]
    assert sonnet_in[:3] == ("anthropic.claude-sonnet-4-6", "anthropic", "us-east-1")
    assert sonnet_in[3] == sonnet_in[6] * 1000 and sonnet_in[7] == "1K tokens"  # UsageQuantity is 1K tokens
    cache = rows[("Amazon Bedrock", "USE1-Claude4.6Sonnet-cache-read-input-token-count")]
    assert cache[3] == cache[5] == cache[6] * 1000  # cache reads are input too
    out = rows[("Amazon Bedrock", "USE1-NovaLite-output-tokens")]
    assert out[:2] == ("amazon.nova-lite-v1:0", "amazon") and out[3] is None and out[4] == out[6] * 1000
    assert rows[("Amazon Bedrock", "USW2-Llama3.3-70B-input-tokens")][:3] == \
        ("meta.llama3-3-70b-instruct-v1:0", "meta", "us-west-2")
    haiku = rows[("Claude 3 Haiku (Amazon Bedrock Edition)", "USE1-MP:USE1_InputTokenCount-Units")]
    # the model comes from the Marketplace service name; "Units" have no documented token scale
    assert haiku[:3] == ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic", "us-east-1")
    assert haiku[3:6] == (None, None, None) and haiku[7] == "Units" and haiku[6] > 0
    want_in = sum(Decimal(1000) * q for (q,) in store.query(
        "SELECT quantity FROM ledger WHERE sku LIKE '%-input-token%' AND sku NOT LIKE '%MP:%'"))
    assert store.query("SELECT sum(input_tokens) FROM ledger")[0][0] == want_in


def test_hourly_asks_hourly_periods(store, settings, fake):
    window = (date(2026, 3, 1), date(2026, 3, 2))
    [r] = run(store, settings, window, granularity="1h")
    assert r.status == "ok", r.error
    req = fake.requests[0][0]
    assert req["Granularity"] == "HOURLY"
    assert req["TimePeriod"] == {"Start": "2026-03-01T00:00:00Z", "End": "2026-03-02T00:00:00Z"}
    assert store.query("SELECT count(DISTINCT period_start) FROM ledger")[0][0] == 24
    assert store.query("SELECT DISTINCT period_end - period_start FROM ledger") == [(timedelta(hours=1),)]


@pytest.mark.parametrize("kind", ["throttle", "limit"])
def test_throttling_is_retried_then_succeeds(store, settings, fake, kind):
    fake.faults.append(Fault(kind, times=2))
    [r] = run(store, settings)
    assert r.status == "ok", r.error
    assert statuses(fake) == [400, 400, 200] and r.requests == 3 and 0 < r.waited < 1
    assert billed(store, "aws") == fake.cost(*WEEK)


@pytest.mark.parametrize("kind", ["500", "503"])
def test_a_5xx_is_retried_then_succeeds(store, settings, fake, kind):
    fake.faults.append(Fault(kind))
    [r] = run(store, settings)
    assert r.status == "ok" and statuses(fake) == [int(kind), 200] and r.requests == 2


def test_throttling_that_never_ends_fails_with_the_next_step(store, settings, fake):
    fake.faults.append(Fault("throttle", times=99))
    [r] = run(store, settings)
    assert r.status == "failed" and r.requests == FAST.max_attempts == len(fake.requests)
    assert "failed after 4 attempts, last with 400 ThrottlingException: Rate exceeded" in r.error
    assert "try again later" in r.error


@pytest.mark.parametrize(("change", "status", "code"), [
    ({"secret": "wrong-" + SECRET[::-1]}, 403, "InvalidSignatureException"),
    ({"key_id": "AKIA.UNKNOWN.KEY.000"}, 403, "UnrecognizedClientException"),
    ({"denied": True}, 400, "AccessDeniedException"),
])
def test_bad_credentials_name_the_iam_key_and_the_permission(workdir, store, fake, monkeypatch, caplog, change,
                                                             status, code):
    secret = change.get("secret", SECRET)
    monkeypatch.setenv("BAD_SECRET", secret)
    if change.get("denied"):
        fake.denied_keys.add(KEY_ID)
    bad = aws(fake, api_key={"env": "BAD_SECRET"}, access_key_id=change.get("key_id", KEY_ID))
    settings = settings_for(workdir, {"bad": bad, **({} if change.get("denied") else {"good": aws(fake)})})
    caplog.set_level(logging.DEBUG)
    results = run(store, settings)
    r = results[0]
    assert r.status == "failed" and f"failed with {status} {code}" in r.error, r.error
    assert "check the AWS IAM access key" in r.error and "ce:GetCostAndUsage" in r.error
    assert "env:BAD_SECRET" in r.error and r.requests == 1  # an auth error is not retried
    if change.get("denied"):
        assert "is not authorized to perform: ce:GetCostAndUsage" in r.error
    else:
        assert results[1].status == "ok"  # the other source still syncs
    assert secret not in r.error and secret not in caplog.text
    assert store.query("SELECT last_error IS NOT NULL, cursor FROM sync_state WHERE source = 'bad'") == [(True, None)]


def test_a_malformed_page_names_the_page_and_changes_nothing(store, settings, fake):
    assert run(store, settings, (JAN, APR))[0].status == "ok"
    before, state = ledger(store, stable=False), store.query("SELECT cursor FROM sync_state")
    raw = store.query("SELECT count(*), max(fetched_at) FROM raw_pages")
    fake.faults.append(Fault("malformed", page=2))
    [r] = run(store, settings, (JAN, APR))
    assert r.status == "failed" and "aws: GetCostAndUsage page 2: the response is not JSON" in r.error, r.error
    assert ledger(store, stable=False) == before and store.query("SELECT cursor FROM sync_state") == state
    assert store.query("SELECT count(*), max(fetched_at) FROM raw_pages") == raw


def test_a_bad_amount_is_reported_with_its_page_and_position(store, settings, fake):
    fake.faults.append(Fault("bad_record"))
    [r] = run(store, settings)
    assert r.status == "failed"
    assert ("GetCostAndUsage page 1: malformed page at .ResultsByTime[0].Groups[0].Metrics.UnblendedCost.Amount: "
            "not a decimal string (value '12,50')") in r.error, r.error
    assert "ledger is unchanged" in r.error
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 0 == store.query("SELECT count(*) FROM raw_pages")[0][0]


def test_an_empty_window_loads_nothing_and_a_day_gone_empty_converges(store, settings, fake):
    fake.empty_days = {WEEK[0] + timedelta(days=i) for i in range(7)}
    [r] = run(store, settings)
    assert r.status == "ok" and r.rows == 0 and r.pages == 1
    body = json.loads(store.query("SELECT body FROM raw_pages")[0][0])
    assert len(body["ResultsByTime"]) == 7 and all(p["Groups"] == [] for p in body["ResultsByTime"])
    fake.empty_days = set()
    assert run(store, settings)[0].rows > 0
    fake.empty_days = {WEEK[0]}
    run(store, settings)
    assert store.query("SELECT count(*) FROM ledger WHERE period_start = ?", [WEEK[0]])[0][0] == 0
    assert billed(store, "aws") == fake.cost(*WEEK)


def test_an_estimated_day_restated_by_aws_takes_the_new_value(store, settings, fake):
    now = datetime(2026, 3, 10, 15)
    run(store, settings, (None, None), now=now)  # first run: the last 30 days
    day = datetime(2026, 3, 9)
    tags = store.query("SELECT DISTINCT tags FROM ledger WHERE period_start = ?", [day])
    assert tags == [('{"estimated":"true"}',)]  # March is not final yet
    assert store.query("SELECT count(*) FROM ledger WHERE period_start < '2026-03-01' AND tags IS NOT NULL")[0][0] == 0
    old = store.query("SELECT sum(billed_cost), count(*) FROM ledger WHERE period_start = ?", [day])[0]
    fake.restate(day.date())
    [r] = run(store, settings, (None, None), now=now + timedelta(days=1))
    assert (r.window_start, r.window_end) == (datetime(2026, 3, 8), datetime(2026, 3, 12))  # cursor - 3 days
    new = store.query("SELECT sum(billed_cost), count(*) FROM ledger WHERE period_start = ?", [day])[0]
    assert new[0] != old[0] and new[0] == fake.cost(day.date(), day.date() + timedelta(days=1))
    assert store.query("SELECT count(*) FROM ledger WHERE period_start = ?", [day])[0][0] == new[1]  # never doubled
    assert billed(store, "aws") == fake.cost(date(2026, 2, 9), date(2026, 3, 12))


def test_two_syncs_in_a_row_change_nothing(store, settings, fake):
    run(store, settings)
    first = ledger(store)
    [r] = run(store, settings)
    assert r.replaced == r.rows == len(first) and ledger(store) == first


def test_marketplace_off_and_extra_services(workdir, store, fake):
    settings = settings_for(workdir, {"aws": aws(fake, marketplace=False, services=["Amazon Simple Storage Service"])})
    [r] = run(store, settings)
    assert r.status == "ok", r.error
    assert fake.requests[0][0]["Filter"] == {"Dimensions": {
        "Key": "SERVICE", "Values": ["Amazon Bedrock", "Amazon Simple Storage Service"], "MatchOptions": ["EQUALS"]}}
    got = dict(store.query("SELECT service, max(service_category) FROM ledger GROUP BY 1"))
    assert got == {"Amazon Bedrock": "AI and Machine Learning", "Amazon Simple Storage Service": "Other"}


def test_check_makes_one_signed_call(fake, settings):
    connector = make_connector("aws", settings.sources["aws"])
    with connector.client() as http:
        said = connector.check(http)
    assert said.startswith("AWS key accepted; ce:GetCostAndUsage allowed") and http.requests == 1
    [(request, status)] = fake.requests
    assert status == 200 and request["Granularity"] == "DAILY"


def test_settings_are_checked_before_any_call(workdir, fake):
    half = {"type": "aws", "access_key_id": KEY_ID, "base_url": fake.base_url}
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(workdir, {"aws": half}))
    assert "access_key_id and api_key" in str(exc.value)
    both = {**aws(fake), "profile": "billing"}
    with pytest.raises(ConfigError):
        load_settings(write_config(workdir, {"aws": both}))
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(workdir, {"aws": {**aws(fake), "regoin": "us-east-1"}}))
    assert "regoin" in str(exc.value)


def test_the_fake_refuses_unsigned_or_wrongly_shaped_requests(fake):
    import httpx

    body = json.dumps({"TimePeriod": {"Start": "2026-01-01", "End": "2026-01-02"}, "Granularity": "DAILY",
                       "Metrics": ["UnblendedCost"]})
    plain = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSInsightsIndexService.GetCostAndUsage"}
    response = httpx.post(fake.base_url + "/", content=body, headers=plain)
    assert response.status_code == 403 and response.json()["__type"] == "MissingAuthenticationTokenException"
    # signed by boto3 but semantically wrong: AWS's own validation messages come back
    import boto3
    from botocore.exceptions import ClientError
    client = boto3.client("ce", endpoint_url=fake.base_url, region_name="us-east-1", aws_access_key_id=KEY_ID,
                          aws_secret_access_key=SECRET)
    for kwargs, code in [
        ({"GroupBy": [{"Type": "DIMENSION", "Key": k} for k in ("SERVICE", "USAGE_TYPE", "OPERATION")]},
         "ValidationException"),
        ({"Filter": {"Or": [{"Dimensions": {"Key": "SERVICE", "Values": ["Amazon Bedrock"]}}]}}, "ValidationException"),
        ({"NextPageToken": "bm90LWEtdG9rZW4="}, "InvalidNextTokenException"),
    ]:
        with pytest.raises(ClientError) as exc:
            client.get_cost_and_usage(TimePeriod={"Start": "2026-01-01", "End": "2026-01-02"}, Granularity="DAILY",
                                      Metrics=["UnblendedCost"], **kwargs)
        assert exc.value.response["Error"]["Code"] == code
    assert [line.service for line in LINES if "Bedrock" in line.service]  # the data has Bedrock lines


def test_two_sources_on_one_store(workdir, fake, ledger_url):
    settings = settings_for(workdir, {"a": aws(fake), "b": aws(fake)})
    with open_store(ledger_url("two")) as store:
        a, b = run(store, settings)
        assert a.status == b.status == "ok" and billed(store, "a") == billed(store, "b") == fake.cost(*WEEK)
