"""Import one file: detect, normalize, validate, price and load, in one store transaction.

The file streams through in Arrow batches (memory stays flat whatever its size). Re-importing a
file replaces what it loaded before: an earlier import with the same content (sha256), or of the
same path for the same source, has its rows deleted in the same transaction that loads the new
ones, so the ledger never holds both and never holds neither.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..analysis.rollups import mark_stale
from ..attribution import apply_rules
from ..config import Settings
from ..derived import settle
from ..errors import ImportError_, RowError, ValidationError
from ..pricing import Pricer
from ..schema import COLUMN_NAMES
from ..store import Store, Transaction
from . import csvmap, focus
from .batches import restate, retire_batch
from .detect import FileFormat, detect
from .native import Context
from .sqlparts import SEP

BATCH_ROWS = 262_144  # an upper bound: DuckDB's CSV reader yields ~11k-row batches, Parquet a row group
HEADER_LINES = 1


@dataclass
class ImportResult:
    path: str
    format: str
    source: str
    batch_id: str
    rows_loaded: int = 0
    rows_rejected: int = 0
    replaced_rows: int = 0
    replaced_batches: list[str] = field(default_factory=list)
    rejects: list[RowError] = field(default_factory=list)


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _normalize_sql(
    fmt: FileFormat, path: Path, source: str, batch_id: str, now: str, staging: duckdb.DuckDBPyConnection
) -> str:
    common = {"source": source, "batch_id": batch_id, "ingested_at": now}
    if fmt.native is not None:
        for name, table in fmt.native.tables(fmt.probe).items():
            staging.register(name, table)
        return fmt.native.normalize_sql(fmt.probe, Context(**common))
    if fmt.kind == "focus":
        return focus.normalize_sql(fmt.headers, fmt.from_sql(path), **common)
    assert fmt.mapping is not None and fmt.mapping_name is not None
    return csvmap.normalize_sql(fmt.headers, fmt.mapping, fmt.from_sql(path), name=fmt.mapping_name, **common)


def _row_errors(batch: pa.RecordBatch, first_line: int, path: str, limit: int | None) -> list[RowError]:
    bad = pc.indices_nonzero(pc.is_valid(batch.column("_error"))).to_pylist()
    errors = []
    for i in bad[:limit] if limit is not None else bad:
        column, reason, value = batch.column("_error")[i].as_py().split(SEP, 2)
        errors.append(RowError(path, first_line + i, column, reason, value if value else None))
    return errors


def _number_repeats(ids: pa.Array, seen: dict[str, int]) -> pa.Array:
    """Exact repeats of a natural key (two identical charges) get ``md5(id#n)`` for the n-th one.

    ``seen`` counts ids across the batches of one load. Unique rows keep their plain id; repeats
    are identical in every key column, so which one gets which number does not matter.
    """
    out, changed = ids.to_pylist(), False
    for i, row_id in enumerate(out):
        n = seen.get(row_id, 0)
        seen[row_id] = n + 1
        if n:
            out[i], changed = hashlib.md5(f"{row_id}#{n}".encode()).hexdigest(), True
    return pa.array(out, pa.string()) if changed else ids


def _with_row_ids(
    con: duckdb.DuckDBPyConnection, batch: pa.RecordBatch, key: str, first_ordinal: int,
    natural_key: tuple[str, ...] | None = None, seen: dict[str, int] | None = None,
) -> pa.Table:
    """The batch's valid rows with row_id = md5(file content hash, record ordinal).

    Stable across re-imports of the same file. Only the id column goes through DuckDB. With
    ``natural_key`` (API sync: ledger columns that identify a charge) the id is md5(key, those
    values) instead, so a re-pulled window yields the same ids whatever the vendor's row order.
    """
    table = pa.Table.from_batches([batch])
    ordinals = pa.array(np.arange(first_ordinal, first_ordinal + batch.num_rows, dtype=np.int64))
    if batch.column("_error").null_count != batch.num_rows:
        valid = pc.is_null(batch.column("_error"))
        table, ordinals = table.filter(valid), ordinals.filter(valid)
    if natural_key:
        parts = ", ".join(f"coalesce(CAST({c} AS VARCHAR), '\u2400')" for c in natural_key)
        ids = (
            con.from_arrow(table.select(list(natural_key)))
            .query("ids_in", f"SELECT md5(concat_ws('|', {key!r}, {parts})) AS row_id FROM ids_in")
            .to_arrow_table()
            .column(0)
            .combine_chunks()
        )
        ids = _number_repeats(ids, seen if seen is not None else {})
    else:
        ids = (
            con.from_arrow(pa.table({"o": ordinals}))
            .query("ids_in", f"SELECT md5({key!r} || CAST(o AS VARCHAR)) AS row_id FROM ids_in")
            .to_arrow_table()
            .column(0)
        )
    table = table.set_column(table.schema.get_field_index("row_id"), "row_id", ids.cast(pa.string()))
    return table.select(list(COLUMN_NAMES))


@dataclass
class Loaded:
    rows_loaded: int = 0
    total_errors: int = 0
    rejects: list[RowError] = field(default_factory=list)


def load_rows(
    tx: Transaction,
    staging: duckdb.DuckDBPyConnection,
    sql: str,
    pricer: Pricer,
    *,
    label: str,
    id_key: str,
    header_lines: int = 0,
    keep: int | None = ValidationError.shown,
    skip_invalid: bool = False,
    natural_key: tuple[str, ...] | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> Loaded:
    """The core both imports and API sync share: stream a normalizer's SELECT, validate ``_error``,
    give row ids, price and append to the ledger inside ``tx``.

    Rows are appended only while no row failed (or with ``skip_invalid``); the caller decides
    what a failure means (imports raise :class:`ValidationError`, which rolls ``tx`` back).
    """
    out = Loaded()
    ordinal = 0
    reader = staging.sql(sql).to_arrow_reader(BATCH_ROWS)
    ids_con = staging.cursor()  # the staging connection is busy streaming
    seen: dict[str, int] = {}  # natural-key ids so far: repeats are numbered
    for batch in reader:
        first_line = ordinal + 1 + header_lines
        n_bad = batch.num_rows - batch.column("_error").null_count
        if n_bad:
            out.total_errors += n_bad
            room = None if keep is None else max(keep - len(out.rejects), 0)
            out.rejects += _row_errors(batch, first_line, label, room)
        if not out.total_errors or skip_invalid:
            rows = _with_row_ids(ids_con, batch, id_key, ordinal, natural_key, seen)
            out.rows_loaded += tx.append("ledger", pricer.price(rows))
        ordinal += batch.num_rows
        if on_rows:
            on_rows(batch.num_rows)
    return out


def new_staging() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB where a normalizer's SELECT runs (never the ledger's connection)."""
    staging = duckdb.connect()
    staging.execute("SET TimeZone = 'UTC'")
    staging.execute("SET enable_progress_bar = false")  # it would print into --json output
    staging.execute("SET preserve_insertion_order = true")  # rows stream in file order: line numbers
    return staging


def import_file(
    store: Store,
    settings: Settings,
    path: str | Path,
    *,
    fmt: str | None = None,
    mapping: str | None = None,
    source: str | None = None,
    skip_invalid: bool = False,
    on_rows: Callable[[int], None] | None = None,
    pricer: Pricer | None = None,
) -> ImportResult:
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ImportError_(f"{path}: no such file")
    file_format = detect(path, settings, fmt, mapping)
    source = source or file_format.mapping_name or file_format.kind
    sha = file_sha256(path)
    batch_id = uuid.uuid4().hex
    now = datetime.now(UTC).replace(tzinfo=None)
    result = ImportResult(str(path), file_format.label, source, batch_id)

    staging = new_staging()
    pricer = pricer or Pricer.for_store(store, settings)
    sql = _normalize_sql(file_format, path, source, batch_id, now.isoformat(sep=" "), staging)
    header_lines = file_format.native.header_lines_for(file_format.probe) if file_format.native else HEADER_LINES
    # Only the first few errors are kept unless rejects are wanted: a bad 10M-row file stays cheap.
    keep = None if skip_invalid else ValidationError.shown
    total_errors = 0
    try:
        with store.transaction(bulk=True) as tx:
            previous = tx.execute(
                "SELECT batch_id FROM imports WHERE replaced_by IS NULL AND (sha256 = ? OR (path = ? AND source = ?))",
                [sha, str(path), source],
            )
            for (old,) in previous:
                result.replaced_rows += retire_batch(tx, old, replaced_by=batch_id)
                result.replaced_batches.append(old)

            try:
                loaded = load_rows(tx, staging, sql, pricer, label=str(path), id_key=sha, header_lines=header_lines,
                                   keep=keep, skip_invalid=skip_invalid, on_rows=on_rows)
                result.rows_loaded, total_errors, result.rejects = loaded.rows_loaded, loaded.total_errors, loaded.rejects
            except duckdb.Error as exc:
                raise ImportError_(f"{path}: cannot parse the file: {_first_line(exc)}; nothing was imported") from None

            if total_errors and not skip_invalid:
                raise ValidationError(str(path), result.rejects, total_errors)
            result.rows_rejected = total_errors
            if result.rejects:
                tx.append("import_rejects", pa.Table.from_pylist(
                    [{"batch_id": batch_id, "file": e.file, "line": e.line, "column_name": e.column,
                      "reason": e.reason, "value": e.value} for e in result.rejects]))
            if file_format.native and file_format.native.restates_by:
                rows, retired = restate(tx, source, batch_id, file_format.native.restates_by)
                result.replaced_rows += rows
                result.replaced_batches += retired
            apply_rules(tx, settings, [batch_id])
            mark_stale(tx, "batch_id = ?", [batch_id])
            settle(tx, store, settings)
            tx.execute(
                "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                [batch_id, source, str(path), sha, file_format.label, result.rows_loaded, total_errors, now],
            )
    finally:
        staging.close()
    return result


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
