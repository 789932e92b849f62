"""Read-only API sync: pull each configured source's window, land it raw, replace it in the ledger.

Per source, in this order:

1. the window: ``--start``/``--end`` when given, else [cursor - restatement_days, tomorrow), where the
   cursor is the end of the last successful window (first run: the last ``INITIAL_DAYS`` days);
   vendors restate recent days, so the trailing days are always pulled again;
2. every page of every endpoint is fetched (the connector declares what to ask; the framework in
   ``connectors/base.py`` and ``connectors/http.py`` pages, retries and redacts);
3. ONE transaction: land the raw pages, delete the window's ledger rows of the source and append
   the normalized ones, move the cursor. A failure anywhere before the commit leaves the ledger,
   the landing and the cursor exactly as they were; only ``last_error`` is recorded.

One failing source does not stop the others. :func:`renormalize` replays the landing (oldest
window first) without calling any vendor: the fix for a normalization bug.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from .analysis.rollups import mark_stale
from .attribution import apply_rules
from .config import Settings
from .connectors import Connector, Page, make_connector
from .connectors.http import RetryPolicy
from .derived import settle
from .errors import ConfigError, SyncError
from .pricing import Pricer
from .store import Store, Transaction
from .sync_landing import land, replace_window

INITIAL_DAYS = 30
GRANULARITIES = ("1d", "1h")


@dataclass
class SourceResult:
    source: str
    type: str
    window_start: datetime | None = None
    window_end: datetime | None = None
    pages: int = 0
    requests: int = 0
    rows: int = 0
    replaced: int = 0
    waited: float = 0.0
    seconds: float = 0.0
    status: str = "pending"  # ok | failed
    error: str | None = None

    @property
    def window(self) -> str:
        if self.window_start is None or self.window_end is None:
            return "-"
        return f"{self.window_start:%Y-%m-%d}..{self.window_end:%Y-%m-%d}"


@dataclass(frozen=True)
class SyncEvent:
    kind: str  # start | page | loading | done | failed
    result: SourceResult
    endpoint: str | None = None
    page_no: int | None = None


EventHook = Callable[[SyncEvent], None]


def _midnight(d: date | datetime) -> datetime:
    return datetime(d.year, d.month, d.day)


def source_names(settings: Settings, sources: list[str] | None) -> list[str]:
    if not settings.sources:
        raise ConfigError("no API sources configured: add a [sources.NAME] table to aispend.toml "
                          "(see docs/sources/openai.md)")
    names = list(sources or settings.sources)
    unknown = [n for n in names if n not in settings.sources]
    if unknown:
        raise ConfigError(f"unknown source(s) {', '.join(unknown)}; configured: {', '.join(settings.sources)}")
    return names


def _cursor(store: Store, name: str) -> datetime | None:
    rows = store.query("SELECT cursor FROM sync_state WHERE source = ?", [name])
    return rows[0][0] if rows else None


def _window(store: Store, connector: Connector, start: date | None, end: date | None,
            now: datetime) -> tuple[datetime, datetime]:
    w_end = _midnight(end) if end else _midnight(now) + timedelta(days=1)
    if start:
        w_start = _midnight(start)
    else:
        if (cursor := _cursor(store, connector.name)) is not None:
            w_start = _midnight(min(cursor, w_end)) - timedelta(days=connector.settings.restatement_days)
        else:
            w_start = w_end - timedelta(days=INITIAL_DAYS)
        if (floor := connector.earliest_start()) is not None:
            w_start = max(w_start, floor)
    if w_start >= w_end:
        raise SyncError(f"{connector.name}: the window {w_start:%Y-%m-%d}..{w_end:%Y-%m-%d} is empty; "
                        "--start must be before --end (end is exclusive)")
    return w_start, w_end


def _set_state(store: Store, name: str, *, cursor: datetime | None = None, success: datetime | None = None,
               error: str | None = None, tx: Transaction | None = None) -> None:
    run = tx.execute if tx is not None else store.query
    run("INSERT INTO sync_state VALUES (?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET "
        "cursor = coalesce(excluded.cursor, sync_state.cursor), "
        "last_success = coalesce(excluded.last_success, sync_state.last_success), last_error = excluded.last_error",
        [name, cursor, success, error])


def sync(store: Store, settings: Settings, sources: list[str] | None = None, start: date | None = None,
         end: date | None = None, granularity: str = "1d", on_event: EventHook | None = None, *,
         now: datetime | None = None, policy: RetryPolicy | None = None) -> list[SourceResult]:
    """Sync each source (all configured ones by default); never raises for one source's failure."""
    if granularity not in GRANULARITIES:
        raise ConfigError(f"--granularity {granularity!r}: choose {' or '.join(GRANULARITIES)}")
    emit = on_event or (lambda e: None)
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    results = []
    for name in source_names(settings, sources):
        cfg = settings.sources[name]
        result = SourceResult(name, cfg.type)
        began, http = time.monotonic(), None
        try:
            connector = make_connector(name, cfg, **({"policy": policy} if policy else {}))
            if granularity not in connector.granularities:
                raise SyncError(f"{name}: {cfg.type} has no {granularity} buckets; use {connector.granularities[0]}")
            result.window_start, result.window_end = window = _window(store, connector, start, end, now)
            emit(SyncEvent("start", result))
            http = connector.client()
            with http:
                pages: list[Page] = []
                for endpoint in connector.endpoints():
                    for page in connector.pages(http, endpoint, *window, granularity):
                        pages.append(page)
                        result.pages, result.requests, result.waited = len(pages), http.requests, http.waited
                        emit(SyncEvent("page", result, endpoint.name, page.page_no))
                result.requests, result.waited = http.requests, http.waited
            pricer = Pricer.for_store(store, settings)
            batch_id = uuid.uuid4().hex
            with store.transaction() as tx:
                land(tx, connector, batch_id, window, granularity, now, pages)
                emit(SyncEvent("loading", result))
                rows, replaced = replace_window(tx, pricer, connector, batch_id, window, now, pages)
                apply_rules(tx, settings, [batch_id])
                mark_stale(tx, "batch_id = ?", [batch_id])
                settle(tx, store, settings)
                cursor = max(window[1], _cursor(store, name) or window[1])
                _set_state(store, name, cursor=cursor, success=now, error=None, tx=tx)
            result.rows, result.replaced, result.status = rows, replaced, "ok"
            emit(SyncEvent("done", result))
        except Exception as exc:  # noqa: BLE001 - one source's failure is reported, never fatal to the others
            text = str(exc) or type(exc).__name__
            if not isinstance(exc, (SyncError, ConfigError)):
                text = f"{name}: {type(exc).__name__}: {text}"
            result.status, result.error = "failed", http.redact(text) if http else text
            if http:
                result.requests, result.waited = http.requests, http.waited
            _set_state(store, name, error=result.error)
            emit(SyncEvent("failed", result))
        result.seconds = time.monotonic() - began
        results.append(result)
    return results


def renormalize(store: Store, settings: Settings, source: str | None = None) -> list[SourceResult]:
    """Rebuild each source's ledger rows from its landed pages, oldest window first; no network."""
    landed = [n for (n,) in store.query("SELECT DISTINCT source FROM raw_pages ORDER BY source")]
    names = [source] if source else landed
    results = []
    for name in source_names(settings, names) if names else []:
        connector = make_connector(name, settings.sources[name])
        by_name = {e.name: e for e in connector.endpoints()}
        result = SourceResult(name, connector.type, status="ok")
        pricer = Pricer.for_store(store, settings)
        with store.transaction() as tx:
            windows = tx.execute("SELECT DISTINCT batch_id, window_start, window_end, fetched_at FROM raw_pages "
                                 "WHERE source = ? ORDER BY fetched_at, batch_id", [name])
            for batch_id, w_start, w_end, fetched_at in windows:
                bodies = tx.execute("SELECT endpoint, page_no, body FROM raw_pages WHERE batch_id = ? "
                                    "ORDER BY endpoint, page_no", [batch_id])
                unknown = {e for e, _, _ in bodies if e not in by_name}
                if unknown:
                    raise SyncError(f"{name}: landed endpoint(s) {', '.join(sorted(unknown))} are not "
                                    f"{connector.type} endpoints (was the source's type changed?)")
                pages = [Page(by_name[e], n, b) for e, n, b in bodies]
                _, replaced = replace_window(tx, pricer, connector, batch_id, (w_start, w_end), fetched_at, pages)
                apply_rules(tx, settings, [batch_id])
                mark_stale(tx, "batch_id = ?", [batch_id])
                result.pages += len(pages)
                result.replaced += replaced
                result.window_start = min(filter(None, (result.window_start, w_start)))
                result.window_end = max(filter(None, (result.window_end, w_end)))
            settle(tx, store, settings)
        marks = ", ".join("?" for _ in connector.ledger_sources())
        result.rows = store.query(f"SELECT count(*) FROM ledger WHERE source IN ({marks})", connector.ledger_sources())[0][0]
        results.append(result)
    return results
