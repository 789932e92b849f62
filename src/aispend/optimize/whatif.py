"""What-if: one model's observed workload, priced at another model's dated prices.

The workload is the ledger's own rows of ``--from`` (every token column: cached reads and writes,
reasoning, requests, the service tier, the day), taken as the totals count them. The same rows
are priced twice through :class:`~aispend.pricing.Pricer`: as they are, and with the model swapped
for ``--to``. So the target's cache and reasoning prices, its long-context tiers, its batch or
priority price and the price in force on each row's day all apply, exactly as they would had the
rows been billed at the target. See :mod:`aispend.optimize.rows` for the cost basis.

A target is a model name (``gpt-4o-mini``: each row keeps its provider) or provider-qualified
(``anthropic/claude-sonnet-4-5``: the rows move to that provider, e.g. from Bedrock to the
first-party API). What the price book cannot say is said as a warning: a target whose context
window is smaller than the workload's requests, modalities the source is priced for and the target
is not, rows charged in units other than tokens, rows the target cannot be priced for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..analysis.report import Window, check_dimensions
from ..config import Settings
from ..errors import AispendError
from ..output import exact
from ..pricing import Pricer
from ..store import Store
from ..vendors import book_provider, canonical_provider
from . import models
from .rows import ALL_TIME, ZERO, counted, distinct, paid, per_request, replace, sum_by, total, usage_rows

COLUMNS = ("rows", "requests", "input_tokens", "output_tokens", "current_usd", "whatif_usd", "delta_usd",
           "delta_pct", "over_context_requests")
_PCT = Decimal("0.1")


class WhatIfError(AispendError):
    pass


@dataclass(frozen=True)
class ModelRef:
    """A model as a user names it: ``gpt-4o-mini``, or ``anthropic/claude-sonnet-4-5`` (provider first)."""

    model: str
    provider: str | None = None

    @classmethod
    def parse(cls, spec: str) -> ModelRef:
        spec = spec.strip()
        head, sep, rest = spec.partition("/")
        provider = canonical_provider(head) if sep else None
        if provider and rest and provider in _providers():
            return cls(rest, provider)
        return cls(spec)

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}" if self.provider else self.model


@cache
def _providers() -> frozenset[str]:
    from genai_prices import data_snapshot

    ids = {canonical_provider(p.id) for p in data_snapshot.get_snapshot().providers}
    return frozenset(i for i in ids if i) | {"aws", "azure", "gcp"}


def swap(rows: pa.Table, target: ModelRef) -> pa.Table:
    """The same rows, as if they had run on ``target`` (a qualified target moves them to its provider)."""
    columns: dict[str, Any] = {"model_raw": target.model, "model": target.model}
    if target.provider:
        columns.update(provider=target.provider, publisher=target.provider)
    return replace(rows, **columns)


def source_rows(store: Store, source: str, window: Window = ALL_TIME,
                where: dict[str, list[str]] | None = None) -> pa.Table:
    """The usage rows of ``source``: its canonical ``model`` or the vendor's ``model_raw``, optionally
    provider-qualified. The whole string is tried first, so ``openrouter``'s ``vendor/model`` ids match."""
    for ref in dict.fromkeys([ModelRef(source.strip()), ModelRef.parse(source)]):
        def match(t: Any, ref: ModelRef = ref) -> Any:
            hit = (t.model == ref.model) | (t.model_raw == ref.model)
            return hit & (t.provider == ref.provider) if ref.provider else hit

        rows = usage_rows(store, window, where, extra=match)
        if rows.num_rows:
            return rows
    seen = counted(store, window, where)
    seen = seen.filter(seen.model.notnull() & (seen.input_tokens.fill_null(0) + seen.output_tokens.fill_null(0) > 0))
    names = sorted({f"{r['provider']}/{r['model']}" for r in seen.select("provider", "model").distinct().to_pyarrow().to_pylist()})
    hint = f"models with usage there: {', '.join(names[:12])}{' ...' if len(names) > 12 else ''}" if names else "no usage there"
    raise WhatIfError(f"--from {source}: no usage of that model in the window and filters given ({hint})")


@dataclass
class WhatIf:
    source: str
    target: str
    columns: list[str]
    rows: list[dict[str, Any]]  # one per scope, the biggest current spend first
    current_usd: Decimal = ZERO
    whatif_usd: Decimal = ZERO
    warnings: list[str] = field(default_factory=list)

    @property
    def delta_usd(self) -> Decimal:
        return self.whatif_usd - self.current_usd


def whatif(store: Store, settings: Settings, source: str, target: str, window: Window = ALL_TIME,
           where: dict[str, list[str]] | None = None, by: list[str] | tuple[str, ...] = ("model",),
           pricer: Pricer | None = None) -> WhatIf:
    """Price ``source``'s workload at ``target`` per scope (``by`` dimensions); see the module docstring."""
    by = list(by) or ["model"]  # a scope is always named
    check_dimensions(by)
    ref = ModelRef.parse(target)
    rows = source_rows(store, source, window, where)
    own = pricer is None
    pricer = pricer or Pricer.for_store(store, settings)
    try:
        before, after = paid(pricer, rows), paid(pricer, swap(rows, ref))
        result = _compare(pricer, source, ref, rows, before, after, by)
    finally:
        if own:
            pricer.close()
    result.warnings += _non_token_rows(store, source, window, where)
    return result


def _compare(pricer: Pricer, source: str, ref: ModelRef, rows: pa.Table, before: pa.Table, after: pa.Table,
             by: list[str]) -> WhatIf:
    cur, new = before.column("cost_usd"), after.column("cost_usd")
    if pc.all(pc.is_null(new)).as_py():
        sellers = sorted({p or "?" for p in after.column("provider").to_pylist()})
        raise WhatIfError(f"--to {ref}: the price book has no price for it as sold by {', '.join(sellers)}; "
                          "name the provider (e.g. anthropic/claude-sonnet-4-5) or add a [[pricing.overrides]] entry")
    both = pc.and_(pc.is_valid(cur), pc.is_valid(new))
    none = pa.scalar(None, cur.type)
    over, ctx = _context_check(pricer, ref, rows)
    scoped = pa.table({
        **{d: rows.column(d) for d in by},
        "rows": pa.array([1] * rows.num_rows, pa.int64()),
        "requests": pc.fill_null(rows.column("requests"), 0),
        "input_tokens": pc.fill_null(rows.column("input_tokens"), 0),
        "output_tokens": pc.fill_null(rows.column("output_tokens"), 0),
        "current_usd": pc.if_else(both, cur, none),
        "whatif_usd": pc.if_else(both, new, none),
        "over_context_requests": over,
    })
    out = sum_by(scoped, by, ["rows", "requests", "input_tokens", "output_tokens", "current_usd", "whatif_usd",
                              "over_context_requests"])
    for r in out:
        r["current_usd"] = r["current_usd"] or ZERO
        r["whatif_usd"] = r["whatif_usd"] or ZERO
        r["delta_usd"] = r["whatif_usd"] - r["current_usd"]
        r["delta_pct"] = (r["delta_usd"] * 100 / r["current_usd"]).quantize(_PCT) if r["current_usd"] else None
    out.sort(key=lambda r: (-r["current_usd"], *[str(r[d]) for d in by]))
    result = WhatIf(source, str(ref), [*by, *COLUMNS], out, total(scoped.column("current_usd")),
                    total(scoped.column("whatif_usd")))
    result.warnings += _price_warnings(pricer, source, ref, rows, cur, new)
    if ctx["over_rows"]:
        result.warnings.append(
            f"{ctx['over_requests']:,} request(s) in {ctx['over_rows']:,} row(s) average more tokens per request "
            f"(up to {ctx['max_tokens']:,}) than {ref}'s context window ({ctx['window']:,} tokens): {ref} cannot "
            "serve them as they are (column over_context_requests)")
    if ctx["unknown_rows"]:
        result.warnings.append(f"{ctx['unknown_rows']:,} row(s) have no request count: their per-request size is "
                               "unknown, so the context-window check could not be made for them")
    return result


_MODEL_KEYS = ("provider", "publisher", "model_raw")


def _resolved(pricer: Pricer, rows: pa.Table) -> dict[tuple[Any, ...], tuple[str, str] | None]:
    """The (book provider, model id) each distinct (provider, publisher, model_raw) resolves to."""
    return {k: pricer.book.resolve(*k) for k in distinct(rows, _MODEL_KEYS)}


def _context_check(pricer: Pricer, ref: ModelRef, rows: pa.Table) -> tuple[pa.Array, dict[str, Any]]:
    """Requests per row that exceed the target's context window (input + output tokens per request;
    a row is an average, so a row under the window may still hold calls over it)."""
    swapped = swap(rows, ref)
    size_of = {k: models.context_window(*hit) if hit else None for k, hit in _resolved(pricer, swapped).items()}
    windows = [size_of[k] for k in zip(*(swapped.column(c).to_pylist() for c in _MODEL_KEYS), strict=True)]
    window = pa.array(windows, pa.int64())
    tokens = pc.add(pc.fill_null(rows.column("input_tokens"), 0), pc.fill_null(rows.column("output_tokens"), 0))
    size = per_request(rows, tokens)
    over = pc.fill_null(pc.greater(size, window), False)
    requests = pc.fill_null(rows.column("requests"), 0)
    over_requests = pc.if_else(over, requests, 0)
    summary = {
        "over_rows": pc.sum(over.cast(pa.int64())).as_py() or 0,
        "over_requests": pc.sum(over_requests).as_py() or 0,
        "max_tokens": pc.max(pc.if_else(over, size, pa.scalar(None, pa.int64()))).as_py(),
        "window": min((w for w in windows if w), default=None),
        "unknown_rows": pc.sum(pc.is_null(size).cast(pa.int64())).as_py() or 0,
    }
    return over_requests, summary


def _price_warnings(pricer: Pricer, source: str, ref: ModelRef, rows: pa.Table, cur: Any, new: Any) -> list[str]:
    out = []
    unpriced = pc.sum(pc.is_null(cur).cast(pa.int64())).as_py() or 0
    if unpriced:
        out.append(f"{unpriced:,} row(s) of {source} are unpriced (model not in the price book): "
                   "left out of both totals; add a [[pricing.overrides]] entry")
    lost = pc.and_(pc.is_valid(cur), pc.is_null(new))
    if pc.any(lost).as_py():
        sellers = sorted({p or "?" for p in pc.filter(rows.column("provider"), lost).to_pylist()})
        out.append(f"{pc.sum(lost.cast(pa.int64())).as_py():,} row(s) sold by {', '.join(sellers)} cannot be priced "
                   f"at {ref} (the price book does not know it there): left out of both totals; name the provider "
                   "(PROVIDER/MODEL)")
    swapped = swap(rows, ref)
    for provider, publisher in sorted(distinct(swapped, ("provider", "publisher")), key=str):
        hit = pricer.book.resolve(provider, publisher, ref.model)
        if hit and provider and hit[0] != book_provider(provider):
            out.append(f"{provider} has no list price for {ref.model} under that name: its rows are priced at "
                       f"{hit[0]}'s list; name the vendor's own model id ({provider}/MODEL_ID) for its price")
    day = pc.max(rows.column("period_start")).as_py()
    at = models.noon(day if isinstance(day, datetime) else datetime.combine(day, datetime.min.time()))
    src = {hit for hit in _resolved(pricer, rows).values() if hit}
    tgt = {hit for hit in _resolved(pricer, swapped).values() if hit}
    have = set().union(*(models.priced_modalities(*h, at) or set() for h in tgt)) if tgt else set()
    for hit in sorted(src):
        missing = sorted((models.priced_modalities(*hit, at) or set()) - have)
        if missing and tgt:
            out.append(f"{hit[1]} is priced for {' and '.join(missing)} input or output and {ref} is not: if this "
                       f"workload sends {' or '.join(missing)}, {ref} may not serve it (the ledger does not split "
                       "tokens by modality)")
    return out


def _non_token_rows(store: Store, source: str, window: Window, where: dict[str, list[str]] | None) -> list[str]:
    """Charges of the source model in units other than tokens (images, audio minutes, ...): not re-priced."""
    ref = ModelRef.parse(source)
    t = counted(store, window, where)
    hit = (t.model == ref.model) | (t.model_raw == ref.model) | (t.model == source) | (t.model_raw == source)
    t = t.filter(hit & (t.input_tokens.fill_null(0) + t.output_tokens.fill_null(0) == 0) & (t.cost_usd != 0))
    groups = t.group_by("unit").aggregate(rows=t.count(), usd=t.cost_usd.sum()).to_pyarrow().to_pylist()
    return [f"{g['rows']:,} row(s) of {source} are charged in {g['unit'] or 'an unnamed unit'} (not tokens), "
            f"{exact(g['usd'] or ZERO)} USD: not re-priced; check that the target serves that modality" for g in groups]
