"""What the detectors read: dense daily spend per scope, and the robust statistics they share.

Every series starts from :func:`~aispend.analysis.report.counted_ledger`, so a vendor seen both
as a bill and as a usage report is never counted twice. Spend here means the charge categories
configured (usage by default: a monthly plan fee or credit is not a spike) over rows one day long
or shorter (a monthly line cannot be placed on a day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import ibis
import numpy as np

from ...store import Store
from ..report import counted_ledger
from .model import Scope

MAD_SCALE = 1.4826  # MAD x this estimates the standard deviation of normal noise
ZERO = Decimal(0)


@dataclass
class DailySeries:
    """One scope's spend for every day from its first day in the range to the ledger's last day."""

    scope: Scope
    first: date
    exact: list[Decimal]  # what is reported
    values: np.ndarray  # the same as floats, for statistics only

    def day(self, i: int) -> date:
        return self.first + timedelta(days=i)

    def index(self, day: date) -> int:
        return (day - self.first).days


def ledger_extent(store: Store, categories: list[str]) -> tuple[datetime | None, datetime | None]:
    """The first charge period start of the ledger, and the last one of these charge categories.

    The last is "now" for the detectors: a fee dated ahead (next month's plan) must not make
    every workload look silent until then.
    """
    t = store.table("ledger")
    last = t.period_start.max(where=t.charge_category.isin(categories))
    row = t.aggregate(first=t.period_start.min(), last=last).to_pyarrow().to_pylist()[0]
    return row["first"], row["last"]


def daily_spend(store: Store, dims: list[str], start: datetime, end: datetime,
                categories: list[str]) -> list[DailySeries]:
    """Spend per day and scope value over [start, end); days without rows are zero."""
    t = counted_ledger(store)
    short = t.period_end.isnull() | (t.period_end <= t.period_start + ibis.interval(days=1))
    last_day = (end - timedelta(microseconds=1)).date()
    t = t.filter(t.period_start >= start, t.period_start < end, t.charge_category.isin(categories), short,
                 *[t[d].notnull() for d in dims])
    expr = t.group_by([t.period_start.truncate("D").name("day"), *dims]).aggregate(cost=t.cost_usd.sum())
    by_scope: dict[Scope, dict[date, Decimal]] = {}
    for row in expr.to_pyarrow().to_pylist():
        scope = tuple((d, str(row[d])) for d in dims)
        by_scope.setdefault(scope, {})[row["day"].date()] = row["cost"] or ZERO
    out = []
    for scope, days in sorted(by_scope.items()):
        first = min(days)
        exact = [days.get(first + timedelta(days=i), ZERO) for i in range((last_day - first).days + 1)]
        out.append(DailySeries(scope, first, exact, np.array([float(v) for v in exact])))
    return out


def robust(values: Any) -> tuple[float, float]:
    """(median, MAD scaled to a standard deviation): one wild day moves neither."""
    arr = np.asarray(values, dtype=float)
    median = float(np.median(arr))
    return median, MAD_SCALE * float(np.median(np.abs(arr - median)))


def growth_per_week(values: np.ndarray, i: int, weeks: int) -> float:
    """The log growth per week before day ``i``: Theil-Sen over the medians of the trailing weeks.

    Each week's median holds every weekday once, so weekends do not bend it, and one spike moves
    neither a week's median nor the median of the pairwise slopes. Clipped to [0, doubling a week]:
    the trend only ever raises the bar. A decline needs no help (a falling scope does not spike),
    and a one-off step down (a model migration) read as a decay would project the baseline below
    the new level and make ordinary days look like spikes.
    """
    medians = [float(np.median(values[i - 7 * k: i - 7 * k + 7])) for k in range(1, weeks + 1) if i - 7 * k >= 0]
    if len(medians) < 3 or min(medians) <= 0:
        return 0.0
    logs = np.log(medians)  # logs[k - 1] is k weeks back
    slopes = [(logs[a] - logs[b]) / (b - a) for a in range(len(logs)) for b in range(a + 1, len(logs))]
    return float(np.clip(np.median(slopes), 0.0, np.log(2)))


def weekly_noise(values: np.ndarray, i: int, days: int) -> float | None:
    """How much a day of this scope wanders, in log terms, from the ``days`` before day ``i``.

    Each day is compared with the same weekday a week earlier, so seasonality cancels and a steady
    trend only shifts the ratios (the MAD ignores a shift). With ~20 such ratios this is far
    steadier than the spread of the 4 same-weekday days themselves. The ratio of two noisy days
    wanders sqrt(2) times as much as one day: divided out. None with fewer than 7 usable ratios.
    """
    window = values[max(0, i - days): i]
    now, before = window[7:], window[:-7]
    usable = (now > 0) & (before > 0)
    if usable.sum() < 7:
        return None
    ratios = np.log(now[usable] / before[usable])
    return MAD_SCALE * float(np.median(np.abs(ratios - np.median(ratios)))) / float(np.sqrt(2))
