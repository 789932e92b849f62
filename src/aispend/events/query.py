"""Read events back: recent raw events, and totals from the daily rollup (which outlives pruning)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..errors import AispendError
from ..store import Store
from .schema import EVENT_DIMENSIONS, ROLLUP_KEYS, ROLLUP_MEASURES

LIST_COLUMNS = ["time", "provider", "model", "input_tokens", "output_tokens", "cache_read_tokens", "estimated_cost_usd",
                "status", "customer", "feature", "environment", "service", "event_id"]
SUMMARY_DIMENSIONS = tuple(k for k in ROLLUP_KEYS if k != "day")


class EventsQueryError(AispendError):
    pass


def _check(dims: list[str], allowed: tuple[str, ...], what: str) -> None:
    if unknown := [d for d in dims if d not in allowed]:
        raise EventsQueryError(f"unknown {what} {', '.join(unknown)}; choose from: {', '.join(allowed)}")


def _window(t: Any, column: Any, start: datetime | None, end: datetime | None) -> Any:
    preds = ([column >= start] if start else []) + ([column < end] if end else [])
    return t.filter(preds) if preds else t


def list_events(store: Store, *, limit: int = 50, start: datetime | None = None, end: datetime | None = None,
                where: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """The latest raw events first; ``where`` is DIM -> any of the values."""
    _check(list(where or {}), EVENT_DIMENSIONS, "dimension(s)")
    t = store.table("events")
    t = _window(t, t.time, start, end)
    for key, values in (where or {}).items():
        t = t.filter(t[key].isin(values))
    return t.order_by([t.time.desc(), t.event_id]).limit(limit).select(LIST_COLUMNS).to_pyarrow().to_pylist()


def events_summary(store: Store, by: list[str], *, start: datetime | None = None, end: datetime | None = None,
                   where: dict[str, list[str]] | None = None, daily: bool = False) -> tuple[list[str], list[dict[str, Any]]]:
    """Totals per ``by`` (and per day with ``daily``) from ``events_daily``: the columns and the rows."""
    _check(by, SUMMARY_DIMENSIONS, "dimension(s)")
    _check(list(where or {}), SUMMARY_DIMENSIONS, "dimension(s)")
    t = store.table("events_daily")
    t = _window(t, t.day, start.date() if start else None, end.date() if end else None)
    for key, values in (where or {}).items():
        t = t.filter(t[key].isin(values))
    keys = (["day"] if daily else []) + by
    aggs = {m: t[m].sum() for m in ROLLUP_MEASURES}
    expr = t.group_by(keys).aggregate(**aggs) if keys else t.aggregate(**aggs)
    order = ([expr.day] if daily else []) + [expr.estimated_cost_usd.desc(nulls_first=False), *[expr[k] for k in by]]
    rows = expr.order_by(order).to_pyarrow().to_pylist()
    if not keys and rows and rows[0]["events"] is None:
        rows = []
    return [*keys, *ROLLUP_MEASURES], rows
