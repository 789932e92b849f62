"""The daily rollup: the counted ledger summed per day and dimension, kept current incrementally.

Reports, the dashboard and the API answer from ``ledger_daily`` (a few rows per day and scope)
instead of scanning raw rows (hourly CUR lines, daily API buckets, ...). It holds exactly what
:func:`counted_ledger` counts, so a report reads the same from either.

Incremental, never from scratch: every write to the ledger marks the (provider, month) keys it
touches as stale (:func:`mark_stale`, before a delete and after an insert), and the writer's
transaction ends with :func:`refresh`, which recomputes just those keys. A key is a provider
and month because what a row counts depends only on rows of its provider (a bill supersedes the
estimates of the days it covers; itemized rows supersede the invoice of their billing month), so
recomputing every touched provider-month, plus the months holding invoices of those billing
months, is exact. A row marks every month its charge period spans and its billing month.
Re-pricing and re-attribution rewrite every row and :func:`rebuild` the whole rollup.

Until a marked key is refreshed (a ledger from before rollups existed), reports read raw rows:
:func:`usable` says whether the rollup may answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ibis

from ..store import Store, Transaction
from .report import counted_ledger

TABLE = "ledger_daily"
STALE = "rollup_stale"
# Dimensions kept per day: the ones reports and the dashboard group and filter by. Line-level ones
# (sku, model_raw, description, invoice_id) stay in the raw rows.
DIMS = ("source", "source_type", "billing_period", "provider", "publisher", "service", "service_category",
        "model", "region", "service_tier", "charge_category", "billing_currency", "cost_source",
        "pricing_status", "account_id", "project", "api_key_id", "environment", "owner", "feature",
        "customer", "experiment")
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "requests")

# Distinct spans and periods first: a million rows touch a handful of months, and only those are
# expanded and parsed (measured on PostgreSQL: 33.6 s -> a few at 10M rows).
_MONTHS = """SELECT provider, CAST(unnest(generate_series(first, last, INTERVAL 1 MONTH)) AS DATE) AS month
    FROM (SELECT DISTINCT coalesce(provider, '') AS provider, date_trunc('month', period_start) AS first,
            date_trunc('month', greatest(period_start, coalesce(period_end, period_start) - INTERVAL 1 MICROSECOND))
              AS last
          FROM ledger WHERE {where}) spans
  UNION
  SELECT provider, CAST(try_strptime(billing_period, '%Y-%m') AS DATE)
    FROM (SELECT DISTINCT coalesce(provider, '') AS provider, billing_period FROM ledger WHERE ({where})) periods
    WHERE try_strptime(billing_period, '%Y-%m') IS NOT NULL"""


def mark_stale(tx: Transaction, where: str, params: Sequence[Any] = ()) -> None:
    """Mark the provider-months of the ledger rows matching ``where`` for :func:`refresh`."""
    tx.execute(f"INSERT INTO {STALE} SELECT DISTINCT provider, month FROM ({_MONTHS.format(where=where)})",
               [*params, *params])


def _rollup(store: Store, t: Any) -> Any:
    tokens = t.input_tokens.fill_null(0) + t.output_tokens.fill_null(0)
    unpriced = (t.pricing_status == "unpriced") & t.cost_usd.isnull()
    unconverted = (t.cost_source == "billed") & t.cost_usd.isnull() & t.billed_cost.notnull()
    # A charge longer than a day (a monthly fee, a credit) is spend but not a daily rate (forecasts).
    long_period = (t.period_end.notnull() & (t.period_end > t.period_start + ibis.interval(days=1))).fill_null(False)
    keys = {"day": t.period_start.truncate("D").cast("date"), "long_period": long_period, **{d: t[d] for d in DIMS}}
    metrics = {
        "rows": t.count(),
        "cost_usd": t.cost_usd.sum(),
        "superseded_rows": t.superseded.sum(),
        "superseded_usd": t.superseded_usd.sum(),
        **{c: t[c].sum() for c in TOKENS},
        "unpriced_rows": unpriced.sum(),
        "unpriced_tokens": tokens.sum(where=unpriced),
        "unconverted_rows": unconverted.sum(),
        "unconverted_billed": t.billed_cost.sum(where=unconverted),
    }
    return t.group_by(**keys).aggregate(**metrics)


def _insert(tx: Transaction, store: Store, expr: Any) -> None:
    cols = [c for (c,) in tx.execute(f"SELECT column_name FROM information_schema.columns WHERE table_name = "
                                     f"'{TABLE}' AND table_schema = current_schema() ORDER BY ordinal_position")]
    sql = ibis.to_sql(expr.select(cols), dialect=store.dialect)
    tx.execute(f"INSERT INTO {TABLE} ({', '.join(cols)}) {sql}")


def refresh(tx: Transaction, store: Store) -> int:
    """Recompute the stale provider-months (in the caller's transaction); returns how many."""
    if not tx.execute(f"SELECT count(*) FROM {STALE}")[0][0]:
        return 0
    # Invoices whose billing month is stale count differently now, whatever month they are dated in.
    tx.execute(f"""INSERT INTO {STALE} SELECT DISTINCT coalesce(l.provider, ''), CAST(date_trunc('month', l.period_start) AS DATE)
        FROM ledger l JOIN {STALE} s ON coalesce(l.provider, '') = s.provider AND l.billing_period = strftime(s.month, '%Y-%m')""")
    keys = f"SELECT DISTINCT provider, month FROM {STALE}"
    tx.execute(f"DELETE FROM {TABLE} WHERE (coalesce(provider, ''), CAST(date_trunc('month', day) AS DATE)) IN ({keys})")
    t = counted_ledger(store)
    stale = store.table(STALE).distinct()
    t = t.mutate(_p=t.provider.fill_null(""), _m=t.period_start.truncate("M").cast("date"))
    t = t.join(stale, [t._p == stale.provider, t._m == stale.month], how="semi")
    _insert(tx, store, _rollup(store, t))
    n = tx.execute(f"SELECT count(*) FROM ({keys})")[0][0]
    tx.execute(f"DELETE FROM {STALE}")
    return int(n)


def rebuild(tx: Transaction, store: Store) -> None:
    """The whole rollup again (after a re-price or re-attribution rewrote every row)."""
    tx.execute(f"DELETE FROM {TABLE}")
    _insert(tx, store, _rollup(store, counted_ledger(store)))
    tx.execute(f"DELETE FROM {STALE}")


def usable(store: Store) -> bool:
    """Whether the rollup is current: nothing waits for a refresh, and it holds as many rows as the
    ledger (a safety net for a write that bypassed the marks). Asked once per store and write: a
    dashboard page asks several times, and on PostgreSQL counting the ledger is a scan."""
    memo = getattr(store, "_rollup_usable", None)
    if memo is not None and memo[0] == store.writes:
        return memo[1]
    stale, ledger_rows, rolled = store.query(
        f"SELECT (SELECT count(*) FROM {STALE}), (SELECT count(*) FROM ledger), "
        f"(SELECT coalesce(sum(rows), 0) FROM {TABLE})")[0]
    answer = stale == 0 and ledger_rows == rolled
    if not store.in_transaction:  # inside one, the next statement may change the answer
        store._rollup_usable = (store.writes, answer)  # type: ignore[attr-defined]
    return answer
