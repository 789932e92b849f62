"""Run sync and alerts on a schedule, never two runs at once.

Two pieces:

* :func:`run_locked` takes the **ledger lock** around one run. ``aispend sync``, ``aispend alerts
  run`` and the scheduler inside ``aispend serve`` all take it, so cron and the server never
  overlap. The lock is an advisory ``flock`` on ``<ledger>.lock`` next to the ledger file; while
  held, the file records who holds it (job, pid, host, since) so a second run can say what it
  waits for. The kernel drops a dead process's ``flock``, so a lock left by a killed run (its file
  still names a pid that is gone) is simply taken over, and the take-over is reported.
  On a PostgreSQL ledger the lock is a session advisory lock on the server instead, so runs on
  different hosts exclude each other too; the server drops a dead session's lock the same way.
* :func:`build_scheduler` returns an APScheduler 3 ``BackgroundScheduler`` with a ``sync`` and an
  ``alerts`` job on ``[schedule]``'s triggers: ``"every 6h"`` (s, m, h, d), a 5-field cron line
  (``"0 7 * * 1-5"``, in ``[schedule] timezone``) or ``"off"``. A job whose lock is busy is skipped
  (logged), never queued behind the other: the next tick catches up.

POSIX only (``fcntl``), like the rest of the server side.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .config import Settings
from .errors import AispendError, ConfigError

log = logging.getLogger("aispend.schedule")
T = TypeVar("T")

_EVERY = re.compile(r"^every\s+(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
POLL_SECONDS = 0.1


class ScheduleError(ConfigError):
    pass


class LockBusy(AispendError):
    """Another run holds the ledger lock; this one was skipped (or waited too long)."""


# -- triggers -----------------------------------------------------------------------------------


def parse_trigger(spec: str, timezone: str = "UTC") -> Any:
    """``"every 6h"`` -> IntervalTrigger, a cron line -> CronTrigger, ``"off"`` -> None."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"[schedule] timezone {timezone!r} is not an IANA time zone (e.g. UTC, Europe/Paris)") from None
    text = spec.strip().lower()
    if text in ("off", "never", ""):
        return None
    if m := _EVERY.match(text):
        if int(m[1]) == 0:
            raise ScheduleError(f"schedule {spec!r}: the interval must be at least 1")
        return IntervalTrigger(**{_UNITS[m[2]]: int(m[1])}, timezone=tz)
    try:
        return CronTrigger.from_crontab(spec.strip(), timezone=tz)
    except ValueError as exc:
        raise ScheduleError(f"schedule {spec!r} is neither \"every N(s|m|h|d)\" nor a 5-field cron line "
                            f"(minute hour day month weekday): {exc}") from None


# -- the ledger lock ----------------------------------------------------------------------------


def lock_path(settings: Settings) -> Path:
    """``<ledger file>.lock``; ``./aispend.lock`` for a ledger that is not a file."""
    url = settings.store.url.removeprefix("duckdb://")
    if url == ":memory:" or "://" in url:
        return Path("aispend.lock").resolve()
    return Path(f"{Path(url).expanduser().resolve()}.lock")


def _holder(text: str) -> dict[str, Any] | None:
    try:
        record = json.loads(text) if text.strip() else None
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _describe(record: dict[str, Any] | None) -> str:
    if not record:
        return "another run"
    return f"{record.get('job', '?')} (pid {record.get('pid', '?')} on {record.get('host', '?')}, since " \
           f"{record.get('since', '?')} UTC)"


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


@contextmanager
def ledger_lock(name: str, settings: Settings, *, wait: float = 0.0,
                notify: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold the ledger lock for ``name`` (``sync``, ``alerts run``); :class:`LockBusy` if not got in ``wait`` s."""
    say = notify or log.info
    from .store import is_server_url

    if is_server_url(settings.store.url):
        with _server_lock(name, settings.store.url, wait=wait, say=say):
            yield lock_path(settings)
        return
    path = lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a+")  # noqa: SIM115 - held open for the whole run: closing it drops the lock
    try:
        deadline, told = time.monotonic() + wait, False
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                f.seek(0)
                holder = _describe(_holder(f.read()))
                if time.monotonic() >= deadline:
                    raise LockBusy(
                        f"{name} skipped: the ledger is locked by {holder} ({path}); "
                        + ("it did not finish in time: " if wait else "")
                        + "run again when it finishes, or pass --wait SECONDS") from None
                if not told:
                    say(f"{name}: waiting for {holder} to finish (lock {path})")
                    told = True
                time.sleep(POLL_SECONDS)
        f.seek(0)
        left = _holder(f.read())
        if left:  # a holder that released would have emptied the file: it was killed
            gone = "" if left.get("host") != socket.gethostname() or not _alive(int(left.get("pid", 0) or 0)) \
                else " (its pid is alive but no longer holds the lock)"
            say(f"{name}: recovered a stale ledger lock left by {_describe(left)}{gone}; that run did not finish")
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"job": name, "pid": os.getpid(), "host": socket.gethostname(),
                            "since": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")}))
        f.flush()
        try:
            yield path
        finally:
            f.seek(0)
            f.truncate()  # an empty file: released cleanly
            f.flush()
            fcntl.flock(f, fcntl.LOCK_UN)
    finally:
        f.close()


# pg_try_advisory_lock(int, int): the pair "aisp", "lock", visible as classid/objid in pg_locks
_SERVER_LOCK = (0x61697370, 0x6C6F636B)


@contextmanager
def _server_lock(name: str, url: str, *, wait: float, say: Callable[[str], None]) -> Iterator[None]:
    """The ledger lock as a PostgreSQL session advisory lock, held by a connection of its own."""
    import psycopg

    # Who holds it shows in pg_stat_activity (application_name is cut at 63 bytes).
    me = f"aispend|{name}|{os.getpid()}|{socket.gethostname()}"[:63]
    with psycopg.connect(url, autocommit=True, application_name=me) as con:
        deadline, told = time.monotonic() + wait, False
        while not con.execute("SELECT pg_try_advisory_lock(%s, %s)", _SERVER_LOCK).fetchone()[0]:
            row = con.execute(
                "SELECT a.application_name, to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') "
                "FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.classid = %s AND l.objid = %s", _SERVER_LOCK).fetchone()
            parts = row[0].split("|") if row and row[0].startswith("aispend|") else []
            holder = _describe(dict(zip(("job", "pid", "host"), parts[1:4], strict=False)) | {"since": row[1]}
                               if parts else None)
            if time.monotonic() >= deadline:
                raise LockBusy(f"{name} skipped: the ledger is locked by {holder} (a PostgreSQL advisory lock); "
                               + ("it did not finish in time: " if wait else "")
                               + "run again when it finishes, or pass --wait SECONDS")
            if not told:
                say(f"{name}: waiting for {holder} to finish")
                told = True
            time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            con.execute("SELECT pg_advisory_unlock(%s, %s)", _SERVER_LOCK)


def run_locked(name: str, fn: Callable[[], T], *, settings: Settings, wait: float = 0.0,
               notify: Callable[[str], None] | None = None) -> T:
    """``fn()`` under the ledger lock, so no two sync/alert runs overlap (see :func:`ledger_lock`).

    ``wait``: seconds to wait for a running holder before :class:`LockBusy` (0: skip at once).
    ``notify`` receives one-line notes (waiting, a stale lock recovered); default: the log.
    """
    with ledger_lock(name, settings, wait=wait, notify=notify):
        return fn()


# -- the scheduler --------------------------------------------------------------------------------


def sync_job(settings: Settings) -> None:
    """One scheduled ``aispend sync`` (every configured source), under the lock."""
    from .store import open_store
    from .sync import sync

    def work() -> list[Any]:
        with open_store(settings.store.url) as store:
            return sync(store, settings)

    for r in _guarded("sync", work, settings) or []:
        level = logging.INFO if r.status == "ok" else logging.ERROR
        log.log(level, "sync %s: %s, %d row(s)%s", r.source, r.status, r.rows, f": {r.error}" if r.error else "")


def alerts_job(settings: Settings) -> None:
    """One scheduled ``aispend alerts run``, under the lock."""
    from .alerts import run_alerts
    from .store import open_store

    def work() -> Any:
        with open_store(settings.store.url) as store:
            return run_alerts(store, settings)

    run = _guarded("alerts run", work, settings)
    if run is not None:
        log.info("alerts: %d queued, %d sent, %d failed", len(run.queued), run.sent, len(run.failures))
        for line in run.failure_lines():
            log.error("alerts: %s", line)


def _guarded(name: str, work: Callable[[], T], settings: Settings) -> T | None:
    try:
        return run_locked(name, work, settings=settings)
    except LockBusy as exc:
        log.warning("%s", exc)
    except AispendError as exc:
        log.error("%s failed: %s", name, exc)
    except Exception:  # a job must not take the server down; the traceback goes to the log
        log.exception("%s failed", name)
    return None


def planned_jobs(settings: Settings) -> dict[str, Any]:
    """``{job name: trigger}`` for the jobs that have something to do."""
    jobs: dict[str, Any] = {}
    tz = settings.schedule.timezone
    if settings.sources and (trigger := parse_trigger(settings.schedule.sync, tz)) is not None:
        jobs["sync"] = trigger
    alerting = settings.alerts.rules or any(b.channels for b in settings.budgets)
    if alerting and (trigger := parse_trigger(settings.schedule.alerts, tz)) is not None:
        jobs["alerts"] = trigger
    return jobs


def build_scheduler(settings: Settings) -> Any:
    """A (not started) BackgroundScheduler with the jobs of :func:`planned_jobs`."""
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1,
                                                                "misfire_grace_time": 600})
    functions = {"sync": sync_job, "alerts": alerts_job}
    for name, trigger in planned_jobs(settings).items():
        scheduler.add_job(functions[name], trigger, args=[settings], id=name, name=name)
    return scheduler


def describe_jobs(settings: Settings) -> list[str]:
    """One line per planned job, for ``aispend serve``'s banner."""
    specs = {"sync": settings.schedule.sync, "alerts": settings.schedule.alerts}
    return [f"{name}: {specs[name]}" for name in planned_jobs(settings)]
