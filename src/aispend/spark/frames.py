"""Small tables between Arrow and Spark, and each row's ordinal in its file.

Spark has no row order. The DuckDB import numbers a file's records 0, 1, 2, ... in file order
(``row_id = md5(file sha256 || ordinal)``), so the Spark job recovers the same numbers: at the
scan each row records its file, the byte offset of its split, its partition and
``monotonically_increasing_id`` (which counts up within a partition in scan order); one small
aggregate gives each split's first id and row count, and the splits of a file in byte order give
each split's first ordinal. No shuffle of the rows and no single-partition window.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

POS = "_pos"  # struct<file, block, pid, mono> carried from the scan


def position(functions: Any) -> Any:
    """The :data:`POS` column, to add right at a file scan (before any shuffle or filter)."""
    F = functions
    return F.struct(
        F.col("_metadata.file_path").alias("file"),
        F.col("_metadata.file_block_start").alias("block"),
        F.spark_partition_id().alias("pid"),
        F.monotonically_increasing_id().alias("mono"),
    ).alias(POS)


def spark_type(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "STRING"
    if pa.types.is_int64(t):
        return "BIGINT"
    if pa.types.is_int32(t):
        return "INT"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_date32(t):
        return "DATE"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP_NTZ" if t.tz is None else "TIMESTAMP"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision}, {t.scale})"
    if pa.types.is_list(t):
        return f"ARRAY<{spark_type(t.value_type)}>"
    raise TypeError(f"no Spark type for {t}")


def ddl(schema: pa.Schema) -> str:
    return ", ".join(f"`{f.name}` {spark_type(f.type)}" for f in schema)


def from_arrow(spark: Any, table: pa.Table) -> Any:
    """A small Arrow table as a DataFrame with the same types (timestamps stay without zone)."""
    table = table.combine_chunks()
    if table.num_rows == 0:
        return spark.createDataFrame([], ddl(table.schema))
    return spark.createDataFrame(table, schema=ddl(table.schema))


def with_ordinals(df: Any, functions: Any) -> Any:
    """``df`` (with :data:`POS`) plus ``_file`` (as Spark names it) and ``_ordinal``: the row's
    0-based record number in its file. ``df`` should be persisted: it is read twice."""
    F = functions
    splits = (df.groupBy(F.col(f"{POS}.file").alias("f"), F.col(f"{POS}.block").alias("b"),
                         F.col(f"{POS}.pid").alias("p"))
              .agg(F.min(f"{POS}.mono").alias("m"), F.count(F.lit(1)).alias("n"))
              .collect())
    rows, first = [], {}
    for s in sorted(splits, key=lambda s: (s.f, s.b, s.p)):
        base = first.get(s.f, 0)
        rows.append({"f": s.f, "b": s.b, "p": s.p, "delta": base - s.m})
        first[s.f] = base + s.n
    spark = df.sparkSession
    schema = pa.schema([("f", pa.string()), ("b", pa.int64()), ("p", pa.int32()), ("delta", pa.int64())])
    offsets = F.broadcast(from_arrow(spark, pa.Table.from_pylist(rows, schema=schema)))
    joined = df.join(offsets, (F.col(f"{POS}.file") == offsets.f) & (F.col(f"{POS}.block") == offsets.b)
                     & (F.col(f"{POS}.pid") == offsets.p), "left")
    return (joined.withColumn("_file", F.col(f"{POS}.file"))
            .withColumn("_ordinal", F.col(f"{POS}.mono") + F.col("delta"))
            .drop("f", "b", "p", "delta", POS))
