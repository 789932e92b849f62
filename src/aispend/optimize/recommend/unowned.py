"""Keys and projects with spend but no owner.

An API key (or, for rows without a key, a project) whose rows in the window cost money and none
of which carries an ``owner``. No saving is estimated: spend nobody owns is spend nobody can
justify or cut, and unowned keys are often leftovers; the evidence gives the monthly spend at
stake. Set an owner with an attribution rule, or revoke the key.
"""

from __future__ import annotations

from typing import Any

from ..rows import ZERO
from .base import Context, Kind, Recommendation


class Unowned(Kind):
    name = "unowned"
    summary = "API keys and projects with spend and no owner."

    def find(self, ctx: Context) -> list[Recommendation]:
        t = ctx.ledger
        t = t.filter(t.cost_usd.notnull() & (t.cost_usd != 0))
        keyed = t.filter(t.api_key_id.notnull())
        projects = t.filter(t.api_key_id.isnull() & t.project.notnull())
        return self._groups(ctx, keyed, "api_key_id") + self._groups(ctx, projects, "project")

    def _groups(self, ctx: Context, t: Any, dim: str) -> list[Recommendation]:
        g = t.group_by(["provider", dim]).aggregate(
            usd=t.cost_usd.sum(), rows=t.count(), owners=t.owner.count(), first=t.period_start.min(),
            last=t.period_start.max(), models=t.model.collect(distinct=True))
        g = g.filter((g.owners == 0) & (g.usd > 0))
        out = []
        for r in g.to_pyarrow().to_pylist():
            scope = {"provider": r["provider"], dim: r[dim]}
            label = "key" if dim == "api_key_id" else "project"
            out.append(Recommendation(
                kind=self.name, scope=scope,
                title=f"Give {r['provider']} {label} {r[dim]} an owner (an attribution rule), or revoke it",
                evidence={"period": ctx.period, "monthly_spend_usd": ctx.monthly(r["usd"]), "rows": r["rows"],
                          "first_day": r["first"], "last_day": r["last"],
                          "models": sorted(m for m in r["models"] or [] if m)},
                monthly_savings_usd=ZERO,
                assumption="no saving is estimated: an owner decides whether this spend is needed",
                confidence="high",
            ))
        return out
