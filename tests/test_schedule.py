"""Scheduling: triggers, the ledger lock (busy, waiting, stale), the scheduler and `aispend serve`."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from aispend.config import Settings, load_settings
from aispend.errors import ConfigError
from aispend.schedule import (
    LockBusy,
    alerts_job,
    build_scheduler,
    ledger_lock,
    lock_path,
    parse_trigger,
    planned_jobs,
    run_locked,
)
from aispend.store import open_store

from .conftest import run_cli
from .fakes.webhook_server import WebhookReceiver
from .test_alerts import HOOK_KEY, budget_toml, channels_toml, secret_env, write
from .test_budgets import small_ledger


def test_triggers():
    assert parse_trigger("every 6h").interval == timedelta(hours=6)
    assert parse_trigger("every 30 m").interval == timedelta(minutes=30)
    assert parse_trigger("Every 2d").interval == timedelta(days=2)
    assert isinstance(parse_trigger("every 1s"), IntervalTrigger)
    cron = parse_trigger("0 7 * * 1-5", "Europe/Paris")
    assert isinstance(cron, CronTrigger) and str(cron.timezone) == "Europe/Paris"
    assert parse_trigger("off") is None
    for bad, message in (("every 0h", "at least 1"), ("hourly", "neither"), ("0 7 * *", "neither")):
        with pytest.raises(ConfigError, match=message):
            parse_trigger(bad)


def test_schedule_settings_are_checked_when_loaded(workdir):
    (workdir / "aispend.toml").write_text('[schedule]\nsync = "every six hours"\n')
    with pytest.raises(ConfigError, match="schedule.*every six hours.*neither"):
        load_settings(None)
    (workdir / "aispend.toml").write_text('[schedule]\ntimezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError, match="not an IANA time zone"):
        load_settings(None)


def test_jobs_run_only_when_there_is_something_to_do():
    assert planned_jobs(Settings()) == {}
    s = Settings.model_validate({
        "sources": {"oai": {"type": "openai", "api_key": {"env": "X"}}},
        "budgets": [{"name": "b", "amount": 1, "channels": ["c"]}],
        "alerts": {"channels": [{"name": "c", "type": "webhook", "url": {"env": "U"}}]},
        "schedule": {"sync": "0 */4 * * *", "alerts": "every 15m"}})
    jobs = planned_jobs(s)
    assert isinstance(jobs["sync"], CronTrigger) and jobs["alerts"].interval == timedelta(minutes=15)
    s.schedule.sync = "off"
    assert list(planned_jobs(s)) == ["alerts"]


def test_a_second_run_skips_or_waits_with_a_clear_message(workdir):
    settings = Settings()
    settings.store.url = str(workdir / "ledger.duckdb")
    assert lock_path(settings) == workdir / "ledger.duckdb.lock"
    with ledger_lock("sync", settings), pytest.raises(LockBusy) as busy:
        run_locked("alerts run", lambda: "ran", settings=settings)
    message = str(busy.value)
    assert message.startswith(f"alerts run skipped: the ledger is locked by sync (pid {os.getpid()} on "
                              f"{socket.gethostname()}, since ")
    assert "run again when it finishes, or pass --wait SECONDS" in message

    notes: list[str] = []
    held = threading.Event()

    def hold() -> None:
        with ledger_lock("sync", settings):
            held.set()
            time.sleep(0.6)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    began = time.monotonic()
    assert run_locked("alerts run", lambda: "ran", settings=settings, wait=10, notify=notes.append) == "ran"
    t.join()
    assert 0.3 < time.monotonic() - began < 5
    assert len(notes) == 1
    assert notes[0].startswith(f"alerts run: waiting for sync (pid {os.getpid()} on {socket.gethostname()}, since ")
    assert lock_path(settings).read_text() == ""  # released cleanly


HOLDER = """
import sys, time
from aispend.config import Settings
from aispend.schedule import run_locked
s = Settings()
s.store.url = sys.argv[1]
def hold():
    print("locked", flush=True)
    time.sleep(120)
run_locked("sync", hold, settings=s)
"""


def holder(path: Path | str) -> subprocess.Popen[str]:
    """A process holding the ledger lock of the ledger at ``path`` (a file path or a database URL)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_stale_lock_of_a_killed_run_is_recovered(workdir):
    settings = Settings()
    settings.store.url = str(workdir / "ledger.duckdb")
    proc = holder(workdir / "ledger.duckdb")
    with pytest.raises(LockBusy, match=f"locked by sync \\(pid {proc.pid} "):
        run_locked("alerts run", lambda: None, settings=settings)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert f'"pid": {proc.pid}' in lock_path(settings).read_text()  # the dead run's record is left behind
    notes: list[str] = []
    assert run_locked("alerts run", lambda: "ran", settings=settings, notify=notes.append) == "ran"
    assert len(notes) == 1 and notes[0].startswith(f"alerts run: recovered a stale ledger lock left by sync "
                                                   f"(pid {proc.pid} on {socket.gethostname()}")


def test_a_killed_runs_lock_is_released_on_either_engine(ledger_url):
    """A file lock on DuckDB, a session advisory lock on the server on PostgreSQL: either way the
    holder's death frees it, and while it lives the message names it."""
    settings = Settings()
    settings.store.url = ledger_url("ledger")
    proc = holder(settings.store.url)
    try:
        with pytest.raises(LockBusy, match=f"locked by sync \\(pid {proc.pid} on {socket.gethostname()}"):
            run_locked("alerts run", lambda: None, settings=settings)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert run_locked("alerts run", lambda: "ran", settings=settings, wait=10) == "ran"


def test_cli_alerts_run_skips_while_another_process_holds_the_lock(workdir, config_ledger):
    with open_store(config_ledger) as st:
        small_ledger(st)
    write(workdir, channels_toml(), budget_toml(), url=config_ledger)
    proc = holder(config_ledger)
    try:
        out = run_cli("alerts", "run", cwd=workdir)
        assert out.returncode == 1
        assert out.stderr.startswith(f"error: alerts run skipped: the ledger is locked by sync (pid {proc.pid}")
        waited = run_cli("alerts", "run", "--wait", "0.5", cwd=workdir)
        assert waited.returncode == 1 and "waiting for sync" in waited.stderr and "did not finish in time" in waited.stderr
        write(workdir, budget_toml(channels=""), url=config_ledger)
        nothing = run_cli("alerts", "run", cwd=workdir)
        assert nothing.returncode == 1 and "nothing to alert on: add [[alerts.rules]]" in nothing.stderr
    finally:
        proc.kill()
        proc.wait(10)


def test_the_scheduler_runs_alerts_and_a_busy_lock_skips_a_tick(workdir, monkeypatch, caplog, config_ledger):
    with open_store(config_ledger) as st:
        small_ledger(st, until=date.today())
    with WebhookReceiver(signing_key=HOOK_KEY.encode()) as web:
        write(workdir, channels_toml(), budget_toml(amount="100", forecast="[]"), '\n[schedule]\nalerts = "every 1s"\n',
              url=config_ledger)
        for k, v in secret_env(web).items():
            monkeypatch.setenv(k, v)
        settings = load_settings(None)
        caplog.set_level(logging.INFO, logger="aispend")
        with ledger_lock("sync", settings):
            alerts_job(settings)  # what a tick does while cron's sync runs
        assert web.requests == [] and "alerts run skipped: the ledger is locked by sync" in caplog.text
        scheduler = build_scheduler(settings)
        assert [j.id for j in scheduler.get_jobs()] == ["alerts"]
        scheduler.start()
        try:
            deadline = time.monotonic() + 20
            while not web.accepted and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            scheduler.shutdown(wait=True)
        assert len(web.bodies("/hook")) == 1 and "alerts: 1 queued, 1 sent, 0 failed" in caplog.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("scheduler", [True, False])
def test_serve_runs_the_scheduler_unless_told_not_to(workdir, scheduler, config_ledger):
    with open_store(config_ledger) as st:
        small_ledger(st, until=date.today())
    with WebhookReceiver(signing_key=HOOK_KEY.encode()) as web:
        write(workdir, channels_toml(), budget_toml(amount="100", forecast="[]"), '\n[schedule]\nalerts = "every 1s"\n',
              url=config_ledger)
        port = _free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("AISPEND_")}, **secret_env(web)}
        args = ["serve", "--port", str(port), "--log-level", "warning"] + ([] if scheduler else ["--no-scheduler"])
        proc = subprocess.Popen([sys.executable, "-m", "aispend", *args], cwd=workdir, env=env,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (scheduler and web.accepted):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200 and not scheduler:
                        time.sleep(2.5)  # two ticks' time: nothing may arrive
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=20)
        assert len(web.bodies("/hook")) == (1 if scheduler else 0), stderr
        assert ("scheduled: alerts: every 1s" in stderr) is scheduler
