"""A budget's period: the calendar month, quarter or fiscal year containing a day, or a fixed range.

Every period is ``[start, end)`` in UTC days, end exclusive like ``--end``. A fiscal year starting
in month M runs from the first of M to the day before the next first of M and is named by the
calendar year it ends in (a year starting 2026-02-01 is FY2027; with M = 1 it is the calendar year).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..config import BudgetSettings


@dataclass(frozen=True)
class Period:
    kind: str  # month | quarter | fiscal_year | custom
    label: str  # 2026-04, 2026-Q2, FY2027, 2026-01-15..2026-04-01
    start: date
    end: date  # exclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def budget_period(budget: BudgetSettings, today: date) -> Period:
    """The period of ``budget`` that contains ``today`` (a custom budget's range, wherever today is)."""
    if budget.period == "custom":
        assert budget.start is not None and budget.end is not None  # the settings model checks it
        return Period("custom", f"{budget.start}..{budget.end}", budget.start, budget.end)
    month = today.replace(day=1)
    if budget.period == "month":
        return Period("month", f"{month:%Y-%m}", month, _add_months(month, 1))
    if budget.period == "quarter":
        q = (today.month - 1) // 3
        start = date(today.year, 3 * q + 1, 1)
        return Period("quarter", f"{today.year}-Q{q + 1}", start, _add_months(start, 3))
    m = budget.fiscal_year_start_month
    start = date(today.year if today.month >= m else today.year - 1, m, 1)
    end = _add_months(start, 12)
    last_year = end.year if end.month > 1 else end.year - 1  # the calendar year of the last day
    return Period("fiscal_year", f"FY{last_year}", start, end)
