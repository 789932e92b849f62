"""A budget's (or an alert's) scope over the counted ledger: one filter for every figure.

A scope is ``--where`` as a table: ``{provider = "openai", owner = ["search", "ads"], "tags.team" =
"risk"}``; values of one key are alternatives (OR), keys combine with AND, ``(unattributed)``
matches rows without a value, ``tags.KEY`` reads the row's tags. Money always comes from
:func:`aispend.analysis.report.counted_ledger`, so superseded estimates and invoices never count.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import ibis

from ..analysis.report import counted_ledger
from ..attribution import UNATTRIBUTED
from ..config import TAG
from ..store import Store

Scope = dict[str, list[str]]


def normalize(scope: dict[str, str | list[str]]) -> Scope:
    return {k: [v] if isinstance(v, str) else list(v) for k, v in scope.items()}


def forecast_where(scope: Scope) -> tuple[dict[str, list[str]], bool]:
    """(the part :func:`aispend.analysis.forecast.forecast` can filter on, whether it is all of it).

    The forecast filters plain dimensions with exact values; tags and ``(unattributed)`` are left out.
    """
    where = {k: v for k, v in scope.items() if not k.startswith(TAG) and UNATTRIBUTED not in v}
    return where, len(where) == len(scope)


@ibis.udf.scalar.builtin
def json_extract_string(doc: str, path: str) -> str:  # type: ignore[empty-body]
    """DuckDB's own; PostgreSQL's comes with the store (store/pg_sql.py COMPAT_FUNCTIONS)."""


def _column(t: Any, key: str) -> Any:
    if key.startswith(TAG):
        # Tags are JSON on DuckDB and TEXT on PostgreSQL; this one function reads both.
        return json_extract_string(t.tags.cast("string"), "$." + json.dumps(key[len(TAG):]))
    return t[key]


def scoped(store: Store, scope: Scope, start: date | None = None, end: date | None = None) -> Any:
    """The counted ledger within ``scope`` and [start, end) by charge period start."""
    t = counted_ledger(store)
    preds = []
    if start is not None:
        preds.append(t.period_start >= _midnight(start))
    if end is not None:
        preds.append(t.period_start < _midnight(end))
    for key, values in scope.items():
        col = _column(t, key)
        named = [v for v in values if v != UNATTRIBUTED]
        pred = col.isin(named) if named else ibis.literal(False)
        preds.append(pred | col.isnull() if UNATTRIBUTED in values else pred)
    return t.filter(preds) if preds else t


def daily_spend(store: Store, scope: Scope, start: date, end: date) -> dict[date, Decimal]:
    """Exact spend per day (charge period start) in [start, end); unpriced rows are not in it."""
    if end <= start:
        return {}
    t = scoped(store, scope, start, end)
    rows = t.group_by(day=t.period_start.truncate("D")).aggregate(cost=t.cost_usd.sum()).to_pyarrow().to_pylist()
    out: dict[date, Decimal] = defaultdict(Decimal)
    for r in rows:
        out[r["day"].date()] += r["cost"] or Decimal(0)
    return dict(sorted(out.items()))


def unpriced_rows(store: Store, scope: Scope, start: date, end: date) -> int:
    """Rows in scope whose cost is unknown (a model the price book lacks): not in any figure."""
    t = scoped(store, scope, start, end)
    return int(t.filter((t.pricing_status == "unpriced") & t.cost_usd.isnull()).count().to_pyarrow().as_py())


def top_contributors(store: Store, scope: Scope, start: date, end: date, dims: tuple[str, ...] = (
        "model", "feature", "api_key_id"), n: int = 3) -> dict[str, list[tuple[str, Decimal]]]:
    """The ``n`` largest spenders per dimension in scope, e.g. ``{"model": [("gpt-4o", Decimal(...))]}``."""
    t = scoped(store, scope, start, end)
    out = {}
    for dim in dims:
        g = t.group_by(dim).aggregate(cost=t.cost_usd.sum())
        g = g.filter(g.cost.notnull() & (g.cost != 0)).order_by([g.cost.desc(), g[dim]]).limit(n)
        out[dim] = [(r[dim] if r[dim] is not None else UNATTRIBUTED, r["cost"])
                    for r in g.to_pyarrow().to_pylist()]
    return out


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time())
