"""Recommendations: one module per kind, each behind :class:`~.base.Kind`; found, ranked, stored.

Every module of this package that defines a ``Kind`` subclass is a kind (see ``base``). ``find_all``
runs them over one observed window and ranks what they find by estimated monthly savings;
``aispend.optimize.decisions`` keeps each recommendation's status, so a dismissed one stays
dismissed and an accepted one keeps the estimate it was accepted on.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from ...config import Settings
from ...errors import AispendError
from ...store import Store
from .base import Context, Kind, Recommendation

__all__ = ["Context", "Findings", "Kind", "Recommendation", "find_all", "kinds", "recommend"]
STATUS_FILTERS = ("open", "accepted", "dismissed", "all")


def kinds() -> dict[str, type[Kind]]:
    """Every kind, by name: importing the package's modules registers them."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return dict(sorted(Kind.registry.items()))


@dataclass
class Findings:
    period: str  # the observed window, "YYYY-MM-DD to YYYY-MM-DD"
    recommendations: list[Recommendation] = field(default_factory=list)  # biggest savings first
    notes: list[str] = field(default_factory=list)  # kinds that could not look, and why


def find_all(ctx: Context, only: list[str] | None = None) -> Findings:
    """Run every kind (or the ``only`` ones) over ``ctx`` and rank the findings."""
    found = Findings(ctx.period)
    for name, kind_cls in kinds().items():
        if only and name not in only:
            continue
        kind = kind_cls()
        why = kind.unavailable(ctx)
        if why:
            found.notes.append(f"{name}: {why}")
            continue
        found.recommendations += kind.find(ctx)
    found.recommendations.sort(key=lambda r: (-r.monthly_savings_usd, r.kind, r.id))
    return found


def recommend(store: Store, settings: Settings, min_savings: Decimal = Decimal(0), status: str = "open",
              days: int | None = None, now: datetime | None = None) -> Findings:
    """Find, store and list: the current open findings, or the stored accepted/dismissed ones.

    Findings are stored (``decisions.record``) on every run, so ids are stable and a dismissal
    sticks; ``status="all"`` lists the open findings and every decided recommendation.
    """
    from ..decisions import record, stored

    if status not in STATUS_FILTERS:
        raise AispendError(f"--status {status!r}: choose {', '.join(STATUS_FILTERS)}")
    ctx = Context.build(store, settings, days)
    try:
        found = find_all(ctx)
    finally:
        ctx.close()
    record(store, found.recommendations, now)
    shown = [r for r in found.recommendations if r.status == "open"] if status in ("open", "all") else []
    for decided in ("accepted", "dismissed"):
        if status in (decided, "all"):
            shown += stored(store, decided)
    found.recommendations = sorted((r for r in shown if r.monthly_savings_usd >= min_savings),
                                   key=lambda r: (-r.monthly_savings_usd, r.kind, r.id))
    return found
