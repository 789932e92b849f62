"""Requests just over a long-context price tier.

Past a tier edge (Claude Sonnet's 200k input tokens, for one) every token of the request pays the
higher price, input and output alike. Rows whose input per request lies in
``(edge, edge x (1 + long_context_margin)]`` are found per (provider, model, feature), and priced
as if their prompts were trimmed to the edge: the excess comes off the uncached input first, then
off cache reads, then cache writes. Tier edges come from the price book, so every tiered model in
genai-prices is covered.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ...pricing import PriceBook
from ..rows import distinct, keep, per_request, replace, sum_by
from .base import Context, Kind, Recommendation

SCOPE = ("provider", "model", "feature")


class LongContext(Kind):
    name = "long-context"
    summary = "Requests just over a long-context price tier edge."

    def find(self, ctx: Context) -> list[Recommendation]:
        rows = ctx.usage
        models = ("provider", "publisher", "model_raw")
        edges = {k: e for k, hit in ((k, ctx.pricer.book.resolve(*k)) for k in distinct(rows, models))
                 if hit and (e := _book_edges().get(hit))}
        if not edges:
            return []
        margin = ctx.config.long_context_margin
        size = per_request(rows).to_pylist()
        edge_of: list[int | None] = []
        for tpr, key in zip(size, ctx.keys(rows, models), strict=True):
            edge = next((e for e in edges.get(key, ()) if tpr is not None and e < tpr <= e * (1 + margin)), None)
            edge_of.append(edge)
        mask = pa.array([e is not None for e in edge_of], pa.bool_())
        if not pc.any(mask).as_py():
            return []
        over = keep(rows, mask)
        edge = pa.array([e for e in edge_of if e is not None], pa.int64())
        costs = ctx.compare(SCOPE, over, trimmed(over, edge))
        facts = pa.table({**{k: over.column(k) for k in SCOPE}, "requests": over.column("requests"),
                          "input_tokens": over.column("input_tokens"), "edge": edge})
        facts = {tuple(g[k] for k in SCOPE): g for g in sum_by(facts, SCOPE, ["requests", "input_tokens"], maxes=["edge"])}
        out = []
        for key, (before, after) in costs.items():
            if before - after <= 0:
                continue
            g = facts[key]
            scope = dict(zip(SCOPE, key, strict=True))
            avg = g["input_tokens"] // max(g["requests"], 1)
            out.append(Recommendation(
                kind=self.name, scope=scope,
                title=f"Trim {scope['feature'] or 'unattributed'} prompts on {scope['model']} under the "
                      f"{g['edge']:,}-token long-context price edge",
                evidence={"period": ctx.period, "requests": g["requests"], "input_tokens_per_request": avg,
                          "tier_edge_tokens": g["edge"], "excess_tokens_per_request": avg - g["edge"],
                          "monthly_cost_usd": ctx.monthly(before), "monthly_cost_trimmed_usd": ctx.monthly(after)},
                monthly_savings_usd=ctx.monthly(before - after),
                assumption=f"about {avg - g['edge']:,} tokens per request can be cut (older turns, less relevant "
                           "context) without losing quality; a row is a day's average, so calls on both sides of "
                           "the edge make it approximate; per 30 days of the observed window",
                confidence="medium",
            ))
        return out


@cache
def _book_edges() -> dict[tuple[str, str], list[int]]:
    """Each tiered model's edges (input tokens per request), from the flattened book (edges come
    from genai-prices' tiers alone: no setting changes them)."""
    book = PriceBook().prices()
    book = book.filter(pc.greater(book.column("tier_lo"), 0))
    found: dict[tuple[str, str], set[int]] = {}
    for p, m, lo in zip(*(book.column(c).to_pylist() for c in ("book_provider", "model_id", "tier_lo")), strict=True):
        found.setdefault((p, m), set()).add(lo)
    return {k: sorted(v) for k, v in found.items()}


def trimmed(rows: pa.Table, edges: pa.Array) -> pa.Table:
    """The rows with input cut to ``edges`` tokens per request: uncached first, then reads, then writes."""
    cols: list[Any] = [rows.column(c).to_pylist() for c in
                       ("input_tokens", "cache_read_tokens", "cache_write_tokens", "requests")] + [edges.to_pylist()]
    new_in, new_cr, new_cw = [], [], []
    for inp, cr, cw, req, edge in zip(*cols, strict=True):
        cr, cw = cr or 0, cw or 0
        cut = inp - edge * req
        from_plain = min(cut, inp - cr - cw)
        from_read = min(cut - from_plain, cr)
        new_in.append(inp - cut)
        new_cr.append(cr - from_read)
        new_cw.append(cw - (cut - from_plain - from_read))
    return replace(rows, input_tokens=pa.array(new_in, pa.int64()), cache_read_tokens=pa.array(new_cr, pa.int64()),
                   cache_write_tokens=pa.array(new_cw, pa.int64()))

