"""Allocation on Spark: the job's billed usage split over its events, to the cent.

The pools (one per day, provider and model of counted billed usage) and the event groups are
``attribution.allocate``'s own queries (captured from ``_pools`` / ``_events``) over the counted
ledger (``analysis.report.counted_ledger``, compiled by ibis), transpiled. Each pool meets its
event groups in a cogrouped Arrow UDF that calls the same ``_weights``, ``_covered``, ``split``,
``_row`` and ``_row_id``: the cents are computed by the same Python ``Decimal`` code, and the
shares get the same row ids. Shared-cost rules (``[[allocation.shared]]``) are not run here
(they split single bills, not events): the serving store applies them when the output is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import ibis
import pyarrow as pa

from ..analysis.report import counted_ledger
from ..attribution import allocate as A
from ..schema import ARROW_SCHEMA, COLUMN_NAMES, MONEY_ARROW
from .frames import ddl
from .sql import to_spark

_KEY = ("day", "provider", "model")
OUT_SCHEMA = pa.schema([*ARROW_SCHEMA, ("_kind", pa.string()), ("_pool_usd", MONEY_ARROW),
                        ("_covered_usd", MONEY_ARROW), ("_consumed", pa.list_(pa.string()))])
SOURCES_SCHEMA = pa.schema([("row_id", pa.string()), ("provider", pa.string()), ("month", pa.date32())])


class _Tables:
    """What ``counted_ledger`` needs of a store: the tables, as unbound ibis tables."""

    def table(self, name: str) -> Any:
        if name == "ledger":
            return ibis.table(ibis.Schema.from_pyarrow(ARROW_SCHEMA), name="ledger")
        return ibis.table(ibis.Schema.from_pyarrow(SOURCES_SCHEMA), name=name)


class _Capture:
    """A transaction that records the SQL it is given and returns no rows."""

    sql = ""

    def execute(self, sql: str, params: Any = None) -> list:
        self.sql = sql
        return []


def pools_sql() -> str:
    counted = ibis.to_sql(counted_ledger(_Tables()), dialect="duckdb")
    capture = _Capture()
    A._pools(capture, counted)  # type: ignore[arg-type]
    return to_spark(capture.sql, star_columns={"c": (*COLUMN_NAMES, "superseded", "superseded_usd")})


def events_sql() -> str:
    capture = _Capture()
    A._events(capture)  # type: ignore[arg-type]
    # Its ORDER BY ALL orders each pool's groups; the UDF sorts them itself (same order).
    return to_spark(capture.sql.rsplit("ORDER BY", 1)[0])


def _order(group: dict[str, Any]) -> tuple:
    """DuckDB's ORDER BY ALL on the dimensions: ascending, NULLs last, strings by code point."""
    return tuple((group[d] is None, group[d] or "") for d in A.EVENT_DIMS)


def _splitter(weight: str, batch_id: str, now: datetime) -> Any:
    sums = (*A.TOKENS, "estimated_cost_usd")

    def allocate(pools: pa.Table, events: pa.Table) -> pa.Table:
        # The loop body of ``attribution.allocate.allocate`` for one pool, on the same helpers.
        rows: list[dict[str, Any]] = []
        for pool in pools.to_pylist():
            day, provider, model, amount = pool["day"], pool["provider"], pool["model"], pool["pool"]
            measured, billed_ids = pool["measured"], pool["billed_ids"]
            groups = []
            for e in events.to_pylist():
                values = list(e.values())[len(_KEY):]
                dims = dict(zip(A.EVENT_DIMS, values[:len(A.EVENT_DIMS)], strict=True))
                groups.append({**dims, **{k: v or 0 for k, v in zip(sums, values[len(A.EVENT_DIMS):], strict=True)}})
            groups.sort(key=_order)
            summary = {**dict.fromkeys(COLUMN_NAMES), "provider": provider, "model": model, "_kind": "pool",
                       "period_start": datetime(day.year, day.month, day.day), "_pool_usd": amount}
            split = A.pool_rows(batch_id, now, day, provider, model, amount, groups, measured, len(billed_ids), weight)
            if split is None:
                rows.append({**summary, "_kind": "unmatched"})
                continue
            shares, covered = split
            unseen = shares[-1] if covered != amount else None  # pool_rows puts the unseen rest last
            rows += [{**r, "_kind": "unseen" if r is unseen else "share"} for r in shares]
            rows.append({**summary, "_covered_usd": covered,
                         "_consumed": [*billed_ids, *(pool["estimated_ids"] or [])]})
        return pa.Table.from_pylist(rows, schema=OUT_SCHEMA)

    return allocate


@dataclass
class SparkAllocation:
    rows: Any  # allocated ledger rows (cost_source = 'allocated'), ledger columns
    sources: Any  # allocation_sources rows: (row_id, provider, month) the shares replace
    pools: Any  # one row per pool: _kind matched ('pool') or 'unmatched', _pool_usd, _covered_usd

    def result(self) -> A.AllocationResult:
        """The same summary ``allocate`` returns (one small collect)."""
        out = A.AllocationResult()
        for r in self.pools.select("provider", "model", "period_start", "_kind", "_pool_usd", "_covered_usd").collect():
            out.pools += 1
            if r["_kind"] == "unmatched":
                out.unmatched_pools += 1
                out.unmatched_usd += r["_pool_usd"]
                out.unmatched.append({"day": r["period_start"].date(), "provider": r["provider"], "model": r["model"],
                                      "usd": r["_pool_usd"]})
            else:
                out.allocated_pools += 1
                out.allocated_usd += r["_covered_usd"]
                out.unseen_usd += r["_pool_usd"] - r["_covered_usd"]
        out.unmatched.sort(key=lambda u: (u["day"], u["provider"] or "", u["model"] or ""))
        out.rows = self.rows.count()
        return out


def allocate(spark: Any, ledger: Any, events_daily: Any, *, weight: str = "estimated_cost",
             batch_id: str = "allocation", now: datetime | None = None) -> SparkAllocation:
    """Split ``ledger``'s counted billed usage over ``events_daily`` (every provider-month)."""
    from pyspark.sql import functions as F

    now = now or datetime.now().replace(microsecond=0)
    ledger.createOrReplaceTempView("ledger")
    events_daily.createOrReplaceTempView("events_daily")
    spark.createDataFrame([], ddl(SOURCES_SCHEMA)).createOrReplaceTempView(A.SOURCES_TABLE)
    spark.sql(to_spark(A.ALL_KEYS)).createOrReplaceTempView(A._KEYS)
    pools = spark.sql(pools_sql())
    groups = spark.sql(events_sql()).toDF(*_KEY, *A.EVENT_DIMS, *A.TOKENS, "estimated_cost_usd")
    out = (pools.groupBy(*_KEY).cogroup(groups.groupBy(*_KEY))
           .applyInArrow(_splitter(weight, batch_id, now), ddl(OUT_SCHEMA))).persist()
    rows = out.filter(F.col("_kind").isin("share", "unseen")).select(*COLUMN_NAMES)
    summaries = out.filter(F.col("_kind").isin("pool", "unmatched"))
    sources = (summaries.filter(F.col("_kind") == "pool")
               .select(F.explode("_consumed").alias("row_id"), "provider",
                       F.trunc(F.to_date("period_start"), "month").alias("month")))
    return SparkAllocation(rows, sources, summaries)


def pool_total(pools: Any) -> Decimal:
    """What the pools hold in all (allocated + unseen + unmatched): the bill the shares replace."""
    from pyspark.sql import functions as F

    return pools.agg(F.sum("_pool_usd")).collect()[0][0] or Decimal(0)
