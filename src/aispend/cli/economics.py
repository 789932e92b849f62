"""Unit economics: ``aispend unit-cost`` and ``aispend margin``.

Top-level for now (``aispend report`` is a single command); the library calls are
:func:`aispend.analysis.unit_economics.unit_costs` and :func:`~aispend.analysis.unit_economics.margin`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..analysis import Window, parse_where
from ..analysis.unit_economics import margin, unit_costs
from .common import EndOpt, FormatOpt, MonthOpt, OutFormat, StartOpt, WhereOpt, _emit, _settings, _store, app, err
from .ledger import report_app


def _notes(lines: list[str], fmt: OutFormat) -> list[str]:
    """Tables show notes under them; JSON and CSV keep stdout parseable, so notes go to stderr."""
    if fmt is OutFormat.table:
        return lines
    for line in lines:
        err.print(f"note: {line}", highlight=False, markup=False)
    return []


@report_app.command("unit")
@app.command("unit-cost", hidden=True)
def unit_cost_cmd(
    by: Annotated[str, typer.Option(help="Comma-separated dimensions: feature, customer, model, experiment, ...")] = "feature",
    month: MonthOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    where: WhereOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Cost per request and per 1k tokens by feature, customer, model or experiment arm.

    cost_per_request = cost_usd / requests; cost_per_1k_tokens = 1000 x cost_usd / (input + output
    tokens), over everything the group cost. Rows without the dimension are grouped as
    (unattributed). Definitions: docs/unit-economics.md.
    """
    dims = [d.strip() for d in by.split(",") if d.strip()]
    window = Window.parse(month, start, end)
    with _store(_settings()) as store:
        report = unit_costs(store, dims, window, parse_where(where))
    title = f"Unit cost by {', '.join(dims)}" + (f" ({month})" if month else "")
    _emit(report.rows, report.columns, fmt, title=title, footer=_notes(report.footer.lines(), fmt))


@report_app.command("margin")
@app.command("margin", hidden=True)
def margin_cmd(
    by: Annotated[str, typer.Option(help="customer, or feature when revenue names features.")] = "customer",
    month: MonthOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Revenue, AI cost and margin per customer (or feature), worst margin first.

    Revenue comes from `aispend revenue import|sync`, converted to USD with the ledger's FX rates;
    what cannot be converted is counted in the notes, never silently dropped.
    """
    window = Window.parse(month, start, end)
    settings = _settings()
    with _store(settings) as store:
        report = margin(store, settings, by.strip(), window)
    title = f"Margin by {by}" + (f" ({month})" if month else "")
    _emit(report.rows, report.columns, fmt, title=title, footer=_notes(report.lines(), fmt))
