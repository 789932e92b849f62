"""Allocation: billed cost split over the per-request events (and shared costs over teams).

Bills stop at the model and key; events know the customer, feature and experiment. For each
**pool**, the counted billed usage of one (day, provider, model), the events of the same key
(``events_daily``) take shares by weight: their priced token cost (``[allocation] weight``,
falling back to tokens, then requests, when a pool's events have none). Each share becomes a
ledger row with ``cost_source = allocated``, the events' customer, feature, experiment,
environment, project and key, and their tokens. The pool's own rows (and the usage report's
estimates of the same key) are recorded in ``allocation_sources`` and superseded by
:func:`~aispend.analysis.report.counted_ledger`, so a pool is counted once, as its shares.

**Shares add up to the pool exactly.** Each share is rounded down to the cent, the cents left go
one by one to the largest fractions (ties: the group key's order), and the pool's sub-cent digits
to the largest share. A pool without events stays as billed (reports show it unattributed): that
is the unmatched remainder, reported by :func:`allocate`.

**Shared costs** (``[[allocation.shared]]``): each counted billed row a rule matches is split over
the values of ``to``: ``fixed`` percentages; ``even`` over the values with spend in ``among``
that month; ``by_cost`` by each value's share of that spend. Same rounding, same supersession.

Allocation is derived data: it is recomputed for the provider-months a write touches (inside
the import or sync transaction, when ``[allocation]`` is active) and in full by ``aispend allocate``.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa

from ..schema import ARROW_SCHEMA, COLUMN_NAMES
from .apply import apply_rules
from .rules import condition, match_sql

if TYPE_CHECKING:
    from ..config import Settings, SharedCost
    from ..store import Store, Transaction

SOURCE = "allocation"
SOURCES_TABLE = "allocation_sources"
EVENT_DIMS = ("customer", "feature", "experiment", "environment", "project", "api_key_id")
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "requests")
_CENT = Decimal("0.01")
_KEYS = "_alloc_keys"


@dataclass
class AllocationResult:
    pools: int = 0
    allocated_pools: int = 0
    allocated_usd: Decimal = Decimal(0)
    unmatched_pools: int = 0
    unmatched_usd: Decimal = Decimal(0)
    unseen_usd: Decimal = Decimal(0)  # shares of matched pools no event accounts for (unattributed)
    shared_rows: int = 0
    shared_usd: Decimal = Decimal(0)
    rows: int = 0
    unmatched: list[dict[str, Any]] = field(default_factory=list)

    @property
    def allocated_share(self) -> Decimal:
        total = self.allocated_usd + self.unseen_usd + self.unmatched_usd
        return (self.allocated_usd / total * 100).quantize(Decimal("0.01")) if total else Decimal(0)

    def as_dict(self) -> dict[str, Any]:
        return {"pools": self.pools, "allocated_pools": self.allocated_pools, "allocated_usd": self.allocated_usd,
                "unmatched_pools": self.unmatched_pools, "unmatched_usd": self.unmatched_usd,
                "unseen_usd": self.unseen_usd,
                "allocated_pct": self.allocated_share, "shared_rows": self.shared_rows,
                "shared_usd": self.shared_usd, "rows": self.rows}


# -- splitting money ----------------------------------------------------------------------------


def split(amount: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """``amount`` in shares proportional to ``weights``, adding up to ``amount`` exactly.

    Cents by the largest-remainder method (ties to the earlier weight), then the sub-cent digits
    to the largest share. ``weights`` must be positive; their order is the tie-break order.
    """
    total = sum(weights, Decimal(0))
    cents = amount.quantize(_CENT, rounding=ROUND_FLOOR)
    exact = [cents * w / total for w in weights]
    shares = [e.quantize(_CENT, rounding=ROUND_FLOOR) for e in exact]
    left = int(((cents - sum(shares, Decimal(0))) / _CENT).to_integral_value())
    by_fraction = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_fraction[:left]:
        shares[i] += _CENT
    largest = max(range(len(shares)), key=lambda i: (shares[i], -i))
    shares[largest] += amount - cents
    return shares


# -- scope ----------------------------------------------------------------------------------------


def _scope(tx: Transaction, keys: str) -> None:
    """The provider-months to (re)allocate, in a temp table."""
    tx.execute(f"CREATE OR REPLACE TEMP TABLE {_KEYS} AS SELECT DISTINCT provider, month FROM ({keys})")


def _in_scope(provider: str, when: str) -> str:
    return (f"(coalesce({provider}, ''), CAST(date_trunc('month', {when}) AS DATE)) IN "
            f"(SELECT provider, month FROM {_KEYS})")


ALL_KEYS = ("SELECT coalesce(provider, '') AS provider, CAST(date_trunc('month', period_start) AS DATE) AS month "
            "FROM ledger UNION SELECT coalesce(provider, ''), CAST(date_trunc('month', day) AS DATE) FROM events_daily")
STALE_KEYS = "SELECT provider, month FROM rollup_stale"


def _clear(tx: Transaction) -> None:
    from ..analysis.rollups import mark_stale

    where = f"source = '{SOURCE}' AND {_in_scope('provider', 'period_start')}"
    mark_stale(tx, where)
    tx.execute(f"DELETE FROM ledger WHERE {where}")
    tx.execute(f"DELETE FROM {SOURCES_TABLE} WHERE {_in_scope('provider', 'month')}")


def _counted_sql(store: Store) -> str:
    from ..analysis.report import counted_ledger

    return str(ibis.to_sql(counted_ledger(store), dialect=store.dialect))


# -- usage pools over events ------------------------------------------------------------------


def _pools(tx: Transaction, counted: str) -> list[tuple]:
    """Per key in scope: (day, provider, model, pool usd, billed row ids, estimated row ids, tokens
    the vendor measured). The tokens are the usage report's when there is one (estimated rows,
    superseded by the bill they describe), else the billed rows' own."""
    tokens = "coalesce(input_tokens, 0) + coalesce(output_tokens, 0)"
    return tx.execute(f"""
        SELECT CAST(period_start AS DATE) AS day, provider, model,
               sum(cost_usd) FILTER (WHERE cost_source = 'billed') AS pool,
               list(row_id) FILTER (WHERE cost_source = 'billed') AS billed_ids,
               list(row_id) FILTER (WHERE cost_source = 'estimated') AS estimated_ids,
               coalesce(nullif(sum({tokens}) FILTER (WHERE cost_source = 'estimated'), 0),
                        sum({tokens}) FILTER (WHERE cost_source = 'billed')) AS measured
        FROM ({counted_raw_tokens(counted)}) c
        WHERE model IS NOT NULL AND charge_category = 'usage' AND {_in_scope('provider', 'period_start')}
          AND (cost_source = 'estimated' OR (cost_source = 'billed' AND NOT superseded))
        GROUP BY ALL HAVING sum(cost_usd) FILTER (WHERE cost_source = 'billed') > 0""")


def counted_raw_tokens(counted: str) -> str:
    """The counted ledger with each row's own tokens back (the counted view moves them around)."""
    kept = ", ".join(f"c.{name}" for name in _POOL_COLUMNS)
    return (f"SELECT {kept}, l.input_tokens AS input_tokens, l.output_tokens AS output_tokens "
            f"FROM ({counted}) c JOIN ledger l USING (row_id)")


_POOL_COLUMNS = ("row_id", "period_start", "provider", "model", "charge_category", "cost_source", "cost_usd",
                 "superseded")


def _events(tx: Transaction) -> dict[tuple, list[dict[str, Any]]]:
    rows = tx.execute(f"""
        SELECT day, provider, model, {', '.join(EVENT_DIMS)}, {', '.join(f'sum({c})' for c in TOKENS)},
               sum(estimated_cost_usd)
        FROM events_daily WHERE {_in_scope('provider', 'day')} GROUP BY ALL ORDER BY ALL""")
    out: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        dims = dict(zip(EVENT_DIMS, r[3:3 + len(EVENT_DIMS)], strict=True))
        sums = dict(zip((*TOKENS, "estimated_cost_usd"), r[3 + len(EVENT_DIMS):], strict=True))
        out[(r[0], r[1], r[2])].append({**dims, **{k: v or 0 for k, v in sums.items()}})
    return out


def _covered(pool: Decimal, seen: int, measured: int | None) -> Decimal:
    """The part of ``pool`` the events account for: all of it, unless the vendor measured more
    tokens than the events carry (logs that miss requests); then the events' token share of it,
    to the cent. The rest is the pool's unseen share."""
    if not measured or seen >= measured:
        return pool
    return (pool * Decimal(seen) / Decimal(measured)).quantize(_CENT, rounding=ROUND_FLOOR)


def _weights(groups: list[dict[str, Any]], mode: str) -> list[Decimal] | None:
    order = {"estimated_cost": ("estimated_cost_usd", "tokens", "requests"), "tokens": ("tokens", "requests"),
             "requests": ("requests",)}[mode]
    for what in order:
        if what == "tokens":
            w = [Decimal(g["input_tokens"] + g["output_tokens"]) for g in groups]
        else:
            w = [Decimal(g[what]) for g in groups]
        if sum(w) > 0:
            return w
    return None


# -- rows -----------------------------------------------------------------------------------------


def _row_id(*parts: Any) -> str:
    return hashlib.md5("|".join("" if p is None else str(p) for p in (SOURCE, *parts)).encode()).hexdigest()


def _row(batch_id: str, now: datetime, day: date, end: date, provider: str, cost: Decimal, **values: Any) -> dict:
    row: dict[str, Any] = dict.fromkeys(COLUMN_NAMES)
    row.update(source=SOURCE, source_type=SOURCE, ingested_at=now, batch_id=batch_id,
               period_start=datetime(day.year, day.month, day.day), period_end=datetime(end.year, end.month, end.day),
               billing_period=day.strftime("%Y-%m"), provider=provider, charge_category="usage",
               billing_currency="USD", cost_usd=cost, cost_source="allocated", pricing_status="none")
    row.update(values)
    return row


def pool_rows(batch_id: str, now: datetime, day: date, provider: str, model: str, pool: Decimal,
              groups: list[dict[str, Any]], measured: int | None, billed_rows: int,
              weight: str) -> tuple[list[dict[str, Any]], Decimal] | None:
    """One pool split over its event groups: (the share rows, the part the events cover), None when
    no group has weight. When the events saw fewer tokens than the vendor measured, the last row is
    the unseen rest, left unattributed. The Spark path calls this too (aispend.spark.allocate)."""
    weights = _weights(groups, weight) if groups else None
    if not weights:
        return None
    kept = [(g, w) for g, w in zip(groups, weights, strict=True) if w > 0]
    seen = sum(g["input_tokens"] + g["output_tokens"] for g, _ in kept)
    covered = _covered(pool, seen, measured)
    common = {"model": model, "model_raw": model, "service_category": "AI and Machine Learning"}
    end = day + timedelta(days=1)
    rows = [_row(batch_id, now, day, end, provider, share,
                 row_id=_row_id(day, provider, model, *(g[d] for d in EVENT_DIMS)),
                 description=f"{model}: share of {billed_rows} billed row(s) by {weight}",
                 **common, **{d: g[d] for d in EVENT_DIMS}, **{c: g[c] for c in TOKENS})
            for (g, _), share in zip(kept, split(covered, [w for _, w in kept]), strict=True)]
    if covered != pool:  # requests the events never saw: their share stays unattributed
        rows.append(_row(batch_id, now, day, end, provider, pool - covered,
                         row_id=_row_id(day, provider, model, "unseen"), **common,
                         description=f"{model}: share of {billed_rows} billed row(s) no event saw",
                         input_tokens=max(int(measured or 0) - seen, 0)))
    return rows, covered


def allocate(tx: Transaction, store: Store, settings: Settings, *, keys: str = STALE_KEYS,
             batch_id: str = "allocation", now: datetime | None = None) -> AllocationResult:
    """Re-allocate the provider-months ``keys`` selects (default: those a write marked stale)."""
    from ..analysis.rollups import mark_stale

    out = AllocationResult()
    cfg = settings.allocation
    _scope(tx, keys)
    _clear(tx)
    if not cfg.active:
        return out
    now = now or datetime.now().replace(microsecond=0)
    counted = _counted_sql(store)
    rows: list[dict[str, Any]] = []
    consumed: list[tuple[str, str, date]] = []
    if cfg.enabled:
        events = _events(tx)
        for day, provider, model, pool, billed_ids, estimated_ids, measured in _pools(tx, counted):
            out.pools += 1
            shares = pool_rows(batch_id, now, day, provider, model, pool, events.get((day, provider, model), []),
                               measured, len(billed_ids), cfg.weight)
            if shares is None:
                out.unmatched_pools += 1
                out.unmatched_usd += pool
                out.unmatched.append({"day": day, "provider": provider, "model": model, "usd": pool})
                continue
            rows += shares[0]
            covered = shares[1]
            out.unseen_usd += pool - covered
            month = day.replace(day=1)
            consumed += [(rid, provider, month) for rid in [*billed_ids, *(estimated_ids or [])]]
            out.allocated_pools += 1
            out.allocated_usd += covered
    for rule in cfg.shared:
        shared, used = _shared(tx, counted, rule, batch_id, now)
        rows += shared
        consumed += used
        out.shared_rows += len(used)
        out.shared_usd += sum((r["cost_usd"] for r in shared), Decimal(0))
    if rows:
        table = pa.Table.from_pylist(rows, schema=ARROW_SCHEMA)
        tx.append("ledger", table)
        tx.append(SOURCES_TABLE, pa.table({"row_id": [c[0] for c in consumed], "provider": [c[1] for c in consumed],
                                           "month": pa.array([c[2] for c in consumed], pa.date32())}))
        apply_rules(tx, settings, [batch_id])  # a share's key or project may say whose it is
        mark_stale(tx, f"source = '{SOURCE}' AND batch_id = ?", [batch_id])
    out.rows = len(rows)
    return out


def _shared(tx: Transaction, counted: str, rule: SharedCost, batch_id: str,
            now: datetime) -> tuple[list[dict[str, Any]], list[tuple[str, str, date]]]:
    """Split each counted billed row ``rule`` matches over the values of ``rule.to``."""
    matched = tx.execute(f"""
        SELECT row_id, period_start, coalesce(period_end, period_start + INTERVAL 1 DAY), provider, service,
               cost_usd, CAST(date_trunc('month', period_start) AS DATE)
        FROM ({counted}) c
        WHERE NOT superseded AND cost_source = 'billed' AND cost_usd IS NOT NULL AND cost_usd <> 0
          AND {rule.to} IS NULL AND {condition(rule)} AND {_in_scope('provider', 'period_start')}
        ORDER BY row_id""")
    rows, used = [], []
    weights_by_month: dict[date, list[tuple[str, Decimal]]] = {}
    for row_id, start, end, provider, service, cost, month in matched:
        if rule.split == "fixed":
            targets = sorted(rule.shares.items())
        else:
            if month not in weights_by_month:
                weights_by_month[month] = _among(tx, counted, rule, month)
            targets = weights_by_month[month]
            if rule.split == "even":
                targets = [(v, Decimal(1)) for v, _ in targets]
        if not targets:
            continue
        for (value, _), share in zip(targets, split(cost, [w for _, w in targets]), strict=True):
            rows.append(_row(batch_id, now, start.date(), end.date(), provider, share,
                             row_id=_row_id(row_id, rule.name, value), service=service, period_start=start,
                             period_end=end, description=f"{rule.name}: {value}'s share of a shared cost",
                             **{rule.to: value}))
        used.append((row_id, provider or "", month))
    return rows, used


def _among(tx: Transaction, counted: str, rule: SharedCost, month: date) -> list[tuple[str, Decimal]]:
    """(value of ``rule.to``, its counted spend in ``rule.among``) for the month, positive only."""
    scope = match_sql(rule.among) if rule.among else "true"
    rows = tx.execute(f"""
        SELECT {rule.to}, sum(cost_usd) FROM ({counted}) c
        WHERE {rule.to} IS NOT NULL AND cost_usd IS NOT NULL AND source <> '{SOURCE}' AND {scope}
          AND CAST(date_trunc('month', period_start) AS DATE) = ?
        GROUP BY 1 HAVING sum(cost_usd) > 0 ORDER BY 1""", [month])
    return [(v, w) for v, w in rows]


def allocate_all(store: Store, settings: Settings) -> AllocationResult:
    """``aispend allocate``: every provider-month again, and the rollup with it, atomically."""
    from ..analysis.rollups import refresh

    with store.transaction(bulk=True) as tx:
        tx.full_memory()  # nothing is loaded here: it is all the heavy aggregation that needs the pool
        result = allocate(tx, store, settings, keys=ALL_KEYS)
        tx.execute(f"INSERT INTO rollup_stale SELECT provider, month FROM {_KEYS}")
        refresh(tx, store)
    return result

