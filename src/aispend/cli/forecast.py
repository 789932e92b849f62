"""`aispend forecast`: where this month (or quarter) will end, per scope, with an interval."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import typer

from ..analysis.forecast import HISTORY_DAYS, ScopeForecast, forecast_with_total
from ..analysis.report import Window, footer, parse_where
from .common import FormatOpt, OutFormat, WhereOpt, _date, _emit, _settings, _store, app, err

_CENT = Decimal("0.01")


@app.command("forecast")
def forecast_cmd(
    by: Annotated[str | None, typer.Option(help="Comma-separated dimensions, one forecast each, e.g. provider,model.")] = None,
    month: Annotated[str | None, typer.Option(help="Forecast the month YYYY-MM (default: the month of --as-of).")] = None,
    quarter: Annotated[bool, typer.Option("--quarter", help="Forecast the calendar quarter containing the month.")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Forecast as made at the start of this day, "
                                              "YYYY-MM-DD UTC (default today): replays the past.")] = None,
    where: WhereOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Month-end (or quarter-end) spend: actual to date, forecast, an 80% interval, last period.

    Spend dated before --as-of is actual (exact); the days left are estimated from each scope's
    daily spend over the last eight weeks: the recent level, the weekday pattern and a damped
    trend, robust to a one-day spike. The interval widens when the history is short or noisy; a
    finished period, or a scope with no spend lately, forecasts its actual. Days a source has not
    delivered yet are estimated, not counted as zero. Method and measured accuracy:
    docs/forecast.md.

    With --by, the scopes' forecasts add up to the total's to the cent. The table ends with the
    total; JSON and CSV list the scopes only (run without --by for the total and its interval).
    Money in JSON and CSV is exact decimal strings: the actual to the last digit, the estimated
    part to the cent.

    Examples: `aispend forecast`, `aispend forecast --by provider --quarter`,
    `aispend forecast --month 2026-02 --as-of 2026-02-10 --where environment=prod --format json`.
    """
    dims = [d.strip() for d in (by or "").split(",") if d.strip()]
    filters = parse_where(where)
    with _store(_settings()) as store:
        scopes, total = forecast_with_total(store, period="quarter" if quarter else "month", month=month,
                                            as_of=_date(as_of, "--as-of"), by=dims, where=filters)
        known = min(total.as_of, total.end)
        notes = footer(store, Window(_midnight(total.start), _midnight(known)), filters).lines()
    results = scopes if dims else [total]
    columns = [*dims, "period", "actual_usd", "forecast_usd", "lower_usd", "upper_usd", "last_period_usd", "method",
               "history_days", "remaining_days", "observed_until", "as_of"]
    if fmt is not OutFormat.table:
        for line in notes:
            err.print(f"note: {line}", highlight=False, markup=False)
        _emit([r.as_dict() for r in results], columns, fmt)
        return

    label = dims or ["scope"]
    rows = [_table_row(r, dims) for r in results]
    if dims:
        rows.append(_table_row(total, dims, name="TOTAL"))
    title = (f"Forecast for {total.period} ({total.start} to {total.end}, end exclusive), as of {total.as_of}")
    estimated = (f"{total.remaining_days} day(s) from {total.observed_until} estimated"
                 if total.remaining_days else "nothing left to estimate")
    if total.remaining_days and not total.history_days:
        estimated = (f"no daily spend in the {HISTORY_DAYS} days before {known} to run a rate from, so the forecast "
                     "is the actual: import or sync recent bills")
    elif total.observed_until < known:
        estimated += f" (the ledger has no daily spend from {total.observed_until} on yet)"
    intro = [f"actual is spend dated before {known}; {estimated}; interval {total.interval:.0%}"]
    _emit(rows, [*label, "actual_usd", "forecast_usd", f"interval_{total.interval:.0%}", "last_period_usd", "method"],
          fmt, title=title, footer=intro + notes)


def _table_row(r: ScopeForecast, dims: list[str], name: str | None = None) -> dict[str, Any]:
    scope = {d: (name if i == 0 else "") for i, d in enumerate(dims)} if name else dict(r.scope)
    if not dims:
        scope = {"scope": "total"}
    width = "" if r.lower == r.upper else f"{r.lower.quantize(_CENT):,} to {r.upper.quantize(_CENT):,}"
    return {**scope, "actual_usd": r.actual, "forecast_usd": r.forecast, f"interval_{r.interval:.0%}": width or "-",
            "last_period_usd": r.last_period, "method": r.method}


def _midnight(day: Any) -> datetime:
    return datetime(day.year, day.month, day.day)
