"""Prompt caching: large input prompts, sent often, of which little is read from the cache.

Found per (provider, model, feature) over rows whose input per request is at least
``min_cacheable_tokens`` (the shortest prompt providers cache) and whose cache-read share of input
is below ``low_cache_share``. The saving prices the same rows as if ``cache_hit_rate`` of their
input were read from cache, each new cached token written once per ``cache_reads_per_write``
reads (at the model's cache-write price where it has one; OpenAI's writes are free). A model
without a cache-read price saves nothing and is not listed.
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from ..rows import keep, per_request, replace, sum_by
from .base import Context, Kind, Recommendation

SCOPE = ("provider", "model", "feature")
_PCT = Decimal("0.1")

# How the advice reads where the provider caches on its own (a prefix must stay identical).
_AUTOMATIC = {"openai", "azure", "deepseek"}


class PromptCaching(Kind):
    name = "prompt-caching"
    summary = "Large, repeated input prompts with a low cache-read share."

    def find(self, ctx: Context) -> list[Recommendation]:
        cfg = ctx.config
        rows = ctx.usage
        big = pc.fill_null(pc.greater_equal(per_request(rows), cfg.min_cacheable_tokens), False)
        rows = keep(rows, big)
        groups = sum_by(rows, SCOPE, ["requests", "input_tokens", "cache_read_tokens"])
        low = {tuple(g[k] for k in SCOPE): g for g in groups
               if g["input_tokens"] and Decimal(g["cache_read_tokens"] or 0) / g["input_tokens"] < cfg.low_cache_share}
        rows = ctx.only(rows, SCOPE, set(low))
        costs = ctx.compare(SCOPE, rows, cached(rows, cfg.cache_hit_rate, cfg.cache_reads_per_write))
        out = []
        for key, (before, after) in costs.items():
            saved = before - after
            if saved <= 0:
                continue
            g = low[key]
            scope = dict(zip(SCOPE, key, strict=True))
            share = Decimal(g["cache_read_tokens"] or 0) * 100 / g["input_tokens"]
            per_day = Decimal(g["requests"] or 0) / ctx.days
            how = ("put the prompt's fixed part first so the provider's automatic cache can reuse it"
                   if scope["provider"] in _AUTOMATIC else "mark the prompt's fixed prefix for caching (cache_control)")
            out.append(Recommendation(
                kind=self.name, scope=scope,
                title=f"Cache the repeated prompt prefix of {scope['feature'] or 'unattributed usage'} on "
                      f"{scope['model']}: {how}",
                evidence={
                    "period": ctx.period, "requests": g["requests"], "input_tokens": g["input_tokens"],
                    "input_tokens_per_request": g["input_tokens"] // max(g["requests"] or 1, 1),
                    "cache_read_share_pct": share.quantize(_PCT),
                    "monthly_cost_usd": ctx.monthly(before), "monthly_cost_cached_usd": ctx.monthly(after),
                },
                monthly_savings_usd=ctx.monthly(saved),
                assumption=f"{_num(cfg.cache_hit_rate * 100)}% of input tokens read from cache (now "
                           f"{_num(share.quantize(_PCT))}%), each cache write read {cfg.cache_reads_per_write} times "
                           "before it expires; the book's cache prices; per 30 days of the observed window",
                confidence="medium" if per_day >= 1000 and g["input_tokens"] // max(g["requests"] or 1, 1) >= 4096
                else "low",
            ))
        return out


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


def cached(rows: pa.Table, hit_rate: Decimal, reads_per_write: int) -> pa.Table:
    """The rows as if ``hit_rate`` of input were cache reads (never fewer than now), with one cache
    write per ``reads_per_write`` new reads, and reads plus writes never more than the input."""
    num, den = hit_rate.as_integer_ratio()
    inp = pc.fill_null(rows.column("input_tokens"), 0)
    read = pc.fill_null(rows.column("cache_read_tokens"), 0)
    write = pc.fill_null(rows.column("cache_write_tokens"), 0)
    new_read = pc.max_element_wise(read, pc.divide(pc.multiply(inp, num), den))
    new_write = pc.add(write, pc.divide(pc.subtract(new_read, read), reads_per_write))
    new_write = pc.min_element_wise(new_write, pc.subtract(inp, new_read))
    return replace(rows, cache_read_tokens=new_read, cache_write_tokens=new_write)

