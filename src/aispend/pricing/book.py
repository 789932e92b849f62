"""The price book: genai-prices flattened into a table the pricer joins against.

genai-prices answers "what does one call cost"; a ledger holds millions of aggregated rows. So the
book is unrolled once into rows of

    (book_provider, model_id, service_tier, valid_from, valid_to, tier_lo, tier_hi, prices per token)

and rows are priced by a join. Every price row is produced by asking genai-prices itself
(``ModelInfo.get_prices``) at the start of each price period, so dated prices, variants and tiers
follow its semantics rather than a re-implementation of them.

Two approximations, both documented in docs/pricing.md:

* time-of-day prices (peak/off-peak) are evaluated at 12:00 UTC: the peak price for a model whose
  peak window covers noon (deepseek-chat, deepseek-reasoner), the off-peak one otherwise
  (deepseek-flash and deepseek-v4-*, whose peak windows are 01:00-04:00 and 06:00-10:00 UTC);
* a long-context tier is chosen by input tokens per request (``input_tokens / requests``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import cache
from typing import Any

import pyarrow as pa
from genai_prices import data_snapshot
from genai_prices import types as gp

from ..config import PricingConfig
from ..schema import MONEY_ARROW, SERVICE_TIERS
from ..vendors import book_provider

# Book price keys the ledger's columns can feed, and their per-unit divisor.
PRICE_KEYS: dict[str, tuple[str, int]] = {
    "input_mtok": ("input_ppt", 1_000_000),
    "output_mtok": ("output_ppt", 1_000_000),
    "cache_read_mtok": ("cache_read_ppt", 1_000_000),
    "cache_write_mtok": ("cache_write_ppt", 1_000_000),
    "output_reasoning_mtok": ("reasoning_ppt", 1_000_000),
    "requests_kcount": ("request_pp", 1_000),
}
PRICE_COLUMNS = tuple(col for col, _ in PRICE_KEYS.values())

# How a ledger service tier is asked of genai-prices' price variants.
_TIER_CONTEXT: dict[str, dict[str, str] | None] = {
    "standard": None,
    "batch": {"processing": "batch"},
    "priority": {"service_tier": "priority"},
    "flex": {"service_tier": "flex"},
}

_EPOCH = date(1970, 1, 1)

PRICE_TABLE_SCHEMA = pa.schema(
    [
        ("book_provider", pa.string()),
        ("model_id", pa.string()),
        ("service_tier", pa.string()),
        ("valid_from", pa.timestamp("us")),
        ("valid_to", pa.timestamp("us")),
        ("tier_lo", pa.int64()),
        ("tier_hi", pa.int64()),
        *[(c, MONEY_ARROW) for c in PRICE_COLUMNS],
    ]
)

OVERRIDE_TABLE_SCHEMA = pa.schema(
    [
        ("provider", pa.string()),
        ("model", pa.string()),
        ("service_tier", pa.string()),
        ("valid_from", pa.timestamp("us")),
        ("valid_to", pa.timestamp("us")),
        *[(c, MONEY_ARROW) for c in PRICE_COLUMNS],
    ]
)


def _providers() -> list[gp.Provider]:
    return data_snapshot.get_snapshot().providers


def _start_dates(model: gp.ModelInfo) -> list[date]:
    dates: set[date] = set()
    constraints: list[Any] = []
    if not isinstance(model.prices, gp.ModelPrice):
        constraints += [c.constraint for c in model.prices]
    constraints += [v.constraint for v in model.price_variants or ()]
    for c in constraints:
        if isinstance(c, gp.StartDateConstraint):
            dates.add(c.start_date)
    return sorted(dates)


def _has_variant(model: gp.ModelInfo, context: dict[str, str], at: datetime) -> bool:
    """Whether genai-prices has a price variant for ``context`` in force at ``at``.

    A variant that starts later does not price the tier before it starts: until then the tier
    falls back to the configured multiplier, like a model without a variant.
    """
    return any(
        v.when == context and (v.constraint is None or v.constraint.active(at)) for v in model.price_variants or ()
    )


def _tier_edges(price: gp.ModelPrice) -> list[int]:
    edges: set[int] = set()
    for key in PRICE_KEYS:
        value = getattr(price, key, None)
        if isinstance(value, gp.TieredPrices):
            edges.update(t.start for t in value.tiers)
    return sorted(edges)


def _price_at(value: Decimal | gp.TieredPrices | None, tokens_per_request: int) -> Decimal | None:
    """genai-prices' cliff rule: a tier applies when input tokens exceed its start."""
    if value is None or isinstance(value, Decimal):
        return value
    applicable = value.base
    for tier in value.tiers:
        if tokens_per_request > tier.start:
            applicable = tier.price
    return applicable


_SCALE = Decimal(1).scaleb(-18)


def _per_unit(value: Decimal | None, divisor: int, multiplier: Decimal) -> Decimal | None:
    """USD per token (or request), at the ledger's money scale."""
    return None if value is None else (value * multiplier / divisor).quantize(_SCALE)


def _to_ts(d: date | None) -> datetime | None:
    return None if d is None else datetime.combine(d, time())


@dataclass
class PriceBook:
    """The book as Arrow tables, plus the (provider, model) resolver."""

    config: PricingConfig = field(default_factory=PricingConfig)
    _resolved: dict[tuple[str | None, str | None, str], tuple[str, str] | None] = field(default_factory=dict)

    def prices(self) -> pa.Table:
        return _book_table(tuple(sorted((k, str(v)) for k, v in self.config.tier_multipliers.items())))

    def overrides(self) -> pa.Table:
        rows: list[dict[str, Any]] = []
        for o in self.config.overrides:
            canonical = self.resolve(o.provider, None, o.model)
            model = canonical[1] if canonical else o.model
            for tier in [o.service_tier] if o.service_tier else SERVICE_TIERS:
                row: dict[str, Any] = {
                    "provider": o.provider,
                    "model": model,
                    "service_tier": tier,
                    "valid_from": _to_ts(date.fromisoformat(o.start)) if o.start else None,
                    "valid_to": _to_ts(date.fromisoformat(o.end)) if o.end else None,
                }
                for key, (col, divisor) in PRICE_KEYS.items():
                    row[col] = _per_unit(getattr(o, key, None), divisor, Decimal(1))
                rows.append(row)
        return pa.Table.from_pylist(rows, schema=OVERRIDE_TABLE_SCHEMA)

    def discounts(self) -> pa.Table:
        rows = [{"provider": p, "multiplier": (Decimal(100) - pct) / 100} for p, pct in self.config.discounts.items()]
        return pa.Table.from_pylist(rows, schema=pa.schema([("provider", pa.string()), ("multiplier", MONEY_ARROW)]))

    def fx(self) -> pa.Table:
        rows = [{"currency": "USD", "usd_rate": Decimal(1)}]
        rows += [{"currency": c.upper(), "usd_rate": r} for c, r in self.config.fx.items() if c.upper() != "USD"]
        return pa.Table.from_pylist(rows, schema=pa.schema([("currency", pa.string()), ("usd_rate", MONEY_ARROW)]))

    def resolve(self, provider: str | None, publisher: str | None, model_raw: str | None) -> tuple[str, str] | None:
        """(book provider, canonical model id) for a ledger row's biller and model, or None.

        The biller's own prices come first; then the publisher's (a reseller's list price is the
        maker's); never a guess across unrelated providers.
        """
        if not model_raw:
            return None
        key = (provider, publisher, model_raw)
        if key not in self._resolved:
            self._resolved[key] = _resolve(provider, publisher, model_raw)
        return self._resolved[key]

    def model_map(self, pairs: list[tuple[str | None, str | None, str | None]]) -> pa.Table:
        rows = []
        for provider, publisher, model_raw in pairs:
            hit = self.resolve(provider, publisher, model_raw)
            if hit:
                rows.append(
                    {"provider": provider, "publisher": publisher, "model_raw": model_raw,
                     "book_provider": hit[0], "model_id": hit[1]}
                )
        schema = pa.schema([(n, pa.string()) for n in ("provider", "publisher", "model_raw", "book_provider", "model_id")])
        return pa.Table.from_pylist(rows, schema=schema)


def _resolve(provider: str | None, publisher: str | None, model_raw: str) -> tuple[str, str] | None:
    snapshot = data_snapshot.get_snapshot()
    for candidate in dict.fromkeys(p for p in (provider, publisher) if p):
        try:
            found_provider, model = snapshot.find_provider_model(model_raw, None, book_provider(candidate), None)
        except LookupError:
            continue
        # genai-prices falls back to another provider's models (azure -> openai, anthropic, ...;
        # google -> anthropic) and returns the provider that was asked for. The book's rows are
        # keyed by the provider that lists the model, so name that one.
        owner = next((p for p in snapshot.providers if any(m is model for m in p.models)), found_provider)
        return owner.id, model.id
    return None


@cache
def _book_table(multipliers: tuple[tuple[str, str], ...]) -> pa.Table:
    mult = {k: Decimal(v) for k, v in multipliers}
    rows: list[dict[str, Any]] = []
    for provider in _providers():
        for model in provider.models:
            rows.extend(_model_rows(provider.id, model, mult))
    return pa.Table.from_pylist(rows, schema=PRICE_TABLE_SCHEMA)


def _model_rows(provider_id: str, model: gp.ModelInfo, multipliers: dict[str, Decimal]) -> list[dict[str, Any]]:
    rows = []
    starts = _start_dates(model)
    periods = list(zip([None, *starts], [*starts, None], strict=True))
    for valid_from, valid_to in periods:
        at = datetime.combine(valid_from or _EPOCH, time(12), tzinfo=UTC)
        for tier in SERVICE_TIERS:
            context = _TIER_CONTEXT[tier]
            if context and _has_variant(model, context, at):
                price, multiplier = model.get_prices(at, context), Decimal(1)
            else:
                price, multiplier = model.get_prices(at), multipliers.get(tier, Decimal(1))
            edges = _tier_edges(price)
            for lo, hi in zip([-1, *edges], [*edges, None], strict=True):
                probe = lo + 1
                row: dict[str, Any] = {
                    "book_provider": provider_id,
                    "model_id": model.id,
                    "service_tier": tier,
                    "valid_from": _to_ts(valid_from),
                    "valid_to": _to_ts(valid_to),
                    "tier_lo": lo,
                    "tier_hi": hi,
                }
                for key, (col, divisor) in PRICE_KEYS.items():
                    row[col] = _per_unit(_price_at(getattr(price, key, None), probe), divisor, multiplier)
                if row["input_ppt"] is None and row["output_ppt"] is None:
                    continue  # priced in units the ledger does not carry (audio hours, pages, ...)
                rows.append(row)
    return rows
