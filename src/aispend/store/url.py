"""Pick the adapter for ``store.url``."""

from __future__ import annotations

from ..errors import StoreError
from .base import Store


def open_store(url: str, *, migrate: bool = True, read_only: bool = False) -> Store:
    """Open the ledger at ``url``: a file path (DuckDB) or ``duckdb:///path``."""
    if url.startswith(("postgresql://", "postgres://")):
        raise StoreError(f"store.url {_redact(url)}: PostgreSQL is not supported yet; use a DuckDB file path")
    path = url.removeprefix("duckdb://") if url.startswith("duckdb://") else url
    from .duckdb import DuckDBStore

    store = DuckDBStore(path, read_only=read_only)
    if migrate and not read_only:
        store.migrate()
    return store


def _redact(url: str) -> str:
    """Hide a password in a URL before it reaches a message."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{host}"
    return url
