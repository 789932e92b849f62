"""``aispend fx``: dated exchange rates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import (
    FormatOpt,
    OutFormat,
    _emit,
    _settings,
    _store,
    app,
    err,
)

fx_app = typer.Typer(help="Dated exchange rates: rows keep their currency; cost_usd uses the rate of their day.",
                     no_args_is_help=True)
app.add_typer(fx_app, name="fx")


@fx_app.command("import")
def fx_import_cmd(
    path: Annotated[Path, typer.Argument(help="ECB-style rates CSV (Date,USD,JPY,... per EUR; .zip too) or currency,day,usd_rate.")],
    reprice_after: Annotated[bool, typer.Option("--reprice/--no-reprice", help="Convert already-loaded rows with the new rates.")] = True,
) -> None:
    """Import dated FX rates (re-importing replaces the same currency and day)."""
    from ..fx import import_fx
    from ..pricing import reprice

    settings = _settings()
    with _store(settings) as store:
        rates = import_fx(store, path)
        err.print(f"{path}: {rates:,} rates", highlight=False, markup=False)
        if reprice_after:
            rows = reprice(store, settings)
            err.print(f"re-priced {rows:,} ledger rows with them", highlight=False, markup=False)


@fx_app.command("list")
def fx_list_cmd(
    currency: Annotated[str | None, typer.Option(help="Only this currency (ISO 4217).")] = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Stored rates per currency: first and last day, number of days, latest USD rate."""
    from ..fx import list_fx

    with _store(_settings()) as store:
        rows = list_fx(store, currency)
    _emit(rows, ["currency", "first_day", "last_day", "days", "latest_usd_rate"], fmt, title="FX rates (USD per unit)")
