"""Alerts end to end: real HTTP and SMTP receivers, the outbox across failures, kills and re-runs.

Test secrets are obviously fake (``...-not-a-secret``) and are checked never to reach output, logs or
the database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from aispend.alerts import alert_history, failing_channels, run_alerts
from aispend.config import Settings, load_settings
from aispend.demo import run_demo
from aispend.errors import ConfigError
from aispend.store import open_store

from .conftest import run_cli
from .fakes.smtp_server import SmtpServer
from .fakes.webhook_server import WebhookReceiver, verify
from .stores import toml_str
from .test_budgets import load, row, small_ledger

TODAY = date(2026, 4, 10)
HOOK_KEY = "test-signing-key-not-a-secret"
SMTP_USER, SMTP_PASSWORD = "alerts-test", "test-password-not-a-secret"
SLACK_PATH = "/slack/services/TEST/TEST/slack-path-not-a-secret"
TEAMS_PATH = "/teams/workflows/teams-path-not-a-secret"
HOOK_PATH = "/hook/hook-path-not-a-secret"
SECRETS = (HOOK_KEY, SMTP_PASSWORD, "slack-path-not-a-secret", "teams-path-not-a-secret", "hook-path-not-a-secret")
DASHBOARD = "https://aispend.example"


def secret_env(web: WebhookReceiver, dead: WebhookReceiver | None = None) -> dict[str, str]:
    return {"ALERT_SLACK_URL": (dead or web).origin + SLACK_PATH, "ALERT_TEAMS_URL": web.origin + TEAMS_PATH,
            "ALERT_HOOK_URL": web.origin + HOOK_PATH, "ALERT_HOOK_KEY": HOOK_KEY, "ALERT_SMTP_PASSWORD": SMTP_PASSWORD}


def channels_toml(smtp: SmtpServer | None = None) -> str:
    text = f"""
[alerts]
dashboard_url = "{DASHBOARD}"

[[alerts.channels]]
name = "slack-finops"
type = "slack"
url = {{ env = "ALERT_SLACK_URL" }}

[[alerts.channels]]
name = "teams-finops"
type = "teams"
url = {{ env = "ALERT_TEAMS_URL" }}

[[alerts.channels]]
name = "hook"
type = "webhook"
url = {{ env = "ALERT_HOOK_URL" }}
signing_key = {{ env = "ALERT_HOOK_KEY" }}
"""
    if smtp:
        text += f"""
[[alerts.channels]]
name = "mail"
type = "email"
smtp_host = "localhost"
smtp_port = {smtp.port}
username = "{SMTP_USER}"
password = {{ env = "ALERT_SMTP_PASSWORD" }}
ca_file = "{smtp.ca_file}"
from = "aispend@example.com"
to = ["finops@example.com"]
"""
    return text


def budget_toml(amount: str = "1000", channels: str = '"hook"', thresholds: str = "[50, 80, 100]",
                forecast: str = "[100]", name: str = "search", scope: str = '{ owner = "search" }') -> str:
    return f"""
[[budgets]]
name = "{name}"
amount = {amount}
scope = {scope}
thresholds = {thresholds}
forecast = {forecast}
owners = ["search-lead@example.com"]
channels = [{channels}]
"""


def write(workdir: Path, *parts: str, url: str) -> None:
    (workdir / "aispend.toml").write_text(f"[store]\nurl = {toml_str(url)}\n" + "".join(parts))


def settings_for(workdir: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *parts: str,
                 url: str) -> Settings:
    write(workdir, *parts, url=url)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return load_settings(None)


def stored_text(url: str) -> str:
    with open_store(url) as st:
        tables = [t for (t,) in st.query("SELECT table_name FROM information_schema.tables WHERE table_type = "
                                         "'BASE TABLE' AND table_schema NOT IN ('information_schema', 'pg_catalog')")]
        return "\n".join(str(st.query(f'SELECT * FROM "{t}"')) for t in tables)


def no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_slack_teams_webhook_and_email_receive_the_alert_once(workdir, config_ledger):
    with open_store(config_ledger) as st:
        small_ledger(st)
    with WebhookReceiver(signing_key=HOOK_KEY.encode()) as web, SmtpServer(workdir, SMTP_USER, SMTP_PASSWORD) as smtp:
        write(workdir, channels_toml(smtp), budget_toml(channels=""), """
[[alerts.rules]]
name = "budgets to finops"
what = "budgets"
channels = ["slack-finops", "teams-finops", "hook", "mail"]
owners = ["finops-lead@example.com"]
""", url=config_ledger)
        env = secret_env(web)
        out = run_cli("alerts", "run", "--today", "2026-04-10", cwd=workdir, env=env)
        assert out.returncode == 0, out.stderr
        assert "8 alert(s) queued, 8 sent" in out.stderr  # actual 100% and forecast 100%, four channels

        # Slack: Block Kit, what breached and by how much, the top contributors, the dashboard link.
        slack = {b["blocks"][0]["text"]["text"]: b for b in web.bodies("/slack/")}
        body = slack["Budget search: 100.10% used (2026-04)"]
        assert [b["type"] for b in body["blocks"]] == ["header", "section", "section", "section", "context", "actions"]
        summary = body["blocks"][1]["text"]["text"]
        assert "spent $1,001.00 of $1,000.00 for 2026-04 (100.10%), past its 100% threshold ($1,000.00) by $1.00" in summary
        assert "The budget broke on 2026-04-10" in summary
        assert "*Top by model:* gpt-4o $1,001.00" in body["blocks"][3]["text"]["text"]
        assert "*Top by API key:* key-a $1,001.00" in body["blocks"][3]["text"]["text"]
        assert body["blocks"][-1]["elements"][0]["url"] == f"{DASHBOARD}/explorer?owner=search"
        assert "search-lead@example.com, finops-lead@example.com" in body["blocks"][4]["elements"][0]["text"]
        assert any(t.startswith("Budget search: forecast 300.") for t in slack)

        # Teams: an Adaptive Card attachment.
        teams = web.bodies("/teams/")
        assert len(teams) == 2
        card = teams[0]["attachments"][0]
        assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert card["content"]["type"] == "AdaptiveCard" and card["content"]["actions"][0]["type"] == "Action.OpenUrl"
        assert any(b["type"] == "FactSet" for b in card["content"]["body"])

        # Webhook: signed (the receiver verified every signature), exact figures in data.
        assert web.signature_failures == 0
        hooks = {b["kind"]: (b, req) for path, b, req in web.accepted if path.startswith("/hook")}
        assert set(hooks) == {"budget", "budget_forecast"}
        body, req = hooks["budget"]
        assert verify(HOOK_KEY.encode(), req.body, req.headers["X-Aispend-Signature"])
        assert req.headers["X-Aispend-Timestamp"] == str(body["timestamp"])
        assert req.headers["X-Aispend-Delivery"] == body["id"]
        assert (body["level"], body["level_label"], body["period"], body["scope"]) == (100, "100%", "2026-04", "search")
        assert (body["data"]["spent_usd"], body["data"]["amount_usd"], body["data"]["over_threshold_usd"]) == (
            "1001.00", "1000.00", "1.00")

        # Email: over STARTTLS, authenticated, to the channel and the owners with addresses, text + HTML.
        assert len(smtp.received) == 2
        mail = next(r for r in smtp.received if "used" in r.message["Subject"])
        assert mail.tls and mail.login == SMTP_USER and smtp.auth_attempts == 2
        assert mail.message["Subject"] == "[aispend] Budget search: 100.10% used (2026-04)"
        assert sorted(mail.rcpt_tos) == ["finops-lead@example.com", "finops@example.com", "search-lead@example.com"]
        assert mail.message.get_content_type() == "multipart/alternative"
        text = mail.message.get_body(("plain",)).get_content()
        html = mail.message.get_body(("html",)).get_content()
        assert "past its 100% threshold ($1,000.00) by $1.00" in text and "Top by model: gpt-4o $1,001.00" in text
        assert f"href='{DASHBOARD}/explorer?owner=search'" in html

        # A re-run without change sends nothing.
        again = run_cli("alerts", "run", "--today", "2026-04-10", cwd=workdir, env=env)
        assert again.returncode == 0 and "0 alert(s) queued, 0 sent" in again.stderr
        assert len(web.requests) == 6 and len(smtp.received) == 2

        history = run_cli("alerts", "history", "--format", "json", cwd=workdir, env=env)
        rows = json.loads(history.stdout)
        assert len(rows) == 8 and {r["status"] for r in rows} == {"sent"}
        assert {r["channel"] for r in rows} == {"slack-finops", "teams-finops", "hook", "mail"}
    no_secrets(out.stdout, out.stderr, again.stderr, history.stdout, stored_text(config_ledger))


def test_500_twice_then_200_is_delivered_once(store, workdir, monkeypatch, config_ledger):
    small_ledger(store)
    with WebhookReceiver(signing_key=HOOK_KEY.encode(), statuses=[500, 500]) as web:
        settings = settings_for(workdir, monkeypatch, secret_env(web), channels_toml(), budget_toml(forecast="[]"),
                                url=config_ledger)
        waits: list[float] = []
        run = run_alerts(store, settings, today=TODAY, sleep=waits.append)
        assert (len(run.queued), run.sent, run.failing) == (1, 1, [])
        assert len(web.requests) == 3 and len(web.accepted) == 1  # two 500s, then the one delivery
        assert waits == [0.5, 1.0]  # backoff between the tries
        [d] = alert_history(store)
        assert (d.status, d.attempts, d.last_error) == ("sent", 3, None)
        assert run_alerts(store, settings, today=TODAY, sleep=waits.append).sent == 0
        assert len(web.requests) == 3
        # The verification snippet of docs/budgets-alerts.md accepts it, and refuses a tampered body.
        verify_doc = docs_snippet()
        _, body, req = web.accepted[0]
        headers = {h: req.headers[h] for h in ("X-Aispend-Signature", "X-Aispend-Timestamp")}
        assert verify_doc(req.body, headers, HOOK_KEY.encode()) == body
        with pytest.raises(ValueError, match="bad signature"):
            verify_doc(req.body.replace(b"search", b"s3arch"), headers, HOOK_KEY.encode())


def docs_snippet():
    text = (Path(__file__).parents[1] / "docs" / "budgets-alerts.md").read_text()
    code = text.split("<!-- verify-snippet -->\n```python\n", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(code, scope)  # noqa: S102 - the documented snippet, run as a reader would
    return scope["verify"]


KILLED = """
import os, signal
from datetime import date
from aispend.alerts import evaluate_alerts
from aispend.config import load_settings
from aispend.store import open_store

settings = load_settings(None)
store = open_store(settings.store.url)
queued = evaluate_alerts(store, settings, today=date(2026, 4, 10))
print(len(queued), flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # between evaluation and delivery, the ledger still open
"""


def test_a_run_killed_between_evaluation_and_delivery_delivers_after_restart_once(workdir, config_ledger):
    with open_store(config_ledger) as st:
        small_ledger(st)
    with WebhookReceiver(signing_key=HOOK_KEY.encode()) as web:
        write(workdir, channels_toml(), budget_toml(channels='"hook", "teams-finops"'), url=config_ledger)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("AISPEND_")}, **secret_env(web)}
        killed = subprocess.run([sys.executable, "-c", KILLED], check=False, cwd=workdir, env=env, capture_output=True, text=True,
                                timeout=120)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert killed.stdout.strip() == "4"  # actual and forecast alerts, two channels, queued
        assert web.requests == []
        with open_store(config_ledger) as st:
            assert {s for (s,) in st.query("SELECT status FROM alert_outbox")} == {"pending"}

        restarted = run_cli("alerts", "run", "--today", "2026-04-10", cwd=workdir, env=secret_env(web))
        assert restarted.returncode == 0, restarted.stderr
        assert "0 alert(s) queued, 4 sent" in restarted.stderr
        assert len(web.accepted) == 4 and len({b["id"] for b in web.bodies("/hook")}) == 2
        assert run_cli("alerts", "run", "--today", "2026-04-10", cwd=workdir, env=secret_env(web)).returncode == 0
        assert len(web.requests) == 4  # once


def test_only_an_escalation_is_sent_again(store, workdir, monkeypatch, config_ledger):
    small_ledger(store)  # 180.15 a day across three vendors
    with WebhookReceiver(signing_key=HOOK_KEY.encode()) as web:
        settings = settings_for(workdir, monkeypatch, secret_env(web), channels_toml(),
                                budget_toml(amount="2500", thresholds="[25, 50, 100]", forecast="[]", scope="{}"),
                                url=config_ledger)

        def sent_on(day: int) -> list[str]:
            before = len(web.accepted)
            run_alerts(store, settings, today=date(2026, 4, day))
            return [b["level_label"] for _, b, _ in web.accepted[before:]]

        assert sent_on(3) == []  # 21.6%
        assert sent_on(4) == ["25%"]  # 28.8%
        assert sent_on(5) == [] and sent_on(4) == []  # no change, then lower: nothing
        assert sent_on(7) == ["50%"]  # 50.4%: an escalation
        assert sent_on(10) == [] and sent_on(6) == []
        assert [b["summary"].split(", past")[0] for b in web.bodies("/hook")] == [
            "search has spent $720.60 of $2,500.00 for 2026-04 (28.82%)",
            "search has spent $1,261.05 of $2,500.00 for 2026-04 (50.44%)"]


def test_a_pending_alert_overtaken_by_a_higher_level_is_superseded(store, workdir, monkeypatch, config_ledger):
    small_ledger(store)
    with WebhookReceiver(signing_key=HOOK_KEY.encode(), statuses=[503] * 3) as web:
        settings = settings_for(workdir, monkeypatch, secret_env(web), channels_toml(),
                                budget_toml(amount="2500", thresholds="[25, 50]", forecast="[]", scope="{}"),
                                url=config_ledger)
        now = datetime(2026, 4, 4, 9)
        run = run_alerts(store, settings, today=date(2026, 4, 4), now=now, sleep=lambda s: None)
        assert run.sent == 0 and len(run.failing) == 1  # 25% queued, the channel failed three times
        assert run.failing[0].next_attempt_at == now + timedelta(seconds=60)
        run = run_alerts(store, settings, today=date(2026, 4, 7), now=now + timedelta(minutes=2))
        assert run.sent == 1 and run.failing == []
        assert [b["level_label"] for b in web.bodies("/hook")] == ["50%"]  # the 25% never follows it
        assert sorted((d.level_label, d.status) for d in alert_history(store)) == [("25%", "superseded"),
                                                                                  ("50%", "sent")]


def test_a_failing_channel_is_reported_and_the_others_still_get_their_alerts(workdir, config_ledger):
    with open_store(config_ledger) as st:
        small_ledger(st)
    with WebhookReceiver(signing_key=HOOK_KEY.encode()) as web, WebhookReceiver(statuses=[503] * 50) as dead:
        write(workdir, channels_toml(), budget_toml(channels='"slack-finops", "hook"'), url=config_ledger)
        env = secret_env(web, dead)
        out = run_cli("alerts", "run", "--today", "2026-04-10", cwd=workdir, env=env)
        assert out.returncode == 1
        failing = [line for line in out.stderr.splitlines() if line.startswith("failing:")]
        assert len(failing) == 1  # one line per failing channel, however many alerts wait for it
        assert failing[0].startswith("failing: channel slack-finops (slack): HTTP 503 Service Unavailable")
        assert "(after 3 tries) [2 alert(s) waiting, 0 given up; next try from" in failing[0]
        assert len(dead.requests) == 3  # its second alert waited instead of failing again
        assert len(web.bodies("/hook")) == 2  # the other channel got both

        history = run_cli("alerts", "history", cwd=workdir, env=env)
        assert history.returncode == 0 and "failing: channel slack-finops (slack): HTTP 503" in history.stdout
        rows = json.loads(run_cli("alerts", "history", "--format", "json", cwd=workdir, env=env).stdout)
        slack = sorted((r["status"], r["attempts"]) for r in rows if r["channel"] == "slack-finops")
        assert slack == [("pending", 0), ("pending", 1)]
    no_secrets(out.stderr, history.stdout)


def test_retries_back_off_give_up_and_a_success_clears_the_channel(store, workdir, monkeypatch, caplog, config_ledger):
    caplog.set_level("DEBUG")
    small_ledger(store)
    with WebhookReceiver(signing_key=HOOK_KEY.encode(), statuses=[500] * 9) as web:
        settings = settings_for(workdir, monkeypatch, secret_env(web), channels_toml(),
                                budget_toml(forecast="[]", thresholds="[50]"), url=config_ledger)
        settings.alerts.max_attempts, settings.alerts.retry_seconds = 3, 60
        t0 = datetime(2026, 4, 10, 12)
        quiet = {"today": TODAY, "sleep": lambda s: None}
        assert run_alerts(store, settings, now=t0, **quiet).failing[0].next_attempt_at == t0 + timedelta(seconds=60)
        assert len(web.requests) == 3
        run_alerts(store, settings, now=t0 + timedelta(seconds=30), **quiet)  # not due yet
        assert len(web.requests) == 3
        run = run_alerts(store, settings, now=t0 + timedelta(seconds=61), **quiet)
        assert run.failing[0].next_attempt_at == t0 + timedelta(seconds=61 + 120)  # doubled
        run = run_alerts(store, settings, now=t0 + timedelta(seconds=200), **quiet)
        [f] = run.failing
        assert (f.waiting, f.given_up, f.next_attempt_at) == (0, 1, None) and "no retry left" in f.line()
        assert [(d.status, d.attempts) for d in alert_history(store)] == [("failed", 3)]
        # A later alert to the same channel gets through: the channel is healthy again.
        load(store, [row(9000 + i, date(2026, 4, 20 + i), "openai", "500", owner="search") for i in range(2)])
        settings.budgets[0].thresholds = [50, 100]
        run = run_alerts(store, settings, today=date(2026, 4, 21), now=t0 + timedelta(days=11), sleep=lambda s: None)
        assert run.sent == 1 and failing_channels(store) == []
    assert "HTTP 500 Internal Server Error" in caplog.text
    no_secrets(caplog.text)


def test_dry_run_writes_and_sends_nothing(store, workdir, monkeypatch, config_ledger):
    small_ledger(store)
    with WebhookReceiver(signing_key=HOOK_KEY.encode()) as web:
        settings = settings_for(workdir, monkeypatch, secret_env(web), channels_toml(), budget_toml(),
                                url=config_ledger)
        run = run_alerts(store, settings, today=TODAY, dry_run=True)
        assert sorted(d.kind for d in run.queued) == ["budget", "budget_forecast"] and run.sent == 0
        assert web.requests == [] and alert_history(store) == []


def test_data_quality_alerts(store, workdir, monkeypatch, config_ledger):
    small_ledger(store)
    load(store, [row(5000, date(2026, 4, 9), "mistral", "0", model="mistral-unknown", input_tokens=1000)
                 | {"cost_usd": None, "billed_cost": None, "cost_source": "estimated", "pricing_status": "unpriced"}])
    store.query("INSERT INTO sync_state VALUES ('oai', ?, ?, NULL)", [datetime(2026, 4, 1), datetime(2026, 4, 1)])
    with WebhookReceiver(signing_key=HOOK_KEY.encode()) as web:
        settings = settings_for(workdir, monkeypatch, {**secret_env(web), "OAI_TEST_KEY": "x"}, channels_toml(), """
[sources.oai]
type = "openai"
api_key = { env = "OAI_TEST_KEY" }

[[alerts.rules]]
what = "data_quality"
channels = ["hook"]
""", url=config_ledger)
        run = run_alerts(store, settings, today=TODAY, now=datetime(2026, 4, 10, 8))
        assert run.sent == 2
        got = {b["data"]["check"]: b for b in web.bodies("/hook")}
        assert set(got) == {"source_stale", "unpriced_model"}
        assert got["source_stale"]["rule"] == "rule 1" and got["source_stale"]["period"] == "2026-04"
        assert "no successful sync for 9 day(s)" in got["source_stale"]["summary"]
        assert got["unpriced_model"]["severity"] == "critical"
        assert run_alerts(store, settings, today=TODAY, now=datetime(2026, 4, 11, 8)).sent == 0  # once a month


@pytest.mark.parametrize(("toml", "message"), [
    ('[[alerts.channels]]\nname = "s"\ntype = "slack"\nurl = "https://hooks.example/T0/B0/literal-not-a-secret"\n',
     "a literal secret"),
    ('[[alerts.channels]]\nname = "s"\ntype = "slack"\n', "slack channel s needs url"),
    ('[[alerts.channels]]\nname = "m"\ntype = "email"\nto = ["a@example.com"]\n', "email channel m needs smtp_host, from"),
    ('[[alerts.rules]]\nwhat = "budgets"\nchannels = ["nowhere"]\n', "rule 1: unknown channel"),
    ('[[alerts.rules]]\nwhat = "anomalies"\nchannels = ["x"]\nmin_severity = "error"\n', "choose info, warning"),
])
def test_bad_alert_settings_are_named_and_secrets_never_echoed(workdir, toml, message):
    (workdir / "aispend.toml").write_text(toml)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(None)
    assert "literal-not-a-secret" not in str(info.value)


# --- the demo ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory, make_ledger_url) -> str:
    root = tmp_path_factory.mktemp("alerts-demo")
    url = make_ledger_url(root, "ledger")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        with open_store(url) as store:
            run_demo(store, Settings(), root / "work", date(2026, 4, 6), seed=7, months=4)
    return url


def test_forecast_breach_alerts_on_the_demo(demo, workdir, monkeypatch, ledger_url):
    ledger = ledger_url("ledger", copy_of=demo)
    with WebhookReceiver(signing_key=HOOK_KEY.encode()) as web:
        settings = settings_for(workdir, monkeypatch, secret_env(web), channels_toml(),
                                budget_toml(name="all-ai", amount="12000", scope="{}"),
                                budget_toml(name="fy", amount="150000", scope="{}", thresholds="[50]")
                                .replace("[[budgets]]", '[[budgets]]\nperiod = "fiscal_year"\nfiscal_year_start_month = 2'),
                                url=ledger)
        with open_store(ledger) as store:
            run = run_alerts(store, settings, today=date(2026, 4, 6))
        assert run.sent == 2 and run.failing == []
        got = {b["scope"]: b for b in web.bodies("/hook")}
        month, fy = got["all-ai"], got["fy"]
        assert (month["kind"], month["period"], month["level"]) == ("budget_forecast", "2026-04", 100)
        assert month["summary"].startswith("all-ai is forecast to end 2026-04 at $14,573.28 (121.44% of $12,000.00), "
                                           "$2,573.28 above its 100% forecast threshold ($12,000.00).")
        assert "At the forecast rate it breaks the budget on 2026-04-2" in month["summary"]
        assert D(month["data"]["forecast_usd"]) == D("14573.28382487")
        assert {c["by"] for c in month["contributors"]} == {"model", "feature", "API key"}
        assert (fy["kind"], fy["period"]) == ("budget_forecast", "FY2027")
        assert fy["data"]["method"].endswith("+daily-rate")


def test_anomaly_alerts_on_the_demo(demo, workdir, monkeypatch, ledger_url):
    ledger = ledger_url("ledger", copy_of=demo)
    with WebhookReceiver(signing_key=HOOK_KEY.encode()) as web:
        settings = settings_for(workdir, monkeypatch, secret_env(web), channels_toml(), """
[[alerts.rules]]
name = "big anomalies"
what = "anomalies"
min_severity = "critical"
channels = ["hook"]
owners = ["oncall@example.com"]
""", url=ledger)
        with open_store(ledger) as store:
            dry = run_alerts(store, settings, today=date(2026, 3, 28), dry_run=True)
            # the runaway day: one spend spike (at provider + model, which names it) and the token jump
            # seen by feature and by project
            assert len(dry.queued) == 3 and store.query("SELECT count(*) FROM anomalies") == [(0,)]
            assert web.requests == [] and alert_history(store) == []
            run = run_alerts(store, settings, today=date(2026, 3, 28))  # the day after the runaway prompt
            again = run_alerts(store, settings, today=date(2026, 3, 29))
        assert run.sent == 3 and again.sent == 0
        bodies = web.bodies("/hook")
        assert {(b["data"]["kind"], b["period"], b["severity"]) for b in bodies} == {
            ("spend_spike", "2026-03-27", "critical"), ("tokens_per_request", "2026-03-27", "critical")}
        assert {"provider": "openai"} not in [b["data"]["scope"] for b in bodies]  # not told twice
        spike = next(b for b in bodies if b["data"]["scope"] == {"provider": "openai", "model": "gpt-4.1"})
        assert spike["link"] == f"{DASHBOARD}/explorer?provider=openai&model=gpt-4.1&start=2026-03-27"
        assert spike["contributors"][1] == {"by": "feature", "top": [{"value": "kb-answers", "cost": "$710.87"}]}
        assert spike["owners"] == ["oncall@example.com"]
