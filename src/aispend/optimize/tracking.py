"""Did an accepted model swap save what it promised? Week by week, from the day it went live.

For each accepted recommendation that carries a model swap, the weeks from its effective day to
the ledger's last day are measured on the scope's rows of either model:

* ``actual_usd``: the rows as they are;
* ``baseline_usd``: the same rows with those on the new model priced back at the old one (the
  what-if in reverse), so a week of more or less traffic does not read as savings or losses;
* ``saved_usd = baseline_usd - actual_usd``, against ``estimated_usd``: the accepted monthly
  estimate prorated to the days of the week.

Both sides are priced through the Pricer at list less discount, the basis of the estimate.
``on_target_pct`` shows how far the swap has rolled out (requests on the new model).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..analysis.report import Window
from ..config import Settings
from ..pricing import Pricer
from ..store import Store
from .decisions import stored
from .recommend.base import MONTH_DAYS
from .rows import ZERO, counted, paid, usage_rows
from .whatif import ModelRef

COLUMNS = ["id", "week_start", "days", "requests", "on_target_pct", "actual_usd", "baseline_usd", "saved_usd",
           "estimated_usd", "saved_vs_estimate_pct"]
_PCT = Decimal("0.1")


def track(store: Store, settings: Settings, rec_id: str | None = None) -> list[dict[str, Any]]:
    """One row per accepted model swap and week since it went live (see the module docstring)."""
    swaps = [r for r in stored(store, "accepted", rec_id) if (r.action or {}).get("type") == "model-swap"]
    if not swaps:
        return []
    t = counted(store)
    last = t.aggregate(last=t.period_start.max()).to_pyarrow().to_pylist()[0]["last"]
    if last is None:
        return []
    end = last.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    pricer = Pricer.for_store(store, settings)
    try:
        return [row for rec in swaps for row in _weeks(store, pricer, rec, end)]
    finally:
        pricer.close()


def _weeks(store: Store, pricer: Pricer, rec: Any, end: datetime) -> list[dict[str, Any]]:
    action = rec.action
    new = ModelRef.parse(action["to"])
    where = {k: list(v) for k, v in action["where"].items()}
    # Priced back under the name the vendor wrote (a canonical id such as Bedrock's is not always
    # a name the book resolves), and at the old provider when the swap moved the rows.
    old = ModelRef(action.get("from_raw") or action["from"], where["provider"][0] if new.provider else None)
    if new.provider:
        where["provider"] = [*where["provider"], new.provider]
    names = [action["from"], old.model, new.model]
    start = rec.effective_from
    rows = usage_rows(store, Window(start, end), where, extra=lambda t: t.model.isin(names) | t.model_raw.isin(names))
    on_new = pc.or_(pc.equal(rows.column("model"), new.model), pc.equal(rows.column("model_raw"), new.model))
    on_new = pc.fill_null(on_new, False)
    actual = paid(pricer, rows).column("cost_usd") if rows.num_rows else pa.chunked_array([], pa.decimal128(38, 18))
    back = _priced_back(pricer, rows, on_new, old)
    week = [(ps - start).days // 7 for ps in rows.column("period_start").to_pylist()]
    requests = pc.fill_null(rows.column("requests"), 0).to_pylist()
    sums: dict[int, list[Any]] = {}
    for w, req, tgt, a, b in zip(week, requests, on_new.to_pylist(), actual.to_pylist(), back.to_pylist(), strict=True):
        s = sums.setdefault(w, [0, 0, ZERO, ZERO])
        s[0] += req
        s[1] += req if tgt else 0
        if a is not None and b is not None:
            s[2] += a
            s[3] += b
    out = []
    for w in range(max(0, -(-(end - start).days // 7))):
        first = start + timedelta(days=7 * w)
        days = min(7, (end - first).days)
        req, on_target, act, base = sums.get(w, [0, 0, ZERO, ZERO])
        estimated = rec.monthly_savings_usd * days / MONTH_DAYS
        saved = base - act
        out.append({"id": rec.id, "week_start": first.date(), "days": days, "requests": req,
                    "on_target_pct": (Decimal(on_target) * 100 / req).quantize(_PCT) if req else None,
                    "actual_usd": act, "baseline_usd": base, "saved_usd": saved, "estimated_usd": estimated,
                    "saved_vs_estimate_pct": (saved * 100 / estimated).quantize(_PCT) if estimated else None})
    return out


def _priced_back(pricer: Pricer, rows: pa.Table, on_new: Any, old: ModelRef) -> pa.ChunkedArray:
    """Cost of the rows had the swapped ones stayed on the old model."""
    if rows.num_rows == 0:
        return pa.chunked_array([], pa.decimal128(38, 18))
    back = rows
    swapped = {"model_raw": old.model, "model": old.model}
    if old.provider:
        swapped |= {"provider": old.provider, "publisher": old.provider}
    for name, value in swapped.items():
        i = back.schema.get_field_index(name)
        back = back.set_column(i, back.schema.field(i), pc.if_else(on_new, pa.scalar(value, pa.string()),
                                                                   back.column(name)))
    return paid(pricer, back).column("cost_usd")
