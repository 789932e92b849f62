"""`aispend budgets status`: each budget's spend, forecast, remaining and breach date."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..budgets import BudgetStatus, budget_status
from ..errors import ConfigError
from .common import FormatOpt, OutFormat, _date, _emit, _settings, _store, app

budgets_app = typer.Typer(help="Budgets: the [[budgets]] of aispend.toml and where each stands "
                          "(docs/budgets-alerts.md).", no_args_is_help=True)
app.add_typer(budgets_app, name="budgets")

TABLE_COLUMNS = ["budget", "period", "spent_usd", "budget_usd", "used_pct", "forecast_usd", "interval_80%",
                 "forecast_pct", "remaining_usd", "breach_date", "thresholds_hit"]
DATA_COLUMNS = ["name", "scope", "period", "period_label", "start", "end", "as_of", "currency", "amount", "fx_rate",
                "amount_usd", "spent_usd", "remaining_usd", "used_pct", "forecast_usd", "forecast_lower_usd",
                "forecast_upper_usd", "forecast_pct", "interval", "method", "estimated_days", "breach_date",
                "breach_projected", "breached_thresholds", "forecast_breached_thresholds", "unpriced_rows",
                "channels", "owners"]


@budgets_app.command("status")
def status_cmd(
    today: Annotated[str | None, typer.Option("--today", metavar="DATE",
                                              help="Judge as of the end of this day, YYYY-MM-DD UTC (default today).")] = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Per budget: spent so far in its period (through the end of --today), the period-end forecast
    with its 80% interval, what is left, % used, and the day the budget broke or is projected to.

    Month and quarter budgets use `aispend forecast`'s model; fiscal-year and custom budgets apply
    its average daily rate to every day left. Money in JSON and CSV is exact decimal strings; the
    scope is an object in JSON, `key=a|b,...` in CSV. Configure budgets as [[budgets]] in
    aispend.toml (docs/budgets-alerts.md).
    """
    settings = _settings()
    if not settings.budgets:
        raise ConfigError("no budgets configured: add a [[budgets]] table to aispend.toml "
                          "(docs/budgets-alerts.md has examples)")
    with _store(settings) as store:
        statuses = budget_status(store, settings, _date(today, "--today"))
    if fmt is OutFormat.table:
        notes = [f"{s.name}: {s.unpriced_rows:,} unpriced row(s) in scope: their cost is not in these figures"
                 for s in statuses if s.unpriced_rows]
        _emit([_table_row(s) for s in statuses], TABLE_COLUMNS, fmt,
              title=f"Budgets as of the end of {statuses[0].as_of}", footer=notes)
        return
    _emit([_data_row(s, fmt) for s in statuses], DATA_COLUMNS, fmt)


def _table_row(s: BudgetStatus) -> dict[str, Any]:
    interval = ("-" if s.forecast_lower_usd == s.forecast_upper_usd
                else f"{s.forecast_lower_usd:,.2f} to {s.forecast_upper_usd:,.2f}")
    hits = [f"{p}%" for p in s.breached] + [f"forecast {p}%" for p in s.forecast_breached]
    breach = "-" if s.breach_date is None else f"{s.breach_date}" + (" (projected)" if s.breach_projected else "")
    return {"budget": s.name, "period": s.period.label, "spent_usd": s.spent_usd, "budget_usd": s.amount_usd,
            "used_pct": s.used_pct, "forecast_usd": s.forecast_usd, "interval_80%": interval,
            "forecast_pct": s.forecast_pct, "remaining_usd": s.remaining_usd, "breach_date": breach,
            "thresholds_hit": ", ".join(hits) or "-"}


def _data_row(s: BudgetStatus, fmt: OutFormat) -> dict[str, Any]:
    d = s.as_dict()
    if fmt is OutFormat.csv:  # one cell each
        d["scope"] = ",".join(f"{k}={'|'.join(v)}" for k, v in s.scope.items())
        for key in ("breached_thresholds", "forecast_breached_thresholds", "channels", "owners"):
            d[key] = ",".join(str(v) for v in d[key])
    return d
