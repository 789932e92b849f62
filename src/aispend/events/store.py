"""Load events idempotently and keep the daily rollup in step; prune old raw events.

A load is one transaction: the events are priced (the ledger's bulk pricer, so ``model`` is
canonicalised exactly as on ledger rows), events already stored under the same ``event_id`` are
replaced, and ``events_daily`` receives the difference (new minus replaced), so re-delivering a
span or re-importing a file converges instead of adding up.

Pruning deletes whole UTC days of raw events and records the cutoff; the rollup keeps them. An
event older than the latest cutoff that arrives again is skipped: its day is already rolled up and
its earlier copy can no longer be subtracted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from ..pricing import Pricer
from ..schema import ARROW_SCHEMA
from ..store import Store, Transaction
from .schema import EVENT_COLUMNS, EVENT_SCHEMA, EVENT_TOKENS, PARSED_COLUMNS, ROLLUP_KEYS, ROLLUP_MEASURES

_PARSED_SCHEMA = pa.schema([EVENT_SCHEMA.field(c) for c in PARSED_COLUMNS])

if TYPE_CHECKING:
    from ..config import Settings


@dataclass
class LoadResult:
    stored: int = 0  # events now in the table from this load
    replaced: int = 0  # of those, how many replaced an earlier copy
    too_old: int = 0  # skipped: before the last prune's cutoff (already rolled up)
    unpriced: int = 0

    def add(self, other: LoadResult) -> None:
        for name in ("stored", "replaced", "too_old", "unpriced"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def priced_events(rows: Iterable[dict[str, Any]], pricer: Pricer, now: datetime | None = None) -> pa.Table:
    """Parser rows as an events table: deduplicated by event_id (last wins), priced, stamped."""
    unique = list({r["event_id"]: r for r in rows}.values())
    parsed = pa.table({f.name: pa.array([r.get(f.name) for r in unique], f.type) for f in _PARSED_SCHEMA},
                      schema=_PARSED_SCHEMA)
    n = parsed.num_rows
    ledger_like = {f.name: pa.nulls(n, f.type) for f in ARROW_SCHEMA}
    ledger_like.update(
        period_start=parsed["time"], provider=parsed["provider"], model_raw=parsed["model_raw"],
        model=parsed["model_raw"], service_tier=parsed["service_tier"], requests=parsed["requests"],
        cost_source=pa.array(["estimated"] * n, pa.string()),
        **{c: parsed[c] for c in EVENT_TOKENS},
    )
    priced = pricer.price(pa.table(ledger_like, schema=ARROW_SCHEMA))
    status = priced["pricing_status"]
    # No tokens costs nothing whatever the model; an unknown model with tokens stays NULL.
    cost = pc.if_else(pc.equal(status, "none"), pa.scalar(Decimal(0), priced["cost_usd"].type), priced["cost_usd"])
    stamp = (now or datetime.now(UTC)).replace(tzinfo=None)
    columns = {c: parsed[c] for c in PARSED_COLUMNS}
    columns.update(
        day=pc.cast(parsed["time"], pa.date32()), model=priced["model"],
        ingested_at=pa.array([stamp] * n, pa.timestamp("us")), estimated_cost_usd=cost, pricing_status=status,
    )
    return pa.table({c: columns[c] for c in EVENT_COLUMNS}, schema=EVENT_SCHEMA)


def _same(a: str, b: str) -> str:
    return " AND ".join(f"{a}.{k} IS NOT DISTINCT FROM {b}.{k}" for k in ROLLUP_KEYS)


_KEYS = ", ".join(ROLLUP_KEYS)
_CONTRIBUTION = ", ".join([
    "{sign} AS events", "{sign} * coalesce(requests, 0) AS requests",
    "{sign} * CASE WHEN status = 'error' THEN 1 ELSE 0 END AS error_events",
    *[f"{{sign}} * coalesce({c}, 0) AS {c}" for c in EVENT_TOKENS],
    "{sign} * coalesce(estimated_cost_usd, 0) AS estimated_cost_usd",
    "{sign} * CASE WHEN pricing_status = 'unpriced' THEN 1 ELSE 0 END AS unpriced_events",
])
# The stored copies of incoming events. The day narrows the scan (the table is clustered by time, so
# DuckDB skips other days' row groups): an event's id and its UTC day identify it.
_STORED = "day IN (SELECT DISTINCT day FROM _events_in) AND event_id IN (SELECT event_id FROM _events_in)"
_DELTA_SQL = f"""CREATE TEMP TABLE _events_delta AS
SELECT {_KEYS}, {", ".join(f"sum({m}) AS {m}" for m in ROLLUP_MEASURES)}
FROM (
  SELECT {_KEYS}, {_CONTRIBUTION.format(sign=1)} FROM _events_in
  UNION ALL
  SELECT {_KEYS}, {_CONTRIBUTION.format(sign=-1)} FROM events WHERE {_STORED}
) GROUP BY ALL"""
_APPLY_SQL = (
    (f"UPDATE events_daily AS d SET {', '.join(f'{m} = d.{m} + x.{m}' for m in ROLLUP_MEASURES)} "
     f"FROM _events_delta AS x WHERE {_same('d', 'x')}"),
    (f"INSERT INTO events_daily ({_KEYS}, {', '.join(ROLLUP_MEASURES)}) "
     f"SELECT {_KEYS}, {', '.join(ROLLUP_MEASURES)} FROM _events_delta AS x "
     f"WHERE NOT EXISTS (SELECT 1 FROM events_daily AS d WHERE {_same('d', 'x')})"),
    "DELETE FROM events_daily WHERE events = 0",
)


def append_events(tx: Transaction, events: pa.Table) -> LoadResult:
    """Store priced events (see :func:`priced_events`) inside ``tx``: replace, roll up, count."""
    result = LoadResult()
    if events.num_rows == 0:
        return result
    tx.execute("CREATE TEMP TABLE _events_in AS SELECT * FROM events LIMIT 0")
    try:
        tx.append("_events_in", events)
        cutoff = tx.execute("SELECT max(cutoff) FROM events_prunes")[0][0]
        if cutoff is not None:
            result.too_old = tx.execute("SELECT count(*) FROM _events_in WHERE time < ?", [cutoff])[0][0]
            tx.execute("DELETE FROM _events_in WHERE time < ?", [cutoff])
        tx.execute(_DELTA_SQL)
        for sql in _APPLY_SQL:
            tx.execute(sql)
        result.replaced = tx.execute(
            f"SELECT count(*) FROM events WHERE {_STORED}")[0][0]
        tx.execute(f"DELETE FROM events WHERE {_STORED}")
        tx.execute(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) SELECT {', '.join(EVENT_COLUMNS)} FROM _events_in")
        # Allocation splits bills by these events: their provider-months are re-allocated (derived.settle).
        tx.execute("INSERT INTO rollup_stale SELECT DISTINCT coalesce(provider, ''), CAST(date_trunc('month', day) AS DATE) "
                   "FROM _events_in")
        result.stored, result.unpriced = tx.execute(
            "SELECT count(*), count(*) FILTER (WHERE pricing_status = 'unpriced') FROM _events_in")[0]
    finally:
        tx.execute("DROP TABLE IF EXISTS _events_delta")
        tx.execute("DROP TABLE IF EXISTS _events_in")
    return result


def store_events(store: Store, rows: list[dict[str, Any]], pricer: Pricer,
                 settings: Settings | None = None) -> LoadResult:
    """Price and store ``rows`` in one transaction of their own (the receiver's path); with
    ``settings``, allocation and the rollup follow in the same transaction."""
    table = priced_events(rows, pricer)
    with store.transaction() as tx:
        result = append_events(tx, table)
        if settings is not None:
            from ..derived import settle

            settle(tx, store, settings)
        return result


@dataclass
class PruneResult:
    cutoff: datetime
    deleted: int


def prune_events(store: Store, older_than_days: int, now: datetime | None = None) -> PruneResult:
    """Delete raw events of UTC days older than ``older_than_days`` days; the rollup keeps them."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    cutoff = datetime.combine(today - timedelta(days=older_than_days), time())
    with store.transaction() as tx:
        deleted = tx.execute("SELECT count(*) FROM events WHERE time < ?", [cutoff])[0][0]
        tx.execute("DELETE FROM events WHERE time < ?", [cutoff])
        tx.execute("INSERT INTO events_prunes VALUES (?, ?, ?)",
                   [datetime.now(UTC).replace(tzinfo=None), cutoff, deleted])
    return PruneResult(cutoff, deleted)
