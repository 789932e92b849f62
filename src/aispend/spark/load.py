"""A Spark job's output into the serving store, through the store's own transaction API.

One transaction, as an import: each input file's ledger rows are appended as a new import
batch (an earlier import of the same content or path is retired first, so loading twice
converges); the job's ``events_daily`` rows replace the store's for the provider-months they
cover; attribution rules run on the new batches; then :func:`aispend.derived.settle`
re-derives allocation and the daily rollup for the touched provider-months, from the store's
whole ledger (the same functions the Spark job ran: on the same rows they give the same
shares). Raw events stay in the warehouse: the store needs only their daily rollup.
Needs no Spark: it reads the Parquet with pyarrow.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from ..analysis.rollups import mark_stale
from ..attribution import apply_rules
from ..config import Settings
from ..derived import settle
from ..errors import ImportError_
from ..events.schema import ROLLUP_KEYS, ROLLUP_MEASURES
from ..ingest.batches import retire_batch
from ..schema import ARROW_SCHEMA
from ..store import Store
from .events import DAILY_SCHEMA


@dataclass
class LoadResult:
    ledger_rows: int = 0
    events_daily_rows: int = 0
    replaced_rows: int = 0
    batches: list[str] = field(default_factory=list)


def load_output(store: Store, settings: Settings, output: str | Path) -> LoadResult:
    out = Path(output)
    manifest = out / "imports.json"
    if not manifest.is_file():
        raise ImportError_(f"{out}: no imports.json; is this a `aispend spark run` output directory?")
    summary = json.loads(manifest.read_text())
    result = LoadResult()
    now = datetime.now(UTC).replace(tzinfo=None)
    ledger = ds.dataset(out / "ledger", format="parquet", partitioning="hive")
    with store.transaction(bulk=True) as tx:
        for f in summary["files"]:
            # A load is a batch of its own (loading one output twice retires the first load).
            batch_id = uuid.uuid4().hex
            previous = tx.execute(
                "SELECT batch_id FROM imports WHERE replaced_by IS NULL AND (sha256 = ? OR (path = ? AND source = ?))",
                [f["key"], f["path"], f["source"]])
            for (old,) in previous:
                result.replaced_rows += retire_batch(tx, old, replaced_by=batch_id)
            rows = 0
            for batch in ledger.to_batches(filter=ds.field("batch_id") == f["batch_id"]):
                table = pa.Table.from_batches([batch])
                table = table.set_column(table.schema.get_field_index("batch_id"), "batch_id",
                                         pa.array([batch_id] * table.num_rows, pa.string()))
                table = table.select(ARROW_SCHEMA.names).cast(ARROW_SCHEMA)
                rows += tx.append("ledger", table)
            tx.execute("INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                       [batch_id, f["source"], f["path"], f["key"], f["format"], rows, f["rows_rejected"], now])
            result.ledger_rows += rows
            result.batches.append(batch_id)
        daily_dir = out / "events_daily"
        if daily_dir.is_dir():
            daily = ds.dataset(daily_dir, format="parquet").to_table().select(DAILY_SCHEMA.names).cast(DAILY_SCHEMA)
            tx.execute("CREATE TEMP TABLE _spark_daily_keys (provider VARCHAR, month DATE)")
            try:
                keys = daily.select(["provider", "day"]).to_pylist()
                months = {((k["provider"] or ""), k["day"].replace(day=1)) for k in keys}
                tx.append("_spark_daily_keys", pa.table({"provider": [m[0] for m in months],
                                                         "month": pa.array([m[1] for m in months], pa.date32())}))
                tx.execute("DELETE FROM events_daily WHERE (coalesce(provider, ''), CAST(date_trunc('month', day) AS DATE)) "
                           "IN (SELECT provider, month FROM _spark_daily_keys)")
                tx.execute("INSERT INTO rollup_stale SELECT provider, month FROM _spark_daily_keys")
            finally:
                tx.execute("DROP TABLE IF EXISTS _spark_daily_keys")
            result.events_daily_rows = tx.append("events_daily", daily.select([*ROLLUP_KEYS, *ROLLUP_MEASURES]))
        if result.batches:
            apply_rules(tx, settings, result.batches)
            marks = ", ".join("?" for _ in result.batches)
            mark_stale(tx, f"batch_id IN ({marks})", result.batches)
        settle(tx, store, settings)
    return result
