"""Budgets: an amount over a scope of the ledger and a period, and where each stands.

``[[budgets]]`` in aispend.toml (:class:`aispend.config.BudgetSettings`) names a scope (any filter
over ledger dimensions and tags), an amount and currency, a period (month, quarter, fiscal year,
custom range) and thresholds. :func:`budget_status` says, per budget, what is spent, where the
period will end (with an interval), what is left and when it breaks; alerts (``aispend.alerts``)
and the dashboard read it. Budgets roll up across vendors: a scope without ``provider`` is all of
them. docs/budgets-alerts.md is the reference.
"""

from __future__ import annotations

from .periods import Period, budget_period
from .scope import daily_spend, normalize, scoped, top_contributors
from .status import BudgetError, BudgetStatus, budget_status, check_budgets

__all__ = ["BudgetError", "BudgetStatus", "Period", "budget_period", "budget_status", "check_budgets",
           "daily_spend", "normalize", "scoped", "top_contributors"]
