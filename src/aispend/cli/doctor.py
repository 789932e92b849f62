"""``aispend doctor``: data-quality checks; exit 1 on any error, so cron can run it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import typer
from rich.markup import escape

from .common import FormatOpt, OutFormat, _emit, _settings, _store, app, err


@app.command("doctor")
def doctor_cmd(fmt: FormatOpt = OutFormat.table) -> None:
    """Check the ledger: unpriced models, tokens at $0, estimates drifting from the bill, API sources
    that failed or stopped, file sources not imported lately, missing FX rates, duplicate invoices,
    signed-off months that changed. Each finding says how to fix it. Thresholds: [doctor] in
    aispend.toml (docs/doctor.md). Exit 1 when any finding is an error.
    """
    from ..analysis.doctor import COLUMNS, doctor

    settings = _settings()
    with _store(settings) as store:
        findings = doctor(store, settings)
    errors = sum(f.severity == "error" for f in findings)
    if fmt is OutFormat.table and not findings:
        err.print("no problems found", highlight=False, markup=False)
    elif fmt is OutFormat.table:
        _emit([_for_people(f.as_row()) for f in findings], COLUMNS, fmt, title="aispend doctor")
    else:
        _emit([f.as_row() for f in findings], COLUMNS, fmt)
    if findings:
        err.print(f"{errors} error(s), {len(findings) - errors} warning(s)", highlight=False, markup=False)
    if errors:
        raise typer.Exit(1)


def _for_people(row: dict[str, Any]) -> dict[str, Any]:
    """Cents for amounts; brackets shown as typed (``[pricing.fx]`` is not console markup)."""
    out = {}
    for k, v in row.items():
        if isinstance(v, Decimal):
            v = f"{v:,.2f}"
        out[k] = escape(v) if isinstance(v, str) else v
    return out
