"""``aispend reconcile``: month-end reconciliation, sign-off and its history."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer

from ..errors import AispendError
from ..output import exact
from .common import FormatOpt, OutFormat, _emit, _settings, _store, app, err

reconcile_app = typer.Typer()  # its help is reconcile_cmd's docstring
app.add_typer(reconcile_app, name="reconcile")

VENDOR_COLUMNS = ["provider", "basis", "invoice_usd", "ledger_usd", "estimate_usd", "difference_usd"]
CHANGE_COLUMNS = ["provider", "source", "batch_id", "change", "signed_usd", "now_usd", "delta_usd", "loaded_at",
                  "replaced_by"]
HISTORY_COLUMNS = ["signoff_id", "month", "signed_by", "signed_at", "note", "invoice_usd", "ledger_usd"]


@reconcile_app.callback(invoke_without_command=True)
def reconcile_cmd(
    ctx: typer.Context,
    month: Annotated[str | None, typer.Option(help="Invoice month YYYY-MM (rows by billing_period).")] = None,
    sign_off: Annotated[bool, typer.Option("--sign-off", help="Record that the month's figures are accepted.")] = False,
    by: Annotated[str | None, typer.Option("--by", help="Who signs off (with --sign-off).")] = None,
    note: Annotated[str | None, typer.Option(help="A note kept with the sign-off.")] = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Reconcile a month: per vendor the invoice, the ledger and the usage estimate, and
    invoice - ledger split into tax, credits, adjustments, unbilled estimates, late restatements,
    and an unexplained remainder (docs/reconcile.md).

    With --sign-off --by NAME the month is recorded as closed at today's figures; a later re-import
    or re-sync that moves them shows the month as "changed after sign-off" with the batches that did.
    JSON is one object: month, status, signoff, delta_usd, totals, vendors, changes.
    """
    from ..analysis.reconcile import reconcile
    from ..analysis.reconcile import sign_off as record_sign_off

    if ctx.invoked_subcommand is not None:
        return
    if month is None:
        raise AispendError("give the month to reconcile: aispend reconcile --month YYYY-MM")
    if (by or note) and not sign_off:
        raise AispendError("--by and --note go with --sign-off: aispend reconcile --month "
                           f"{month} --sign-off --by NAME")
    with _store(_settings()) as store:
        if sign_off:
            signed = record_sign_off(store, month, by or "", note)
            err.print(f"signed off {month} by {signed.signed_by} at {signed.signed_at:%Y-%m-%d %H:%M} UTC: "
                      f"ledger {signed.ledger_usd:,.2f} USD, invoices {signed.invoice_usd:,.2f} USD",
                      highlight=False, markup=False)
        rec = reconcile(store, month)
    _show(rec, fmt)


def _show(rec: Any, fmt: OutFormat) -> None:
    from ..analysis.reconcile import CATEGORIES

    rows = [v.as_row() for v in rec.vendors]
    cat_columns = [f"{c}_usd" for c in CATEGORIES]
    if fmt is OutFormat.json:
        typer.echo(json.dumps(_plain(rec.as_dict()), indent=2))
        return
    if fmt is OutFormat.csv:
        _emit(rows, [*VENDOR_COLUMNS, *cat_columns, "unpriced_tokens", "unconverted_rows", "signed_ledger_usd"], fmt)
        for line in _notes(rec):
            err.print(f"note: {line}", highlight=False, markup=False)
        return
    # People: only the categories that explain something, and a total row.
    shown = [c for c in cat_columns if any(r[c] for r in rows)]
    total = {"provider": "total", "basis": ""} | {c: sum((r[c] for r in rows), Decimal(0))
                                                   for c in [*VENDOR_COLUMNS[2:], *shown]}
    _emit([*rows, total] if rows else [], [*VENDOR_COLUMNS, *shown], fmt, title=f"Reconciliation {rec.month}",
          footer=_notes(rec))
    if rec.changes:
        _emit([_change_row(c) for c in rec.changes], CHANGE_COLUMNS, fmt, title="Batches changed since the sign-off")


def _notes(rec: Any) -> list[str]:
    notes = [_status_line(rec)]
    if not rec.vendors:
        notes.append(f"no ledger rows have billing_period {rec.month}: import or sync that month first")
    for v in rec.vendors:
        if v.unconverted_rows:
            notes.append(f"{v.provider}: {v.unconverted_rows} billed row(s) in a currency without a USD rate are in "
                         "no figure: run `aispend fx import RATES.csv` or add it under [pricing.fx]")
        if v.unpriced_tokens:
            notes.append(f"{v.provider}: {v.unpriced_tokens:,} unpriced tokens (model not in the price book): their "
                         "cost is unknown and sits in the unexplained remainder; add a [[pricing.overrides]] entry")
    return notes


def _status_line(rec: Any) -> str:
    s = rec.signoff
    if s is None:
        return (f"{rec.month} is open: when the figures are right, run "
                f"`aispend reconcile --month {rec.month} --sign-off --by NAME`")
    signed = f"signed off by {s.signed_by} on {s.signed_at:%Y-%m-%d %H:%M} UTC at {s.ledger_usd:,.2f} USD"
    if rec.status == "closed":
        return f"{rec.month} is closed: {signed}"
    return (f"{rec.month} changed after sign-off: {signed}, the ledger now says {rec.total('ledger_usd'):,.2f} USD "
            f"(delta {rec.delta_usd:+,.2f}); review the batches below, then sign off again")


def _change_row(c: Any) -> dict[str, Any]:
    return {"provider": c.provider, "source": c.source, "batch_id": c.batch_id, "change": c.change,
            "signed_usd": c.signed_usd, "now_usd": c.now_usd, "delta_usd": c.delta_usd, "loaded_at": c.loaded_at,
            "replaced_by": c.replaced_by, "rows_signed": c.rows_signed, "rows_now": c.rows_now}


def _plain(value: Any) -> Any:
    """Exact decimal strings, ISO times: JSON never holds a float for money."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return exact(value)
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    return value


@reconcile_app.command("history")
def history_cmd(
    month: Annotated[str | None, typer.Option(help="Only this month (YYYY-MM).")] = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Every sign-off, oldest first: who, when, the note and the figures signed."""
    from ..analysis.reconcile import signoff_history

    with _store(_settings()) as store:
        rows = [{c: getattr(s, c) for c in HISTORY_COLUMNS} for s in signoff_history(store, month)]
    if not rows and fmt is OutFormat.table:
        err.print("no sign-offs yet: `aispend reconcile --month YYYY-MM --sign-off --by NAME` records one",
                  highlight=False, markup=False)
    _emit(rows, HISTORY_COLUMNS, fmt, title="Sign-offs")
