"""What genai-prices knows about a model beyond its token prices.

Context windows, the modalities a model is priced for, batch price variants and time-of-day
prices: facts the what-if engine and the recommendations check a swap or a shift against. Every
answer comes from the installed genai-prices snapshot; ``None`` means "not known", never "no".
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal
from functools import cache

from genai_prices import data_snapshot
from genai_prices import types as gp

MODALITIES = ("audio", "image", "video")


@cache
def info(book_provider: str, model_id: str) -> gp.ModelInfo | None:
    """The genai-prices model a resolved ``(book provider, model id)`` names."""
    for provider in data_snapshot.get_snapshot().providers:
        if provider.id == book_provider:
            return next((m for m in provider.models if m.id == model_id), None)
    return None


def context_window(book_provider: str, model_id: str) -> int | None:
    model = info(book_provider, model_id)
    return model.context_window if model else None


def priced_modalities(book_provider: str, model_id: str, at: datetime) -> set[str] | None:
    """The non-text modalities the model has a price for at ``at`` (audio, image, video)."""
    model = info(book_provider, model_id)
    if model is None:
        return None
    price = model.get_prices(at)
    keys = [k for k, v in vars(price).items() if v is not None and not k.startswith("_")]
    return {m for m in MODALITIES if any(m in k for k in keys)}


def has_batch_price(book_provider: str, model_id: str, at: datetime) -> bool:
    """Whether genai-prices lists a batch price for the model in force at ``at``."""
    model = info(book_provider, model_id)
    return model is not None and any(
        v.when == {"processing": "batch"} and (v.constraint is None or v.constraint.active(at))
        for v in model.price_variants or ()
    )


def noon(day: datetime) -> datetime:
    """The instant the price book evaluates a day's prices at (docs/pricing.md)."""
    return datetime.combine(day.date(), time(12), tzinfo=UTC)


def time_of_day_prices(book_provider: str, model_id: str, day: datetime) -> tuple[gp.ModelPrice, list[str]] | None:
    """(the cheapest price of the day, the windows where a dearer one applies) for a model with
    peak/off-peak prices, when the book's noon price is not already the cheapest; else ``None``."""
    model = info(book_provider, model_id)
    if model is None or isinstance(model.prices, gp.ModelPrice):
        return None
    windows = [c.constraint for c in model.prices if isinstance(c.constraint, gp.TimeOfDateConstraint)]
    if not windows:
        return None
    at_noon = model.get_prices(noon(day))
    # Quarter past each hour: every window in the book starts and ends on the hour or half hour.
    candidates = [model.get_prices(noon(day).replace(hour=h, minute=15)) for h in range(24)]
    candidates += [model.get_prices(noon(day).replace(hour=h, minute=45)) for h in range(24)]
    cheapest = min(candidates, key=_weight)
    if _weight(cheapest) >= _weight(at_noon) or not _plain(cheapest):
        return None
    peaks = [f"{w.start_time:%H:%M}-{w.end_time:%H:%M} UTC" for w in windows]
    return cheapest, peaks


def _weight(price: gp.ModelPrice) -> tuple[Decimal, Decimal]:
    # Orders prices of one model: input then output per MTok (the same shape, different levels).
    return (_base(getattr(price, "input_mtok", None)), _base(getattr(price, "output_mtok", None)))


def _base(value: Decimal | gp.TieredPrices | None) -> Decimal:
    if value is None:
        return Decimal(0)
    return value.base if isinstance(value, gp.TieredPrices) else value


def _plain(price: gp.ModelPrice) -> bool:
    """No tiered values: an override (flat per-MTok prices) can carry it."""
    return not any(isinstance(v, gp.TieredPrices) for v in vars(price).values())
