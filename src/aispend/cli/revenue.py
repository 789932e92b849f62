"""``aispend revenue import|sync|list``: what customers paid, for margin (docs/unit-economics.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from ..analysis import Window
from ..errors import ConfigError
from ..output import exact
from .common import EndOpt, FormatOpt, MonthOpt, OutFormat, StartOpt, _date, _emit, _settings, _store, app, err

revenue_app = typer.Typer(help="Revenue per customer (CSV or your own Stripe account), for `aispend margin`.",
                          no_args_is_help=True)
app.add_typer(revenue_app, name="revenue")
SUMMARY_COLUMNS = ["source", "window", "invoices", "charges", "skipped_charges", "rows_loaded", "rows_replaced",
                   "requests", "totals"]


def _totals(totals: dict[str, Decimal]) -> str:
    return ", ".join(f"{exact(v)} {k}" for k, v in sorted(totals.items())) or "-"


@revenue_app.command("import")
def revenue_import_cmd(
    path: Annotated[Path, typer.Argument(help="CSV: customer, date|month|period_start+period_end, amount, currency[, id, description, feature].")],
    source: Annotated[str | None, typer.Option(help="Source name, recorded as csv:NAME (default: the file name).")] = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Import revenue from a CSV. All rows or none; re-importing replaces the same source's rows."""
    from ..revenue import import_revenue_csv

    with _store(_settings()) as store:
        result = import_revenue_csv(store, path, source=source)
    row = {"source": result.source, "path": result.path, "rows_loaded": result.rows_loaded,
           "rows_replaced": result.rows_replaced, "totals": _totals(result.totals)}
    _emit([row], list(row), fmt, title="Revenue import")


@revenue_app.command("sync")
def revenue_sync_cmd(
    start: StartOpt = None,
    end: EndOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Pull paid invoices and stand-alone charges from [revenue.stripe], read-only.

    The window is by document creation, UTC (default: the first day of last month to today
    included). It replaces what earlier syncs loaded for the same documents: never double counted.
    """
    from ..revenue import default_window, sync_stripe

    settings = _settings()
    cfg = settings.revenue.stripe
    if cfg is None:
        where = settings.path or "aispend.toml"
        raise ConfigError(f"no [revenue.stripe] in {where}: add api_key = {{ env = \"STRIPE_RESTRICTED_KEY\" }} "
                          "(a restricted key with read access to Invoices, Charges and Customers)")
    lo, hi = default_window(datetime.now(UTC).date())
    first, last = _date(start, "--start"), _date(end, "--end")
    lo = datetime.combine(first, datetime.min.time()) if first else lo
    hi = datetime.combine(last, datetime.min.time()) if last else hi
    with _store(settings) as store:
        result = sync_stripe(store, cfg, lo, hi)
    for warning in result.warnings:
        err.print(f"warning: {warning}", highlight=False, markup=False)
    row = {"source": result.source, "window": f"{lo:%Y-%m-%d}..{hi:%Y-%m-%d}", "invoices": result.invoices,
           "charges": result.charges, "skipped_charges": result.skipped_charges, "rows_loaded": result.rows_loaded,
           "rows_replaced": result.rows_replaced, "requests": result.requests, "totals": _totals(result.totals)}
    _emit([row], SUMMARY_COLUMNS, fmt, title="Revenue sync")


@revenue_app.command("list")
def revenue_list_cmd(
    month: MonthOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    source: Annotated[str | None, typer.Option(help="Only this source (csv:FILE, stripe:NAME).")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer.")] = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Revenue rows whose period starts in the window, oldest first."""
    from ..revenue.store import LIST_COLUMNS, list_revenue

    window = Window.parse(month, start, end)
    with _store(_settings()) as store:
        rows = list_revenue(store, window.start, window.end, source, customer)
    _emit(rows, LIST_COLUMNS, fmt, title="Revenue")
