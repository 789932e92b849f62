"""Analysis over the ledger: reports and the daily rollup, forecast, reconciliation, data quality,
unit economics; anomaly detection is the ``anomalies`` subpackage.

Every money total starts from :func:`counted_ledger` (each dollar once, tokens once).
"""

from __future__ import annotations

from .doctor import Finding, doctor
from .forecast import ForecastError, ScopeForecast, forecast, forecast_with_total, period_bounds
from .reconcile import ReconcileError, Reconciliation, SignOff, reconcile, sign_off, signoff_history
from .report import Footer, Report, Window, counted_ledger, footer, parse_where, spend_report
from .unit_economics import margin, unit_costs

__all__ = ["Finding", "Footer", "ForecastError", "ReconcileError", "Reconciliation", "Report", "ScopeForecast",
           "SignOff", "Window", "counted_ledger", "doctor", "footer", "forecast", "forecast_with_total", "margin",
           "parse_where", "period_bounds", "reconcile", "sign_off", "signoff_history", "spend_report", "unit_costs"]
