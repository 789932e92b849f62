"""The team server: the ledger in PostgreSQL.

* Statements arrive in DuckDB's spelling and are translated once (:mod:`.pg_sql`).
* Bulk appends go through ``COPY ... FROM STDIN`` as CSV written by Arrow, and scans come back
  through ``COPY ... TO STDOUT`` read by Arrow: no per-row Python on either path.
* Writers take one transaction-scoped advisory lock, so two writers queue (a sync and an import
  never refresh the same rollup month at once) while readers go on unblocked under MVCC.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import StoreError
from .base import Store, Transaction
from .migrations import MIGRATIONS
from .pg_sql import COMPAT_FUNCTIONS, to_postgres

# One key for "the ledger is being written": pg_advisory_xact_lock(_WRITER_LOCK).
_WRITER_LOCK = 0x61697370656E64  # "aispend"

_CSV_OUT = pacsv.WriteOptions(include_header=False, quoting_style="needed", delimiter=",")


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the dependency is declared; a broken env says so
        raise StoreError("store.url is PostgreSQL but psycopg is not installed: pip install 'psycopg[binary]'") from None
    return psycopg


def _run(con: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    from psycopg import RawCursor

    statements = to_postgres(sql)
    with RawCursor(con) as cur:
        for i, stmt in enumerate(statements):
            last = i == len(statements) - 1
            try:
                cur.execute(stmt, list(params) if params and last else None)
            except Exception as exc:
                if os.environ.get("AISPEND_DEBUG_SQL"):
                    exc.add_note(f"PostgreSQL statement: {stmt}\nfrom: {sql}")
                raise
        if cur.description:
            return cur.fetchall()
        # DuckDB answers INSERT/UPDATE/DELETE with one row: the count. Callers read it.
        return [(cur.rowcount,)] if cur.rowcount >= 0 and cur.statusmessage.split()[0] in _DML else []


_DML = {"INSERT", "UPDATE", "DELETE"}


class _PostgresTransaction(Transaction):
    def __init__(self, con: Any):
        self._con = con

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return _run(self._con, sql, params)

    def full_memory(self) -> None:
        # The rollup refresh groups every touched row by 24 keys. The planner underestimates the
        # rows (a semi-join with the stale marks) and sorts, on disk at the default 4 MB; hashing
        # in memory is what it should do (measured at 1M rows: 17.9 s -> 7.6 s; docs/benchmarks.md).
        self._con.execute("SET LOCAL work_mem = '256MB'")
        self._con.execute("SET LOCAL enable_sort = off")

    def append(self, table: str, batch: pa.RecordBatch | pa.Table) -> int:
        if batch.num_rows == 0:
            return 0
        columns = _table_columns(self._con, table)
        unknown = [n for n in batch.schema.names if n not in columns]
        if unknown:
            raise StoreError(f"cannot append to {table}: no column(s) {', '.join(unknown)}")
        data = pa.table(batch) if isinstance(batch, pa.RecordBatch) else batch
        data = data.cast(pa.schema([_text_safe(f) for f in data.schema]))
        names = ", ".join(f'"{n}"' for n in data.schema.names)
        with self._con.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT csv)") as copy:
            for chunk in data.to_batches(max_chunksize=65_536):
                buf = io.BytesIO()
                pacsv.write_csv(chunk, buf, _CSV_OUT)
                copy.write(buf.getbuffer())
        return data.num_rows


def _text_safe(field: pa.Field) -> pa.Field:
    # Arrow writes a tz-aware timestamp with a "Z"; the ledger's TIMESTAMPs are naive UTC.
    if pa.types.is_timestamp(field.type) and field.type.tz is not None:
        return pa.field(field.name, pa.timestamp("us"))
    return field


def _table_columns(con: Any, table: str) -> dict[str, str]:
    with con.cursor() as cur:
        cur.execute(f"SELECT * FROM {table} LIMIT 0")
        return {d.name: d.type_code for d in cur.description}


class PostgresStore(Store):
    dialect = "postgres"  # how Ibis compiles for it

    def __init__(self, url: str):
        from .url import _redact

        psycopg = _psycopg()
        self.url = url
        try:
            self.con = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to ledger {_redact(url)}: {str(exc).strip()}") from None
        self.con.execute("SET TIME ZONE 'UTC'")
        # JIT compiles for seconds to save milliseconds on these short analytical queries
        # (measured: 2.2 s of a 3.1 s raw-row report at 1M rows).
        self.con.execute("SET jit = off")
        self._ibis: Any = None

    def migrate(self) -> int:
        con = self.con
        with con.transaction():
            # Two processes starting at once: one migrates, the other waits and finds it done.
            con.execute("SELECT pg_advisory_xact_lock(%s)", [_WRITER_LOCK])
            con.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                        "(version BIGINT PRIMARY KEY, name TEXT, applied_at TIMESTAMP)")
            _install_compat(con)
            applied = {v for (v,) in con.execute("SELECT version FROM schema_migrations").fetchall()}
            for version, name, statements in MIGRATIONS:
                if version in applied:
                    continue
                try:
                    with con.transaction():
                        for stmt in statements:
                            _run(con, stmt, ())
                        con.execute("INSERT INTO schema_migrations VALUES (%s, %s, %s)",
                                    [version, name, datetime.now(UTC).replace(tzinfo=None)])
                except Exception as exc:
                    raise StoreError(f"migration {version} ({name}) failed: {exc}") from exc
        return max([v for v, _, _ in MIGRATIONS], default=0)

    @contextmanager
    def transaction(self, *, bulk: bool = False) -> Iterator[Transaction]:
        try:
            with self.con.transaction():
                self.con.execute("SELECT pg_advisory_xact_lock(%s)", [_WRITER_LOCK])
                self.in_transaction = True
                yield _PostgresTransaction(self.con)
        finally:
            self.in_transaction, self.writes = False, self.writes + 1

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return _run(self.con, sql, params)

    def _ibis_backend(self) -> Any:
        import ibis

        return ibis.postgres.from_connection(self.con)

    def scan(self, sql: str, params: Sequence[Any] = (), batch_rows: int = 262_144) -> pa.RecordBatchReader:
        # A connection of its own, so the caller may write through the main one meanwhile.
        psycopg = _psycopg()
        con = psycopg.connect(self.url, autocommit=True)
        con.execute("SET TIME ZONE 'UTC'")
        (stmt,) = to_postgres(sql)
        stmt = _inline(con, stmt, params)
        try:
            with con.cursor() as cur:
                cur.execute(f"SELECT * FROM ({stmt}) _scan LIMIT 0")
                schema = pa.schema([pa.field(d.name, _arrow_type(d)) for d in cur.description])
        except psycopg.Error as exc:
            con.close()
            raise StoreError(f"reading the ledger failed: {str(exc).strip()}") from None
        return pa.RecordBatchReader.from_batches(schema, _copy_out(con, stmt, schema, batch_rows))

    def close(self) -> None:
        self.con.close()


def _install_compat(con: Any) -> None:
    """(Re)create the compat functions when this version's differ from the database's."""
    digest = hashlib.sha256("\n".join(COMPAT_FUNCTIONS).encode()).hexdigest()
    con.execute("CREATE TABLE IF NOT EXISTS compat_functions (digest TEXT NOT NULL)")
    if con.execute("SELECT 1 FROM compat_functions WHERE digest = %s", [digest]).fetchone():
        return
    for stmt in COMPAT_FUNCTIONS:
        con.execute(stmt)
    con.execute("DELETE FROM compat_functions")
    con.execute("INSERT INTO compat_functions VALUES (%s)", [digest])


def _inline(con: Any, stmt: str, params: Sequence[Any]) -> str:
    """COPY takes no parameters: bind them as literals, quoted by psycopg."""
    from psycopg.sql import Literal

    values = [Literal(p).as_string(con) for p in params]
    return re.sub(r"\$(\d+)\b", lambda m: values[int(m.group(1)) - 1], stmt) if values else stmt


def _copy_out(con: Any, stmt: str, schema: pa.Schema, batch_rows: int) -> Iterator[pa.RecordBatch]:
    try:
        with con.cursor() as cur, cur.copy(f"COPY ({stmt}) TO STDOUT (FORMAT csv)") as copy:
            stream = _CopyStream(copy)
            if not stream.peek():
                return  # no rows: Arrow's reader refuses an empty file
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(column_names=schema.names, block_size=1 << 22),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(column_types=schema, strings_can_be_null=True,
                                                     quoted_strings_can_be_null=False),
            )
            for batch in reader:
                for start in range(0, batch.num_rows, batch_rows):
                    yield batch.slice(start, batch_rows)
    except _psycopg().Error as exc:
        raise StoreError(f"reading the ledger failed: {str(exc).strip()}") from None
    finally:
        con.close()


class _CopyStream(io.RawIOBase):
    """COPY's chunks as a file Arrow can read."""

    def __init__(self, copy: Any):
        self._copy, self._pending = copy, b""

    def readable(self) -> bool:
        return True

    def peek(self) -> bytes:
        if not self._pending:
            self._pending = bytes(self._copy.read())
        return self._pending

    def readinto(self, buf: Any) -> int:
        # Fill the whole buffer: COPY hands out a row at a time, and Arrow makes a batch per read.
        view, filled = memoryview(buf).cast("B"), 0
        while filled < len(view):
            if not self._pending:
                self._pending = bytes(self._copy.read())
                if not self._pending:
                    break
            n = min(len(view) - filled, len(self._pending))
            view[filled:filled + n], self._pending = self._pending[:n], self._pending[n:]
            filled += n
        return filled


# type OIDs (pg_type) to the Arrow types the pipeline reads
_OID_ARROW = {16: pa.bool_(), 20: pa.int64(), 21: pa.int64(), 23: pa.int64(), 25: pa.string(), 1043: pa.string(),
              114: pa.string(), 3802: pa.string(), 700: pa.float64(), 701: pa.float64(), 1082: pa.date32(),
              1114: pa.timestamp("us"), 1184: pa.timestamp("us", tz="UTC")}


def _arrow_type(desc: Any) -> pa.DataType:
    if desc.type_code == 1700:  # numeric: the ledger's money is DECIMAL(38, 18)
        return pa.decimal128(desc.precision or 38, desc.scale if desc.scale is not None else 18)
    return _OID_ARROW.get(desc.type_code, pa.string())
