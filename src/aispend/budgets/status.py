"""Where each budget stands: spent so far, where it will end, what is left, when it breaks.

**Spent** is exact ledger money (the counted ledger, scoped, dated by charge period start) from the
period's first day through the end of ``today``. Unpriced rows are not in it; they are counted in
``unpriced_rows``.

**Forecast** = spent + an estimate of the days not observed yet, with an 80% interval:

* month and quarter budgets take the estimate straight from :func:`aispend.analysis.forecast.forecast`
  for the period (weekday pattern, damped trend, interval: docs/forecast.md);
* fiscal-year and custom budgets take the **average daily rate** of that forecast for the month of
  the first day still to estimate (its estimate, and its bounds, divided by its estimated days) and
  apply it to every day left in the period. The interval is the month's scaled by the same factor:
  as if the month's error persisted every later day, which is wider than independent days would
  give, on purpose: over months a level that has moved, not daily noise, makes the miss.

A scope the forecast cannot filter on (``tags.KEY``, ``(unattributed)``) forecasts the part it can
and scales the estimate by the scope's share of that part's spend over the 28 days before the first
estimated day.

**Breach date**: the day the spend crossed the amount; else, if the forecast reaches it, the day it
is projected to, spending the estimate's average daily rate from the first estimated day on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from ..analysis.forecast import INTERVAL, forecast
from ..config import BudgetSettings, Settings
from ..errors import AispendError, ConfigError
from ..store import Store
from .periods import Period, budget_period
from .scope import Scope, daily_spend, forecast_where, normalize, unpriced_rows

_DAY = timedelta(days=1)
_CENT = Decimal("0.01")
SHARE_DAYS = 28


class BudgetError(AispendError):
    pass


@dataclass(frozen=True)
class BudgetStatus:
    """One budget in its current period. Money is USD (``amount`` is also given as configured)."""

    name: str
    scope: Scope
    period: Period
    as_of: date  # spend counted through the end of this day
    currency: str
    amount: Decimal  # in ``currency``
    fx_rate: Decimal | None  # USD per unit of ``currency`` (None for USD)
    amount_usd: Decimal
    spent_usd: Decimal
    forecast_usd: Decimal
    forecast_lower_usd: Decimal
    forecast_upper_usd: Decimal
    method: str  # complete, or the forecast's method (+daily-rate for fiscal/custom, +share for tag scopes)
    estimated_days: int  # days of the period still estimated
    breach_date: date | None
    breach_projected: bool  # breach_date is a projection, not yet spent
    thresholds: list[int]
    forecast_thresholds: list[int]
    unpriced_rows: int
    channels: list[str] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)
    interval: float = INTERVAL

    @property
    def remaining_usd(self) -> Decimal:
        return self.amount_usd - self.spent_usd

    @property
    def used_pct(self) -> Decimal:
        return (self.spent_usd * 100 / self.amount_usd).quantize(_CENT, ROUND_HALF_EVEN)

    @property
    def forecast_pct(self) -> Decimal:
        return (self.forecast_usd * 100 / self.amount_usd).quantize(_CENT, ROUND_HALF_EVEN)

    @property
    def breached(self) -> list[int]:
        """Actual-spend thresholds crossed (percents of the amount, compared exactly)."""
        return [p for p in self.thresholds if self.spent_usd * 100 >= self.amount_usd * p]

    @property
    def forecast_breached(self) -> list[int]:
        return [p for p in self.forecast_thresholds if self.forecast_usd * 100 >= self.amount_usd * p]

    def as_dict(self) -> dict[str, Any]:
        """Plain values (money as Decimal, days as date): render JSON with aispend.output for exact digits."""
        return {"name": self.name, "scope": self.scope, "period": self.period.kind, "period_label": self.period.label,
                "start": self.period.start, "end": self.period.end, "as_of": self.as_of, "currency": self.currency,
                "amount": self.amount, "fx_rate": self.fx_rate, "amount_usd": self.amount_usd,
                "spent_usd": self.spent_usd, "remaining_usd": self.remaining_usd, "used_pct": self.used_pct,
                "forecast_usd": self.forecast_usd, "forecast_lower_usd": self.forecast_lower_usd,
                "forecast_upper_usd": self.forecast_upper_usd, "forecast_pct": self.forecast_pct,
                "interval": self.interval, "method": self.method, "estimated_days": self.estimated_days,
                "breach_date": self.breach_date, "breach_projected": self.breach_projected,
                "breached_thresholds": self.breached, "forecast_breached_thresholds": self.forecast_breached,
                "thresholds": self.thresholds, "forecast_thresholds": self.forecast_thresholds,
                "unpriced_rows": self.unpriced_rows, "channels": self.channels, "owners": self.owners}


def budget_status(store: Store, settings: Settings, today: date | None = None) -> list[BudgetStatus]:
    """Every ``[[budgets]]`` entry in the period containing ``today`` (default: today, UTC), in file order."""
    today = today or datetime.now(UTC).date()
    check_budgets(settings)
    return [one_budget(store, settings, b, today) for b in settings.budgets]


def check_budgets(settings: Settings) -> None:
    """Unique names, known channels: what the settings model alone cannot see."""
    names = [b.name for b in settings.budgets]
    if dup := sorted({n for n in names if names.count(n) > 1}):
        raise ConfigError(f"[[budgets]] names must be unique: {', '.join(dup)}")
    channels = {c.name for c in settings.alerts.channels}
    for b in settings.budgets:
        if unknown := [c for c in b.channels if c not in channels]:
            raise ConfigError(f"budget {b.name}: unknown channel(s) {', '.join(unknown)}; define them as "
                              "[[alerts.channels]] with that name")


def one_budget(store: Store, settings: Settings, budget: BudgetSettings, today: date) -> BudgetStatus:
    period = budget_period(budget, today)
    scope = normalize(budget.scope)
    rate = usd_rate(store, settings, budget, today)
    amount_usd = budget.amount * rate if rate is not None else budget.amount
    known = min(today + _DAY, period.end)  # spend dated before this is spent
    daily = daily_spend(store, scope, period.start, known)
    spent = sum(daily.values(), Decimal(0))
    est = _estimate(store, scope, period, today)
    forecast_usd = spent + est.mean
    breach, projected = _breach(daily, spent, amount_usd, est, forecast_usd)
    return BudgetStatus(
        budget.name, scope, period, today, budget.currency, budget.amount, rate, amount_usd, spent, forecast_usd,
        spent + est.lower, spent + est.upper, est.method, est.days, breach, projected, budget.thresholds,
        budget.forecast, unpriced_rows(store, scope, period.start, known), list(budget.channels),
        list(budget.owners))


def usd_rate(store: Store, settings: Settings, budget: BudgetSettings, today: date) -> Decimal | None:
    """USD per unit of the budget's currency: the ledger's latest rate on or before ``today``, else
    ``[pricing.fx]``; a currency with neither is refused rather than guessed."""
    if budget.currency == "USD":
        return None
    rows = store.query("SELECT usd_rate FROM fx_rates WHERE currency = ? AND day <= ? ORDER BY day DESC LIMIT 1",
                       [budget.currency, today])
    if rows:
        return rows[0][0]
    if budget.currency in settings.pricing.fx:
        return settings.pricing.fx[budget.currency]
    raise BudgetError(f"budget {budget.name}: its amount is in {budget.currency} but the ledger has no "
                      f"{budget.currency} rate on or before {today} and [pricing.fx] has none: run "
                      f"`aispend fx import RATES.csv`, or give the amount in USD")


@dataclass(frozen=True)
class _Estimate:
    mean: Decimal = Decimal(0)
    lower: Decimal = Decimal(0)
    upper: Decimal = Decimal(0)
    method: str = "complete"
    days: int = 0  # days estimated
    first: date | None = None  # the first day estimated

    def scaled(self, factor: Decimal, days: int, first: date, suffix: str) -> _Estimate:
        def q(v: Decimal) -> Decimal:
            return (v * factor).quantize(_CENT, ROUND_HALF_EVEN)

        return _Estimate(q(self.mean), q(self.lower), q(self.upper), self.method + suffix, days, first)


def _estimate(store: Store, scope: Scope, period: Period, today: date) -> _Estimate:
    as_of = today + _DAY
    if as_of >= period.end:
        return _Estimate()
    where, whole = forecast_where(scope)
    native = period.kind in ("month", "quarter")
    first_day = max(as_of, period.start)  # the forecast of the month (or quarter) it falls in
    f = forecast(store, period=period.kind if native else "month", month=first_day.strftime("%Y-%m"),
                 as_of=as_of, where=where)[0]
    first = max(f.observed_until, period.start)
    days = (period.end - first).days
    factor, suffix = Decimal(1), ""
    if not native:  # fiscal year, custom range: the month's average daily rate over every day left
        factor = Decimal(days) / Decimal(f.remaining_days) if f.remaining_days else Decimal(0)
        suffix = "+daily-rate"
    if not whole:
        factor *= _share(store, scope, where, first)
        suffix += "+share"
    est = _Estimate(f.forecast - f.actual, f.lower - f.actual, f.upper - f.actual, f.method)
    return est.scaled(factor, days, first, suffix)


def _share(store: Store, scope: Scope, where: dict[str, list[str]], before: date) -> Decimal:
    """The scope's part of the forecast scope's spend over the SHARE_DAYS days before ``before``."""
    start = before - timedelta(days=SHARE_DAYS)
    part = sum(daily_spend(store, scope, start, before).values(), Decimal(0))
    whole = sum(daily_spend(store, where, start, before).values(), Decimal(0))
    return part / whole if whole > 0 and part > 0 else Decimal(0)


def _breach(daily: dict[date, Decimal], spent: Decimal, amount: Decimal, est: _Estimate,
            forecast_usd: Decimal) -> tuple[date | None, bool]:
    if spent >= amount:
        running = Decimal(0)
        for day, cost in daily.items():
            running += cost
            if running >= amount:
                return day, False
    if forecast_usd < amount or not est.days or est.mean <= 0 or est.first is None:
        return None, False
    per_day = est.mean / est.days
    needed = math.ceil((amount - spent) / per_day) if amount > spent else 1
    return est.first + timedelta(days=min(max(needed, 1), est.days) - 1), True
