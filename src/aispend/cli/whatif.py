"""``aispend whatif``: one model's observed workload priced at another model."""

from __future__ import annotations

from typing import Annotated

import typer

from ..analysis import Window, parse_where
from ..output import exact
from .common import EndOpt, FormatOpt, MonthOpt, OutFormat, StartOpt, WhereOpt, _emit, _settings, _store, app, err


@app.command("whatif")
def whatif_cmd(
    source: Annotated[str, typer.Option("--from", help="Model whose usage is re-priced: the ledger's model or "
                                        "model_raw (PROVIDER/MODEL to narrow to one provider).")],
    target: Annotated[str, typer.Option("--to", help="Model to price it at: MODEL keeps each row's provider; "
                                        "PROVIDER/MODEL moves the rows there (e.g. anthropic/claude-sonnet-4-5).")],
    by: Annotated[str, typer.Option(help="Comma-separated dimensions per scope, e.g. feature or customer.")] = "model",
    month: MonthOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    where: WhereOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Re-price the observed workload of --from at --to's dated prices; dollar delta per scope.

    Every token column counts (cache reads and writes, reasoning), with each row's service tier
    and day, priced by the ledger's own pricer at list less your discounts. Warns where --to's
    context window or modalities cannot serve the workload. A negative delta_usd is a saving.
    """
    from ..optimize import whatif

    dims = [d.strip() for d in by.split(",") if d.strip()]
    window = Window.parse(month, start, end)
    settings = _settings()
    with _store(settings) as store:
        result = whatif(store, settings, source, target, window, parse_where(where), dims)
    pct = f" ({result.delta_usd * 100 / result.current_usd:+.1f}%)" if result.current_usd else ""
    summary = (f"{result.source}: {exact(result.current_usd)} USD now, {exact(result.whatif_usd)} USD at "
               f"{result.target}: delta {exact(result.delta_usd)} USD{pct}")
    if fmt is OutFormat.table:
        _emit(result.rows, result.columns, fmt, title=f"What if {result.source} were {result.target}",
              footer=[summary, *result.warnings])
        return
    for line in [summary, *result.warnings]:
        err.print(f"note: {line}", highlight=False, markup=False)
    _emit(result.rows, result.columns, fmt)
