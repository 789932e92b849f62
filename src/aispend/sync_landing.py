"""Landing raw pages and replacing a source's window in the ledger (private to ``aispend.sync``).

Why through the import formats: a Costs API page synced here and the same page saved to a file
and imported must give the same rows, so the pages of one window are written to a temporary JSON
array and normalized by ``ingest/native`` exactly as a file import is, through the runner's
shared core (validate ``_error``, row ids, pricing, append). Only the row id differs: a hash of
the row's natural key, so a re-pulled window keeps its ids whatever order the vendor sends.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from .analysis.rollups import mark_stale
from .config import SourceConfig
from .connectors import Connector, Page
from .errors import SyncError
from .ingest import sqlparts as s
from .ingest.native import Context, Probe, by_name
from .ingest.runner import load_rows, new_staging
from .pricing import Pricer
from .store import Transaction

_PAGE_POS = re.compile(r"^\.\[(\d+)\]")
_ATTRIBUTION = ("environment", "owner", "project")


def land(tx: Transaction, connector: Connector, batch_id: str, window: tuple[datetime, datetime],
         granularity: str, fetched_at: datetime, pages: Sequence[Page]) -> None:
    """Store the pages (bodies only: never headers or keys); drop landed windows this one covers."""
    start, end = window
    tx.execute("DELETE FROM raw_pages WHERE source = ? AND window_start >= ? AND window_end <= ?",
               [connector.name, start, end])
    if not pages:
        return
    n = len(pages)
    tx.append("raw_pages", pa.table({
        "source": [connector.name] * n,
        "endpoint": [p.endpoint.name for p in pages],
        "batch_id": [batch_id] * n,
        "window_start": pa.array([start] * n, pa.timestamp("us")),
        "window_end": pa.array([end] * n, pa.timestamp("us")),
        "granularity": [granularity] * n,
        "page_no": pa.array([p.page_no for p in pages], pa.int32()),
        "fetched_at": pa.array([fetched_at] * n, pa.timestamp("us")),
        "body": [p.body for p in pages],
    }))


def replace_window(tx: Transaction, pricer: Pricer, connector: Connector, batch_id: str,
                   window: tuple[datetime, datetime], fetched_at: datetime, pages: Sequence[Page]) -> tuple[int, int]:
    """Delete each of the connector's ledger sources' rows in the window and load the pages'.

    Returns (rows loaded, rows deleted). Raises :class:`SyncError` naming the endpoint and page of
    the first invalid record; the caller's transaction then rolls everything back.
    """
    loaded = deleted = 0
    for ledger_source in connector.ledger_sources():
        mark_stale(tx, "source = ? AND period_start >= ? AND period_start < ?", [ledger_source, *window])
        deleted += tx.delete_window(ledger_source, *window)
        group = [p for p in pages if connector.name + p.endpoint.ledger_suffix == ledger_source]
        for fmt_name in sorted({p.endpoint.format for p in group}):
            fmt_pages = [p for p in group if p.endpoint.format == fmt_name]
            loaded += _load(tx, pricer, connector, ledger_source, fmt_name, batch_id, window, fetched_at, fmt_pages)
    return loaded, deleted


def _load(tx: Transaction, pricer: Pricer, connector: Connector, ledger_source: str, fmt_name: str, batch_id: str,
          window: tuple[datetime, datetime], fetched_at: datetime, pages: list[Page]) -> int:
    fmt = by_name(fmt_name)
    if fmt is None:
        raise SyncError(f"{connector.name}: no normalizer named {fmt_name!r} (a connector bug)")
    with tempfile.TemporaryDirectory(prefix="aispend-sync-") as tmp:
        path = Path(tmp) / "pages.json"
        path.write_text("[" + ",\n".join(p.body for p in pages) + "]")
        probe = Probe(path, "json")
        staging = new_staging()
        try:
            for name, table in fmt.tables(probe).items():
                staging.register(name, table)
            ctx = Context(ledger_source, batch_id, fetched_at.isoformat(sep=" "))
            sql = _wrap(fmt.normalize_sql(probe, ctx), connector.settings, window)
            out = load_rows(tx, staging, sql, pricer, label=ledger_source, id_key=connector.type,
                            natural_key=connector.natural_key, keep=1)
        finally:
            staging.close()
    if out.total_errors:
        err = out.rejects[0]
        column = err.column or ""
        m = _PAGE_POS.match(column)
        page = pages[int(m.group(1))] if m and int(m.group(1)) < len(pages) else None
        where = f"{page.endpoint.name} page {page.page_no}" if page else fmt_name
        at = column[m.end():] if m else column
        value = f" (value {err.value!r})" if err.value is not None else ""
        raise SyncError(f"{connector.name}: {where}: malformed page at {at or '.'}: {err.reason}{value} "
                        f"({out.total_errors} bad record(s)); nothing was loaded and the ledger is unchanged. "
                        "Re-run the sync later; if it persists, report it (the page is not what the API documents)")
    return out.rows_loaded


def _wrap(sql: str, settings: SourceConfig, window: tuple[datetime, datetime]) -> str:
    """Default attribution from the source's settings, and a check that rows fall in the window.

    A row outside the window asked for would survive the next window replace and count twice,
    so it is an error, never silently kept or dropped.
    """
    start, end = (s.lit(w.isoformat(sep=" ")) for w in window)
    outside = f"period_start < TIMESTAMP {start} OR period_start >= TIMESTAMP {end}"
    error = (f"coalesce(_error, CASE WHEN {outside} THEN "
             f"{s.lit('period_start' + s.SEP + 'outside the window asked for' + s.SEP)} || CAST(period_start AS VARCHAR) END)")
    replace = [f"{error} AS _error"]
    for col in _ATTRIBUTION:
        value = getattr(settings, col)
        if value:
            replace.append(f"coalesce({col}, {s.lit(value)}) AS {col}")
    return f"SELECT * REPLACE ({', '.join(replace)}) FROM ({sql}) AS normalized"
