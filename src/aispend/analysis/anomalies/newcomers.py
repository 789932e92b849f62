"""Newcomers: a model, an API key (or any configured dimension's value) seen for the first time.

First seen means its earliest charge period in the whole ledger falls in the window. On a ledger
younger than ``min_history_days`` everything is new, so nothing before that age is reported.
The impact is what it has cost since (it was expected to cost nothing); a new API key with a few
cents is still worth a look, so there is no minimum.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from ...config import AnomalySettings
from ...store import Store
from ..report import counted_ledger
from .model import Anomaly, money, new_kind, severity

_LABEL = {"api_key_id": "API key"}


def new_anomalies(store: Store, settings: AnomalySettings, since: datetime, until: datetime,
                  ledger_first: datetime) -> list[Anomaly]:
    cfg = settings.new
    start = max(since, ledger_first + timedelta(days=cfg.min_history_days))
    if start >= until:
        return []
    t = counted_ledger(store)
    out = []
    for dim in cfg.dimensions:
        seen = t.filter(t[dim].notnull())
        firsts = seen.group_by(dim).aggregate(first=seen.period_start.min())
        fresh = firsts.filter(firsts.first >= start, firsts.first < until)
        x = seen.filter(seen.period_start < until)
        x = x.join(fresh, dim)
        rows = x.group_by(dim).aggregate(first=x.first.min(), last=x.period_end.max(), cost=x.cost_usd.sum(),
                                         providers=x.provider.collect(distinct=True))
        for row in rows.order_by(dim).to_pyarrow().to_pylist():
            out.append(_newcomer(dim, row, settings))
    return out


def _newcomer(dim: str, row: dict, settings: AnomalySettings) -> Anomaly:
    value, first = str(row[dim]), row["first"]
    cost = row["cost"] or Decimal(0)
    providers = ", ".join(sorted(p for p in row["providers"] or [] if p))
    at = f" at {providers}" if providers else ""
    label = _LABEL.get(dim, dim.replace("_", " "))
    when = f"{first:%Y-%m-%d %H:%M}" if first.hour or first.minute else f"{first:%Y-%m-%d}"
    return Anomaly(new_kind(dim), ((dim, value),), first, row["last"] or first, "usd_since_first_seen",
                   Decimal(0), cost, cost, severity(cost, settings),
                   f"{label} {value} first seen{at} on {when}; {money(cost)} spent since")
