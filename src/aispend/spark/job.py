"""The whole job: export files and event files in, warehouse tables (Parquet) out.

    exports --normalize--> ledger rows --price--> ledger ------------------┐
    events  --parse--> one per id --price--> events --roll up--> events_daily ──allocate──> allocated shares

Output, under ``output/`` (one Parquet table a directory, ledger columns and types as
``aispend.schema`` and ``events.schema`` define them):

    ledger/              the normalized, priced export rows (partitioned by billing_period)
    events_daily/        the daily rollup of the events (what allocation and reports read)
    allocated/           allocated shares (cost_source = 'allocated')
    allocation_sources/  the billed rows the shares replace (row_id, provider, month)
    imports.json         per input file: batch id, source, sha256/key, rows, rejects; allocation summary
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..config import Settings
from ..pricing import Pricer
from ..schema import COLUMN_NAMES
from .allocate import SparkAllocation, allocate
from .events import EventFile, parse_events, price_events, rollup
from .normalize import ExportFile, normalize
from .pricing import SparkPricer

TABLES = ("ledger", "events_daily", "allocated", "allocation_sources")


@dataclass
class JobResult:
    output: str
    files: list[ExportFile] = field(default_factory=list)
    event_files: list[EventFile] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    allocation: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        files = [{"path": f.path, "format": f.format.label, "source": f.source, "batch_id": f.batch_id, "key": f.key,
                  "rows_rejected": f.rows_rejected} for f in self.files]
        events = [{"path": f.path, "format": f.format, "rejected": f.rejected} for f in self.event_files]
        return {"output": self.output, "files": files, "event_files": events, "rows": self.rows,
                "allocation": self.allocation, "seconds": round(self.seconds, 3)}


@dataclass
class Frames:
    """The job's results as DataFrames (lazy; :func:`write` materialises them)."""

    ledger: Any
    events_daily: Any | None
    allocation: SparkAllocation | None
    files: list[ExportFile]
    event_files: list[EventFile]


def build(spark: Any, settings: Settings, inputs: list[str], events: list[str] | None = None, *,
          fmt: str | None = None, mapping: str | None = None, source: str | None = None,
          events_format: str | None = None, skip_invalid: bool = False, pricer: Pricer | None = None,
          now: datetime | None = None) -> Frames:
    """Plan the job. ``pricer``: the book and FX rates to use (default: ``settings``' book and
    its undated ``[pricing.fx]`` rates; ``Pricer.for_store`` adds a store's dated rates)."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    pricer = pricer or Pricer(_book(settings), fx=_fx(settings))
    spark_pricer = SparkPricer(spark, pricer)
    rows, files = normalize(spark, settings, inputs, fmt=fmt, mapping=mapping, source=source,
                            skip_invalid=skip_invalid, now=now)
    ledger = spark_pricer.price(rows).select(*COLUMN_NAMES).persist()
    daily, allocation, event_files = None, None, []
    if events:
        parsed, event_files = parse_events(spark, settings, events, fmt=events_format, skip_invalid=skip_invalid)
        daily = rollup(spark, price_events(spark_pricer, parsed, now)).persist()
        if settings.allocation.enabled:
            allocation = allocate(spark, ledger, daily, weight=settings.allocation.weight,
                                  batch_id=f"allocation:spark:{now:%Y%m%dT%H%M%S}", now=now.replace(microsecond=0))
    return Frames(ledger, daily, allocation, files, event_files)


def _book(settings: Settings) -> Any:
    from ..pricing import PriceBook

    return PriceBook(settings.pricing)


def _fx(settings: Settings) -> Any:
    from ..fx import fx_table

    return fx_table(None, settings)


def write(frames: Frames, output: str, *, mode: str = "overwrite") -> JobResult:
    """Write the tables as Parquet under ``output`` (a local path or any URI Spark writes)."""
    result = JobResult(output, frames.files, frames.event_files)
    out = output.rstrip("/")
    frames.ledger.write.mode(mode).partitionBy("billing_period").parquet(f"{out}/ledger")
    result.rows["ledger"] = frames.ledger.count()
    if frames.events_daily is not None:
        frames.events_daily.write.mode(mode).parquet(f"{out}/events_daily")
        result.rows["events_daily"] = frames.events_daily.count()
    if frames.allocation is not None:
        frames.allocation.rows.write.mode(mode).parquet(f"{out}/allocated")
        frames.allocation.sources.write.mode(mode).parquet(f"{out}/allocation_sources")
        summary = frames.allocation.result()
        result.rows["allocated"] = summary.rows
        result.allocation = {k: str(v) if isinstance(v, Decimal) else v for k, v in summary.as_dict().items()}
    if "://" not in out and not out.startswith(("dbfs:", "s3:", "gs:", "abfss:", "hdfs:")):
        Path(out, "imports.json").write_text(json.dumps(result.summary(), indent=2, default=str))
    return result


def run(spark: Any, settings: Settings, inputs: list[str], output: str, events: list[str] | None = None,
        **options: Any) -> JobResult:
    began = datetime.now(UTC)
    frames = build(spark, settings, inputs, events, **options)
    result = write(frames, output)
    result.seconds = (datetime.now(UTC) - began).total_seconds()
    return result


__all__ = ["TABLES", "Frames", "JobResult", "build", "run", "write"]
