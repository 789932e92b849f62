"""Idle or duplicate subscriptions: purchases (plans, seats, commitments) without matching usage.

* **Idle**: purchase rows of a provider in the window, and no usage row of that provider at all
  (no tokens, no quantity, no cost). Saving: the purchases, per 30 days. Confidence medium: usage
  a vendor does not export (seats used in an app) does not show in the ledger.
* **Duplicate**: the same plan (provider and SKU, else description) bought under two or more
  accounts or projects in the window. Saving: all but the dearest, per 30 days. Confidence low: one
  plan may not serve every team.
"""

from __future__ import annotations

from typing import Any

from .base import Context, Kind, Recommendation


class Subscriptions(Kind):
    name = "subscription"
    summary = "Purchases with no usage from the provider, and the same plan bought twice."

    def find(self, ctx: Context) -> list[Recommendation]:
        t = ctx.ledger
        bought = t.filter((t.charge_category == "purchase") & t.cost_usd.notnull() & (t.cost_usd > 0))
        bought = bought.mutate(plan=bought.sku.fill_null(bought.description).fill_null("(unnamed plan)"))
        used = t.filter((t.charge_category == "usage") & (
            (t.input_tokens.fill_null(0) + t.output_tokens.fill_null(0) > 0) | (t.quantity.fill_null(0) > 0)
            | (t.cost_usd.fill_null(0) != 0)))
        active = {r["provider"] for r in used.select("provider").distinct().to_pyarrow().to_pylist()}
        per_holder = bought.group_by(["provider", "plan", "account_id", "project"]).aggregate(
            usd=bought.cost_usd.sum(), rows=bought.count()).to_pyarrow().to_pylist()
        idle = [r for r in per_holder if r["provider"] not in active]
        out = [self._idle(ctx, r) for r in idle]
        plans: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in per_holder:
            if r["provider"] in active:
                plans.setdefault((r["provider"], r["plan"]), []).append(r)
        out += [self._duplicate(ctx, key, holders) for key, holders in plans.items() if len(holders) > 1]
        return out

    def _idle(self, ctx: Context, r: dict[str, Any]) -> Recommendation:
        scope = {"provider": r["provider"], "plan": r["plan"], "account_id": r["account_id"], "project": r["project"]}
        return Recommendation(
            kind=self.name, scope=scope,
            title=f"Cancel or downsize idle {r['provider']} plan {r['plan']}: no usage from {r['provider']} in the window",
            evidence={"period": ctx.period, "purchase_rows": r["rows"], "monthly_purchases_usd": ctx.monthly(r["usd"]),
                      "usage_rows": 0},
            monthly_savings_usd=ctx.monthly(r["usd"]),
            assumption="nothing uses the plan: the ledger shows no usage from this provider in the window "
                       "(usage the vendor does not export would not show); per 30 days of the observed window",
            confidence="medium",
        )

    def _duplicate(self, ctx: Context, key: tuple[str, str], holders: list[dict[str, Any]]) -> Recommendation:
        provider, plan = key
        spend = [h["usd"] for h in holders]
        who = sorted(f"{h['account_id'] or '-'}/{h['project'] or '-'}" for h in holders)
        return Recommendation(
            kind=self.name, scope={"provider": provider, "plan": plan, "duplicate": "yes"},
            title=f"{provider} plan {plan} is bought {len(holders)} times ({', '.join(who)}): consolidate",
            evidence={"period": ctx.period, "holders": who, "monthly_purchases_usd": ctx.monthly(sum(spend))},
            monthly_savings_usd=ctx.monthly(sum(spend) - max(spend)),
            assumption="one plan (the dearest) can serve every holder; per 30 days of the observed window",
            confidence="low",
        )
