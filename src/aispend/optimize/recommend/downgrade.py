"""Model downgrades for scopes you mark low-stakes, priced with the what-if engine.

Only scopes listed in ``[[optimize.low_stakes]]`` are considered: aispend cannot judge quality,
you can. Each entry names ledger dimensions (``feature = "summaries"``) and optionally the model
to move to (``to = "claude-haiku-4-5"``); without ``to``, each model in the scope moves one step
down its family: ``[optimize.downgrades]`` first, then :data:`LADDER`. The saving is the what-if
of that scope's rows (every token column, the tier, each day's price) at the cheaper model;
confidence drops to low when the what-if warns (context window, modality, price fallback).

Accepting one records the swap, so ``aispend recommend track`` can follow the weeks after it.
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow.compute as pc

from ..rows import keep, sum_by
from ..whatif import WhatIfError, whatif
from .base import Context, Kind, Recommendation

# One step down each family, by the price book's canonical ids.
LADDER = {
    "claude-opus-4-6": "claude-sonnet-4-6",
    "claude-opus-4-5": "claude-sonnet-4-5",
    "claude-opus-4-1": "claude-sonnet-4-5",
    "claude-sonnet-4-6": "claude-haiku-4-5",
    "claude-sonnet-4-5": "claude-haiku-4-5",
    "claude-sonnet-4": "claude-haiku-4-5",
    "claude-3-7-sonnet": "claude-3-5-haiku",
    "gpt-5.1": "gpt-5-mini",
    "gpt-5": "gpt-5-mini",
    "gpt-5-mini": "gpt-5-nano",
    "gpt-4.1": "gpt-4.1-mini",
    "gpt-4.1-mini": "gpt-4.1-nano",
    "gpt-4o": "gpt-4o-mini",
    "o3": "o4-mini",
    "gemini-2.5-pro": "gemini-2.5-flash",
    "gemini-2.5-flash": "gemini-2.5-flash-lite",
}
_PCT = Decimal("0.1")


def cheaper(model: str, extra: dict[str, str]) -> str | None:
    """The next model down: exact names first, then the family a vendor id contains (Bedrock's
    ``us.anthropic.claude-sonnet-4-5-...`` is a claude-sonnet-4-5)."""
    ladder = {**LADDER, **extra}
    if model in ladder:
        return ladder[model]
    family = max((k for k in ladder if k in model), key=len, default=None)
    return ladder[family] if family else None


class ModelDowngrade(Kind):
    name = "model-downgrade"
    summary = "A cheaper model for scopes marked low-stakes in [[optimize.low_stakes]]."

    def unavailable(self, ctx: Context) -> str | None:
        if not ctx.config.low_stakes:
            return "no scope is marked low-stakes; add [[optimize.low_stakes]] feature = \"...\" to aispend.toml"
        return None

    def find(self, ctx: Context) -> list[Recommendation]:
        out = []
        for entry in ctx.config.low_stakes:
            dims = {k: v for k, v in entry.items() if k != "to"}
            rows = ctx.usage
            for k, v in dims.items():
                rows = keep(rows, pc.fill_null(pc.equal(rows.column(k), v), False))
            raws = dict(zip(zip(rows.column("provider").to_pylist(), rows.column("model").to_pylist(), strict=True),
                            rows.column("model_raw").to_pylist(), strict=True))
            for g in sum_by(rows, ["provider", "model"], ["requests"]):
                target = entry.get("to") or cheaper(g["model"] or "", ctx.config.downgrades)
                if target and g["model"] and target != g["model"]:
                    rec = self._one(ctx, dims, g["provider"], g["model"], raws[(g["provider"], g["model"])], target)
                    if rec:
                        out.append(rec)
        return out

    def _one(self, ctx: Context, dims: dict[str, str], provider: str, model: str, raw: str,
             target: str) -> Recommendation | None:
        where = {k: [v] for k, v in dims.items()} | {"provider": [provider]}
        try:
            result = whatif(ctx.store, ctx.settings, model, target, ctx.window, where, by=["model"], pricer=ctx.pricer)
        except WhatIfError:
            return None  # the target cannot be priced for this provider: nothing to stand on
        saved = -result.delta_usd
        if saved <= 0:
            return None
        scope = {**dims, "provider": provider, "model": model}
        requests = sum(r["requests"] for r in result.rows)
        return Recommendation(
            kind=self.name, scope=scope,
            title=f"Move {', '.join(f'{k}={v}' for k, v in dims.items())} from {model} to {target} (marked low-stakes)",
            evidence={"period": ctx.period, "requests": requests, "monthly_cost_usd": ctx.monthly(result.current_usd),
                      "monthly_cost_after_usd": ctx.monthly(result.whatif_usd),
                      "delta_pct": (result.delta_usd * 100 / result.current_usd).quantize(_PCT),
                      "warnings": result.warnings},
            monthly_savings_usd=ctx.monthly(saved),
            assumption=f"{target} serves this low-stakes scope well enough (you marked it; aispend cannot judge "
                       "quality); the same tokens per request; per 30 days of the observed window",
            confidence="low" if result.warnings else "medium",
            action={"type": "model-swap", "from": model, "from_raw": raw, "to": target, "where": where},
        )
