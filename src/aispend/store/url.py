"""Pick the adapter for ``store.url``."""

from __future__ import annotations

import time

from .base import Store

SERVER_SCHEMES = ("postgresql://", "postgres://")


def is_server_url(url: str) -> bool:
    """A ledger on a database server (PostgreSQL), not a file."""
    return url.startswith(SERVER_SCHEMES)


def open_store(url: str, *, migrate: bool = True, read_only: bool = False, wait: float = 0.0) -> Store:
    """Open the ledger at ``url``: a file path (DuckDB), ``duckdb:///path`` or ``postgresql://...``.

    ``wait``: seconds to keep retrying while another process holds the file (backing off from
    0.1 s to 1 s), so a cron command and `aispend serve` take turns instead of failing.
    """
    if is_server_url(url):
        from .postgres import PostgresStore

        store: Store = PostgresStore(url)  # a server: many processes read and write at once
        if migrate and not read_only:
            store.migrate()
        return store
    path = url.removeprefix("duckdb://") if url.startswith("duckdb://") else url
    from .duckdb import DuckDBStore, StoreLocked

    deadline, pause = time.monotonic() + wait, 0.1
    while True:
        try:
            store = DuckDBStore(path, read_only=read_only)
            break
        except StoreLocked as exc:
            if time.monotonic() + pause > deadline:
                if wait:
                    raise StoreLocked(f"{exc} (waited {wait:g} s; raise store.wait_seconds to wait longer)") from None
                raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
    if migrate and not read_only:
        store.migrate()
    return store


def _redact(url: str) -> str:
    """Hide a password in a URL before it reaches a message."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user, has_password, _ = creds.partition(":")
        return f"{scheme}{sep}{user}{':***' if has_password else ''}@{host}"
    return url
