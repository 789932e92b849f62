"""The embedded default: one DuckDB file."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ..errors import StoreError
from .base import Store, Transaction
from .migrations import MIGRATIONS

BULK_MEMORY_LIMIT = "512MB"  # measured: a 10M-row import peaks at ~0.9 GB with it (docs/benchmarks.md)


class StoreLocked(StoreError):
    """Another process has the ledger file open (DuckDB allows one writer)."""


class _DuckDBTransaction(Transaction):
    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con = con

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self._con.execute(sql, list(params))
        return cur.fetchall() if cur.description else []

    def append(self, table: str, batch: pa.RecordBatch | pa.Table) -> int:
        if batch.num_rows == 0:
            return 0
        # Not register()/unregister(): inside a transaction duckdb-python keeps every registered
        # object alive until commit (duckdb-python#469), so a 10M-row import held all of it (8 GB).
        self._con.from_arrow(batch).query("_aispend_batch", f"INSERT INTO {table} BY NAME SELECT * FROM _aispend_batch")
        return batch.num_rows

    def full_memory(self) -> None:
        # A bulk load streams with a small buffer pool; the aggregations after it (the rollup over
        # the months it touched, all of them after a re-price) need the default one.
        self._con.execute("RESET memory_limit")


class DuckDBStore(Store):
    dialect = "duckdb"  # how Ibis compiles for it

    def __init__(self, path: str, *, read_only: bool = False):
        self.url = path
        if path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(Path(path).expanduser()) if path != ":memory:" else path, read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreLocked(
                    f"ledger {path} is open in another process (DuckDB allows one writer); "
                    "wait for it to finish and try again"
                ) from None
            raise StoreError(f"cannot open ledger {path}: {exc}") from None
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET enable_progress_bar = false")  # never mixed into stdout
        self._ibis: Any = None

    def migrate(self) -> int:
        con = self.con
        con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
        applied = {v for (v,) in con.execute("SELECT version FROM schema_migrations").fetchall()}
        for version, name, statements in MIGRATIONS:
            if version in applied:
                continue
            con.execute("BEGIN TRANSACTION")
            try:
                for stmt in statements:
                    con.execute(stmt)
                con.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    [version, name, datetime.now(UTC).replace(tzinfo=None)],
                )
                con.execute("COMMIT")
            except Exception as exc:
                con.execute("ROLLBACK")
                raise StoreError(f"migration {version} ({name}) failed on {self.url}: {exc}") from exc
        return max([v for v, _, _ in MIGRATIONS], default=0)

    @contextmanager
    def transaction(self, *, bulk: bool = False) -> Iterator[Transaction]:
        if bulk:
            # A small buffer pool: a bulk load goes to disk as it goes instead of caching it all.
            self.con.execute(f"SET memory_limit = '{BULK_MEMORY_LIMIT}'")
        self.con.execute("BEGIN TRANSACTION")
        self.in_transaction = True
        try:
            yield _DuckDBTransaction(self.con)
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")
        finally:
            self.in_transaction, self.writes = False, self.writes + 1
            if bulk:
                self.con.execute("RESET memory_limit")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params)).fetchall()

    def _ibis_backend(self) -> Any:
        import ibis

        return ibis.duckdb.from_connection(self.con)

    def scan(self, sql: str, params: Sequence[Any] = (), batch_rows: int = 262_144) -> pa.RecordBatchReader:
        # A cursor of its own, so the caller may write through the main connection meanwhile.
        return self.con.cursor().sql(sql, params=list(params)).to_arrow_reader(batch_rows)

    def close(self) -> None:
        self.con.close()
