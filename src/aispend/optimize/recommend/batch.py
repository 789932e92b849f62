"""Batch API: work that is not latency bound, priced at the batch tier (about half price).

Two kinds of rows qualify, on the standard tier:

* rows of a non-production environment (``batch_environments``), per (provider, model,
  environment, feature);
* production rows of at most one hour that start inside ``off_hours_utc`` (only hourly usage can
  show this; daily rows cannot), per (provider, model, feature).

The saving prices the same rows on the ``batch`` service tier: the book's batch price where
genai-prices lists one (confidence high), else the standard price times
``[pricing] tier_multipliers.batch`` (0.5 by default; confidence medium).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from .. import models
from ..rows import keep, replace, sum_by
from .base import Context, Kind, Recommendation


class BatchAPI(Kind):
    name = "batch"
    summary = "Non-production and off-hours workloads on the standard tier."

    def find(self, ctx: Context) -> list[Recommendation]:
        rows = ctx.usage
        rows = keep(rows, pc.fill_null(pc.equal(rows.column("service_tier"), "standard"), True))  # NULL: standard
        envs = pa.array([e.lower() for e in ctx.config.batch_environments], pa.string())
        env = pc.utf8_lower(pc.fill_null(rows.column("environment"), ""))
        nonprod = keep(rows, pc.is_in(env, value_set=envs))
        start, end = ctx.config.off_hours_utc
        hour = pc.hour(rows.column("period_start"))
        hourly = pc.less_equal(pc.subtract(rows.column("period_end"), rows.column("period_start")),
                               pa.scalar(timedelta(hours=1), pa.duration("us")))
        off = pc.and_(pc.and_(hourly, pc.greater_equal(hour, start)), pc.less(hour, end))
        offhours = keep(rows, pc.and_(pc.fill_null(off, False), pc.invert(pc.is_in(env, value_set=envs))))
        hours = f"{start:02d}:00-{end:02d}:00 UTC"
        return (self._found(ctx, nonprod, ("provider", "model", "environment", "feature"), None)
                + self._found(ctx, offhours, ("provider", "model", "feature"), hours))

    def _found(self, ctx: Context, rows: pa.Table, keys: tuple[str, ...], hours: str | None) -> list[Recommendation]:
        costs = ctx.compare(keys, rows, replace(rows, service_tier="batch"))
        counts = {tuple(g[k] for k in keys): g for g in sum_by(rows, keys, ["requests"], maxes=["period_start"])}
        lookup = {tuple(k): (p, pub, raw) for *k, p, pub, raw in zip(
            *(rows.column(c).to_pylist() for c in (*keys, "provider", "publisher", "model_raw")), strict=True)}
        out = []
        for key, (before, after) in costs.items():
            if before - after <= 0:
                continue
            scope = dict(zip(keys, key, strict=True)) | ({"hours": hours} if hours else {})
            hit = ctx.pricer.book.resolve(*lookup[key])
            last = counts[key]["period_start"]
            listed = bool(hit) and models.has_batch_price(*hit, models.noon(last if isinstance(last, datetime)
                                                                               else datetime.now()))
            where = f"{scope['environment']}" if not hours else f"production, {hours}"
            out.append(Recommendation(
                kind=self.name, scope=scope,
                title=f"Send {scope['feature'] or 'unattributed'} traffic on {scope['model']} ({where}) through the "
                      "batch API",
                evidence={"period": ctx.period, "requests": counts[key]["requests"],
                          "monthly_cost_usd": ctx.monthly(before), "monthly_cost_batch_usd": ctx.monthly(after),
                          "batch_price": "listed by the provider" if listed else "tier_multipliers.batch"},
                monthly_savings_usd=ctx.monthly(before - after),
                assumption=("these requests can wait for a batch result (up to 24 hours); "
                            + ("the provider's listed batch price" if listed else
                               "batch priced at the standard price x [pricing] tier_multipliers.batch")
                            + "; per 30 days of the observed window"),
                confidence="high" if listed and not hours else "medium",
            ))
        return out
