"""Off-peak pricing, where a provider has it.

genai-prices lists time-of-day prices for DeepSeek only (``deepseek-chat`` and
``deepseek-reasoner``: peak 00:30-16:30 UTC, off-peak half price or less; ``deepseek-flash`` and
``deepseek-v4-*`` have short peak windows). The price book evaluates each day at 12:00 UTC
(docs/pricing.md), so rows of a model whose noon price is the peak one are priced at peak; this
kind prices the same rows at the model's cheapest time of day, through a Pricer whose overrides
carry that off-peak price. Models you override in ``[[pricing.overrides]]`` are skipped: your
price has no time of day. Per (provider, model, environment, feature); confidence is medium for
non-production environments (work that can wait) and low for production.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from ...config import PriceOverride
from .. import models
from ..rows import distinct, keep, sum_by
from .base import Context, Kind, Recommendation

SCOPE = ("provider", "model", "environment", "feature")
_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")


class OffPeak(Kind):
    name = "off-peak"
    summary = "Usage priced at a provider's peak time-of-day price (DeepSeek)."

    def find(self, ctx: Context) -> list[Recommendation]:
        rows = ctx.usage
        if rows.num_rows == 0:
            return []
        last = pc.max(rows.column("period_start")).as_py()
        day = last if isinstance(last, datetime) else datetime.combine(last, datetime.min.time())
        resolved = {k: ctx.pricer.book.resolve(*k) for k in distinct(rows, ("provider", "publisher", "model_raw"))}
        overridden = {(o.provider, o.model) for o in ctx.settings.pricing.overrides}
        offers: dict[tuple[str, str], list[str]] = {}  # (provider, model id) -> peak windows
        overrides = []
        for (provider, _, raw), hit in sorted(resolved.items(), key=str):
            if not hit or (provider, hit[1]) in offers or {(provider, hit[1]), (provider, raw)} & overridden:
                continue
            found = models.time_of_day_prices(*hit, day)
            if found:
                cheapest, offers[(provider, hit[1])] = found
                overrides.append(PriceOverride(provider=provider, model=hit[1],
                                               **{k: getattr(cheapest, k, None) for k in _KEYS}))
        if not offers:
            return []
        priced = {k for k, hit in resolved.items() if hit and (k[0], hit[1]) in offers}
        rows = keep(rows, pa.array([k in priced for k in ctx.keys(rows, ("provider", "publisher", "model_raw"))],
                                   pa.bool_()))
        settings = ctx.settings.model_copy(deep=True)
        settings.pricing.overrides = [*settings.pricing.overrides, *overrides]
        costs = ctx.compare(SCOPE, rows, rows, pricer=ctx.pricer_for(settings))
        requests = {tuple(g[k] for k in SCOPE): g["requests"] for g in sum_by(rows, SCOPE, ["requests"])}
        out = []
        for key, (before, after) in costs.items():
            if before - after <= 0:
                continue
            scope = dict(zip(SCOPE, key, strict=True))
            peaks = offers[(scope["provider"], scope["model"])]
            prod = (scope["environment"] or "").lower() not in {e.lower() for e in ctx.config.batch_environments}
            out.append(Recommendation(
                kind=self.name, scope=scope,
                title=f"Run {scope['feature'] or 'unattributed'} on {scope['model']} ({scope['environment'] or 'no env'}) "
                      f"outside the peak window ({', '.join(peaks)})",
                evidence={"period": ctx.period, "requests": requests[key], "peak_windows": peaks,
                          "monthly_cost_usd": ctx.monthly(before), "monthly_cost_off_peak_usd": ctx.monthly(after)},
                monthly_savings_usd=ctx.monthly(before - after),
                assumption="the work can be scheduled off-peak; the ledger prices a day at its 12:00 UTC price "
                           "(peak for this model), so the saving is peak vs off-peak list price; per 30 days of the "
                           "observed window",
                confidence="low" if prod else "medium",
            ))
        return out
