"""Analysis over the ledger: rollups and reports (anomalies, forecast and the rest come later)."""

from __future__ import annotations

from .report import Footer, Report, Window, counted_ledger, footer, parse_where, spend_report

__all__ = ["Footer", "Report", "Window", "counted_ledger", "footer", "parse_where", "spend_report"]
