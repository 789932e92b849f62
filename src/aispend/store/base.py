"""The store contract every engine adapter fulfils.

The pipeline writes through a :class:`Transaction` (delete a scope, append Arrow batches, record
metadata, all or nothing) and reads through Ibis tables, so analytics never hold engine SQL.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Self

import pyarrow as pa


class Transaction(abc.ABC):
    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one portable statement with ``?`` parameters; return its rows (if any)."""

    @abc.abstractmethod
    def append(self, table: str, batch: pa.RecordBatch | pa.Table) -> int:
        """Bulk-append Arrow data whose columns are a subset of the table's, by name."""

    def full_memory(self) -> None:
        """Lift a bulk transaction's memory cap for the heavy aggregations that end it."""

    def delete_window(self, source: str, start: datetime, end: datetime) -> int:
        """Delete one source's ledger rows whose period starts in [start, end); return how many.

        With :meth:`append` in the same transaction this replaces a re-pulled window atomically:
        a vendor's restated days converge instead of adding up.
        """
        where = "source = ? AND period_start >= ? AND period_start < ?"
        rows = self.execute(f"SELECT count(*) FROM ledger WHERE {where}", [source, start, end])[0][0]
        self.execute(f"DELETE FROM ledger WHERE {where}", [source, start, end])
        return rows


class Store(abc.ABC):
    url: str
    dialect: str  # the SQL dialect Ibis compiles for this engine; statements are written in DuckDB's

    @abc.abstractmethod
    def migrate(self) -> int:
        """Bring the schema to the latest version; return the version."""

    @abc.abstractmethod
    @contextmanager
    def transaction(self, *, bulk: bool = False) -> Iterator[Transaction]:
        """All writes inside commit together, or not at all.

        ``bulk`` says a large load follows: the adapter may trade cache for a flat memory profile.
        """

    @abc.abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Small metadata reads (imports, rejects); analytics go through :meth:`table`."""

    _ibis: Any = None
    writes = 0  # write transactions ended through this store: what a memo of a read is valid for
    in_transaction = False

    @abc.abstractmethod
    def _ibis_backend(self) -> Any:
        """Ibis over the store's own connection, so reads see the open transaction's writes."""

    def table(self, name: str = "ledger") -> Any:
        """An Ibis table expression over ``name``."""
        return self.ibis.table(name)

    @property
    def ibis(self) -> Any:
        if self._ibis is None:
            self._ibis = self._ibis_backend()
        return self._ibis

    @abc.abstractmethod
    def scan(self, sql: str, params: Sequence[Any] = (), batch_rows: int = 262_144) -> pa.RecordBatchReader:
        """Stream the rows of a query as Arrow record batches."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
