"""Export files -> ledger rows on Spark: the DuckDB normalizer's own SELECT, transpiled.

FOCUS files and ``[csv_mappings]`` CSVs, as CSV (plain or gzip) or Parquet. Each file gets what
``aispend import`` gives it: one batch id, ``row_id = md5(sha256 of the file || record ordinal)``
(the same ids, so a file loaded either way is the same rows), every row checked (the first
failing check names the column, the reason and the value) and the same all-or-nothing rule
unless ``skip_invalid``. Vendor-native JSON formats (API pulls, receipts) are small: they stay
with ``aispend import``.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import FormatDetectionError, ImportError_, RowError, ValidationError
from ..ingest import csvmap, focus
from ..ingest.detect import FileFormat, detect
from ..ingest.native import Probe
from ..ingest.runner import HEADER_LINES, file_sha256
from ..ingest.sqlparts import SEP
from ..schema import COLUMN_NAMES
from .frames import POS, position, with_ordinals
from .sql import to_spark

_RAW = "_aispend_raw"


@dataclass
class ExportFile:
    path: str  # as given
    uri: str  # as Spark reads it
    format: FileFormat
    key: str  # sha256 of the content (local files), the row ids' key
    source: str
    batch_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    rows_loaded: int = 0
    rows_rejected: int = 0
    rejects: list[RowError] = field(default_factory=list)


def _is_local(path: str) -> bool:
    return "://" not in path and not path.startswith(("dbfs:", "s3:", "gs:", "abfss:", "hdfs:"))


def _remote_format(spark: Any, path: str, settings: Settings, fmt: str | None, mapping: str | None) -> tuple[FileFormat, str]:
    """Detection from the header Spark reads (the file is not on this machine), and a key from
    its path, size and modification time (hashing a remote file's content would read it twice)."""
    meta = spark.read.format("binaryFile").load(path).select("path", "length", "modificationTime").collect()
    if len(meta) != 1:
        raise ImportError_(f"{path}: expected one file, found {len(meta)}")
    m = meta[0]
    key = hashlib.sha256(f"{m.path}|{m.length}|{m.modificationTime.isoformat()}".encode()).hexdigest()
    parquet = path.lower().endswith(".parquet")
    delim = settings.csv_mappings[mapping].delimiter if mapping else ","
    headers = tuple((spark.read.parquet(path) if parquet else spark.read.option("delimiter", delim).csv(path, header=True)).columns)
    probe = Probe(Path(path), "parquet" if parquet else "csv", headers)
    if mapping:
        return FileFormat("csv", probe, mapping, settings.csv_mappings[mapping]), key
    if fmt in (None, "focus") and focus.matches(list(headers)):
        return FileFormat("focus", probe), key
    hits = [n for n, mp in settings.csv_mappings.items() if csvmap.matches(list(headers), mp)]
    if len(hits) == 1:
        return FileFormat("csv", probe, hits[0], settings.csv_mappings[hits[0]]), key
    raise FormatDetectionError(f"{path}: not a FOCUS file and no single csv mapping matches its header")


def describe(spark: Any, settings: Settings, path: str, *, fmt: str | None = None, mapping: str | None = None,
             source: str | None = None) -> ExportFile:
    """Detect a file's format (the import's own detection for a local file) and key."""
    if _is_local(path):
        local = Path(path).expanduser().resolve()
        if not local.is_file():
            raise ImportError_(f"{path}: no such file")
        file_format, key, uri = detect(local, settings, fmt, mapping), file_sha256(local), str(local)
        path = str(local)  # as the import records it
    else:
        (file_format, key), uri = _remote_format(spark, path, settings, fmt, mapping), path
    if file_format.native is not None or file_format.probe.container not in ("csv", "parquet"):
        raise ImportError_(f"{path}: {file_format.label} files are imported with `aispend import`; "
                           "the Spark job reads FOCUS and csv-mapping exports (CSV or Parquet)")
    return ExportFile(path, uri, file_format, key, source or file_format.mapping_name or file_format.kind)


def _scan(spark: Any, f: ExportFile, multiline: bool) -> Any:
    from pyspark.sql import functions as F

    fmt = f.format
    if fmt.probe.container == "parquet":
        raw = spark.read.parquet(f.uri)
    else:
        # Every column as text, as DuckDB's read_csv(..., auto_detect = false, all VARCHAR).
        # FAILFAST: a line with the wrong number of fields fails the file (DuckDB's strict_mode).
        schema = ", ".join(f"`{h.replace('`', '``')}` STRING" for h in fmt.headers)
        delim = fmt.mapping.delimiter if fmt.mapping else ","
        raw = (spark.read.option("header", True).option("quote", '"').option("escape", '"')
               .option("delimiter", delim).option("mode", "FAILFAST").option("multiLine", multiline)
               .option("encoding", "UTF-8").schema(schema).csv(f.uri))
    return raw.select("*", position(F))


def _sql(f: ExportFile, now: str) -> str:
    common = {"source": f.source, "batch_id": f.batch_id, "ingested_at": now}
    fmt = f.format
    if fmt.kind == "focus":
        sql = focus.normalize_sql(fmt.headers, _RAW, **common)
    else:
        assert fmt.mapping is not None and fmt.mapping_name is not None
        sql = csvmap.normalize_sql(fmt.headers, fmt.mapping, _RAW, name=fmt.mapping_name, **common)
    return to_spark(sql, carry_column=(_RAW, POS))


def normalize_file(spark: Any, f: ExportFile, now: datetime, *, multiline: bool = False) -> Any:
    """One file's rows: every ledger column, ``_error`` and ``_ordinal``, ``row_id`` set."""
    from pyspark.sql import functions as F

    _scan(spark, f, multiline).createOrReplaceTempView(_RAW)
    df = spark.sql(_sql(f, now.isoformat(sep=" ")))
    spark.catalog.dropTempView(_RAW)  # the DataFrame keeps its plan
    df = with_ordinals(df.persist(), F)
    return df.withColumn("row_id", F.md5(F.concat(F.lit(f.key), F.col("_ordinal").cast("string"))))


def check(f: ExportFile, df: Any, *, skip_invalid: bool, keep: int | None = ValidationError.shown) -> None:
    """Count ``f``'s bad rows, keep the first ``keep``; raise unless ``skip_invalid``."""
    from pyspark.sql import functions as F

    bad = df.filter(F.col("_error").isNotNull())
    f.rows_rejected = bad.count()
    if not f.rows_rejected:
        return
    first = bad.orderBy("_ordinal") if keep is None else bad.orderBy("_ordinal").limit(keep)
    for r in first.select("_ordinal", "_error").collect():
        column, reason, value = r["_error"].split(SEP, 2)
        f.rejects.append(RowError(f.path, r["_ordinal"] + 1 + HEADER_LINES, column, reason, value or None))
    if not skip_invalid:
        raise ValidationError(f.path, f.rejects, f.rows_rejected)


def normalize(spark: Any, settings: Settings, paths: list[str], *, fmt: str | None = None, mapping: str | None = None,
              source: str | None = None, skip_invalid: bool = False,
              now: datetime | None = None) -> tuple[Any, list[ExportFile]]:
    """Every file's valid rows as one DataFrame of ledger columns (not yet priced)."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    files, frames = [], []
    for path in paths:
        f = describe(spark, settings, path, fmt=fmt, mapping=mapping, source=source)
        df = normalize_file(spark, f, now)
        check(f, df, skip_invalid=skip_invalid, keep=None if skip_invalid else ValidationError.shown)
        frames.append(df.filter("_error IS NULL").select(*COLUMN_NAMES))
        files.append(f)
    if not frames:
        raise ImportError_("no input files")
    out = frames[0]
    for other in frames[1:]:
        out = out.unionByName(other)
    return out, files
