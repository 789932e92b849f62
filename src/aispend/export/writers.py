"""Export ledger rows to CSV, Parquet or FOCUS 1.2, streaming, with exact money.

Rows come from ``store.scan`` as Arrow record batches and are written batch by batch
(``pyarrow.csv.CSVWriter`` / ``pyarrow.parquet.ParquetWriter``), so memory stays flat however
many rows match. Money never becomes a float: CSV gets the decimal's own text, formatted by the
engine (Arrow would write ``1.00000000E-10``), and Parquet keeps ``decimal128(38, 18)``.

A file appears at ``out`` only when complete (written to a hidden sibling, then renamed). A FOCUS
export is checked against FOCUS 1.2 after writing; if any rule fails, the file is kept next to
``out`` as ``<stem>.invalid<suffix>`` for inspection and :class:`ExportError` lists the problems.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..errors import ExportError, StoreError
from ..schema import ARROW_SCHEMA, DIMENSIONS, LEDGER_COLUMNS, MONEY_SQL
from ..store import Store
from ..vendors import canonical_provider
from .focus import focus_select_sql, plain_decimal
from .focus_check import RULES, check_focus_file

Format = Literal["csv", "parquet", "focus"]
FORMATS: tuple[str, ...] = ("csv", "parquet", "focus")
PARQUET_SUFFIXES = (".parquet", ".pq")
BATCH_ROWS = 262_144
_SHOWN_PROBLEMS = 10


@dataclass(frozen=True)
class ExportResult:
    """What was written: row count, final path, and the FOCUS rules it passed (empty for csv/parquet)."""

    rows: int
    path: Path
    checks: tuple[str, ...] = field(default=())


def build_where(
    filters: Mapping[str, str] | None = None, start: datetime | date | None = None, end: datetime | date | None = None
) -> tuple[str, list[Any]]:
    """A parameterised WHERE fragment (``?`` placeholders) over ledger columns, and its params.

    ``filters`` is equality on ledger dimensions (schema.DIMENSIONS); provider and publisher values
    are canonicalised first (``"Amazon Web Services"`` matches ``aws``), since the ledger holds
    only canonical codes. ``start`` is inclusive and ``end`` exclusive, on ``period_start`` (UTC).
    """
    parts: list[str] = []
    params: list[Any] = []
    for name, value in (filters or {}).items():
        if name not in DIMENSIONS:
            raise ExportError(f"cannot filter an export on {name!r}: choose one of {', '.join(DIMENSIONS)}")
        if name in ("provider", "publisher"):
            value = canonical_provider(value) or value
        parts.append(f"{name} = ?")
        params.append(value)
    lo, hi = _utc_naive(start), _utc_naive(end)
    if lo is not None and hi is not None and lo >= hi:
        raise ExportError(f"export window is empty: start {lo.isoformat()} is not before end {hi.isoformat()}")
    if lo is not None:
        parts.append("period_start >= ?")
        params.append(lo)
    if hi is not None:
        parts.append("period_start < ?")
        params.append(hi)
    return (" AND ".join(parts) or "TRUE"), params


def _utc_naive(value: datetime | date | None) -> datetime | None:
    """The ledger stores naive UTC timestamps; aware values are converted, naive ones taken as UTC."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def ledger_select_sql(where_sql: str = "TRUE", container: Literal["csv", "parquet"] = "csv") -> str:
    """SELECT every ledger column; for CSV, money as plain decimal text and times as ISO 8601 UTC."""
    cols = []
    for col in LEDGER_COLUMNS:
        expr = col.name
        if container == "csv":
            if col.sql == MONEY_SQL:
                expr = plain_decimal(col.name)
            elif col.sql == "TIMESTAMP":
                expr = f"replace(CAST({col.name} AS VARCHAR), ' ', 'T') || 'Z'"
            elif col.sql == "JSON":
                expr = f"CAST({col.name} AS VARCHAR)"
        cols.append(f"{expr} AS {col.name}")
    return f"SELECT {', '.join(cols)} FROM ledger WHERE ({where_sql})"


def write_csv(reader: pa.RecordBatchReader, path: Path) -> int:
    """Write every batch of ``reader`` to ``path`` as CSV with a header; nulls are empty cells."""
    rows = 0
    with pacsv.CSVWriter(str(path), reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def write_parquet(reader: pa.RecordBatchReader, path: Path, schema: pa.Schema | None = None) -> int:
    """Write every batch of ``reader`` to ``path`` as one Parquet row group each, cast to ``schema``."""
    schema = schema or reader.schema
    rows = 0
    with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_table(pa.Table.from_batches([batch]).cast(schema))
            rows += batch.num_rows
    return rows


def _utc_timestamps(schema: pa.Schema) -> pa.Schema:
    """FOCUS Parquet: label the (naive UTC) timestamps as UTC, so readers need not guess."""
    return pa.schema([
        pa.field(f.name, pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(f.type) else f for f in schema
    ])


def export(
    store: Store,
    fmt: Format,
    out: str | Path,
    where_sql: str = "TRUE",
    params: Sequence[Any] = (),
    *,
    filters: Mapping[str, str] | None = None,
    start: datetime | date | None = None,
    end: datetime | date | None = None,
    batch_rows: int = BATCH_ROWS,
) -> ExportResult:
    """Write the ledger rows matching ``where_sql`` (and ``filters``/``start``/``end``) to ``out``.

    ``fmt`` is ``csv`` or ``parquet`` (ledger columns as stored) or ``focus`` (FOCUS 1.2; Parquet
    when ``out`` ends in .parquet or .pq, else CSV). ``where_sql`` is a trusted SQL fragment over
    ledger columns with ``?`` placeholders for ``params``; the keyword filters are ANDed to it.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out).expanduser()
    if not out.parent.is_dir():
        raise ExportError(f"cannot write {out}: directory {out.parent} does not exist")
    extra_sql, extra_params = build_where(filters, start, end)
    where = f"({where_sql}) AND ({extra_sql})"
    all_params = [*params, *extra_params]
    container: Literal["csv", "parquet"] = (
        "parquet" if fmt == "parquet" or (fmt == "focus" and out.suffix.lower() in PARQUET_SUFFIXES) else "csv"
    )
    sql = focus_select_sql(where, container, store.dialect) if fmt == "focus" else ledger_select_sql(where, container)
    partial = out.with_name(f".{out.name}.partial")
    try:
        reader = store.scan(sql, all_params, batch_rows)
        if container == "csv":
            rows = write_csv(reader, partial)
        else:
            rows = write_parquet(reader, partial, _utc_timestamps(reader.schema) if fmt == "focus" else ARROW_SCHEMA)
    except (duckdb.Error, StoreError, pa.ArrowException, OSError) as exc:
        partial.unlink(missing_ok=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"cannot export {fmt} to {out}: {first}") from None

    checks: tuple[str, ...] = ()
    if fmt == "focus":
        problems = check_focus_file(partial)
        if problems:
            invalid = out.with_name(f"{out.stem}.invalid{out.suffix}")
            os.replace(partial, invalid)
            shown = "\n".join(f"  {p}" for p in problems[:_SHOWN_PROBLEMS])
            more = f"\n  ... and {len(problems) - _SHOWN_PROBLEMS} more" if len(problems) > _SHOWN_PROBLEMS else ""
            raise ExportError(
                f"FOCUS export failed {len(problems)} FOCUS 1.2 check(s); the file was kept as {invalid} "
                f"for inspection:\n{shown}{more}"
            )
        checks = RULES
    os.replace(partial, out)
    return ExportResult(rows, out, checks)
