"""The one interface every recommendation kind implements, and what a kind is given.

A kind is a subclass of :class:`Kind` in its own module of this package: a ``name``, a one-line
``summary`` and ``find(ctx) -> list[Recommendation]``. Defining the subclass registers it, and the
package imports every module in it, so adding a kind touches exactly one new file.

A kind measures, it does not guess: each finding rests on the ledger rows of the observed window
(``ctx``), and each dollar figure comes from pricing those rows, changed the way the advice says,
through the ledger's own Pricer (:func:`Context.savings`). What cannot be measured is stated in the
recommendation's ``assumption``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from ...analysis.report import Window
from ...config import OptimizeSettings, Settings
from ...output import exact
from ...pricing import Pricer
from ...store import Store
from ..rows import ZERO, counted, keep, paid, sum_by, usage_rows

CONFIDENCES = ("high", "medium", "low")
MONTH_DAYS = 30  # "monthly" savings are per 30 days


@dataclass
class Recommendation:
    """One thing to change, with the figures it rests on and what it would save per month."""

    kind: str
    scope: dict[str, Any]  # dimension -> value: where the change applies
    title: str  # what to do, one line
    evidence: dict[str, Any]  # the measured figures (exact decimals, counts, dates)
    monthly_savings_usd: Decimal
    assumption: str  # what the estimate assumes that the ledger cannot show
    confidence: str  # high, medium or low
    action: dict[str, Any] | None = None  # machine-readable change (a model swap), for tracking
    status: str = "open"
    reason: str | None = None  # why it was dismissed
    decided_at: datetime | None = None
    effective_from: datetime | None = None  # accepted: the day the change went live

    @property
    def id(self) -> str:
        """Stable across runs: the kind and the scope, never the figures."""
        key = json.dumps([self.kind, sorted((k, str(v)) for k, v in self.scope.items())])
        return f"{self.kind}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def plain(value: Any) -> Any:
    """JSON-ready: decimals as exact strings, dates as ISO text, containers walked."""
    if isinstance(value, Decimal):
        return exact(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


@dataclass
class Context:
    """The observed window and shared, lazily built pieces every kind may use."""

    store: Store
    settings: Settings
    window: Window  # [start, end) UTC: the last ``days`` days of the ledger
    days: int
    _pricers: list[Pricer] = field(default_factory=list, repr=False)

    @classmethod
    def build(cls, store: Store, settings: Settings, days: int | None = None, end: datetime | None = None) -> Context:
        """The window ends after the ledger's last day (or at ``end``) and spans ``days`` days."""
        days = days or settings.optimize.window_days
        if end is None:
            t = counted(store)
            last = t.aggregate(last=t.period_start.max()).to_pyarrow().to_pylist()[0]["last"]
            end = (last or datetime(1970, 1, 1)).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        return cls(store, settings, Window(end - timedelta(days=days), end), days)

    @property
    def config(self) -> OptimizeSettings:
        return self.settings.optimize

    @property
    def period(self) -> str:
        assert self.window.start and self.window.end
        return f"{self.window.start.date()} to {(self.window.end - timedelta(days=1)).date()}"

    @cached_property
    def pricer(self) -> Pricer:
        return self.pricer_for(self.settings)

    def pricer_for(self, settings: Settings) -> Pricer:
        """A pricer on other pricing settings (e.g. extra overrides), closed with the context."""
        from ...pricing import Pricer

        pricer = Pricer.for_store(self.store, settings)
        self._pricers.append(pricer)
        return pricer

    @cached_property
    def usage(self) -> pa.Table:
        """Every row with tokens in the window, ledger-shaped, tokens counted once."""
        return usage_rows(self.store, self.window)

    @cached_property
    def ledger(self) -> Any:
        """The counted ledger over the window (Ibis), for kinds that look past token rows."""
        return counted(self.store, self.window)

    def monthly(self, amount: Decimal) -> Decimal:
        """An amount over the window, per 30 days."""
        return amount * MONTH_DAYS / self.days

    @staticmethod
    def keys(rows: pa.Table, keys: Sequence[str]) -> list[tuple[Any, ...]]:
        return list(zip(*(rows.column(k).to_pylist() for k in keys), strict=True)) if rows.num_rows else []

    @classmethod
    def only(cls, rows: pa.Table, keys: Sequence[str], wanted: set[tuple[Any, ...]]) -> pa.Table:
        """The rows whose ``keys`` are one of ``wanted``."""
        return keep(rows, pa.array([k in wanted for k in cls.keys(rows, keys)], pa.bool_())) if rows.num_rows else rows

    def compare(self, keys: Sequence[str], before: pa.Table, after: pa.Table,
                pricer: Pricer | None = None) -> dict[tuple[Any, ...], tuple[Decimal, Decimal]]:
        """Per scope (``keys`` of ``before``): (cost of ``before``, cost of ``after``), where ``after``
        is the same rows changed; ``before`` priced by the ledger's pricer, ``after`` by ``pricer``
        (default the same), both at list less discount. Rows either side cannot price count in neither."""
        if before.num_rows == 0:
            return {}
        cur = paid(self.pricer, before).column("cost_usd")
        new = paid(pricer or self.pricer, after).column("cost_usd")
        both = pc.and_(pc.is_valid(cur), pc.is_valid(new))
        none = pa.scalar(None, cur.type)
        table = pa.table({**{k: before.column(k) for k in keys},
                          "cur": pc.if_else(both, cur, none), "new": pc.if_else(both, new, none)})
        return {tuple(r[k] for k in keys): (r["cur"] or ZERO, r["new"] or ZERO)
                for r in sum_by(table, keys, ["cur", "new"])}

    def close(self) -> None:
        for pricer in self._pricers:
            pricer.close()
        self._pricers.clear()


class Kind:
    """A recommendation kind. Subclass it in a module of this package; that is all it takes."""

    name: ClassVar[str]
    summary: ClassVar[str]
    registry: ClassVar[dict[str, type[Kind]]] = {}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if getattr(cls, "name", None):
            Kind.registry[cls.name] = cls

    def find(self, ctx: Context) -> list[Recommendation]:
        raise NotImplementedError

    def unavailable(self, ctx: Context) -> str | None:
        """Why this kind cannot look at this ledger at all (shown as a note), else ``None``."""
        return None
