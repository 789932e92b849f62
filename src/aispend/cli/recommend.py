"""``aispend recommend``: ranked savings, and accept / dismiss / track."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer

from ..errors import AispendError
from .common import FormatOpt, OutFormat, _date, _emit, _settings, _store, app, err, out

rec_app = typer.Typer(invoke_without_command=True)  # its help is recommend_cmd's docstring
app.add_typer(rec_app, name="recommend")

COLUMNS = ["id", "kind", "monthly_savings_usd", "confidence", "status", "scope", "title", "evidence", "assumption",
           "reason"]


def _rows(recs: list[Any], fmt: OutFormat) -> list[dict[str, Any]]:
    from ..optimize.recommend.base import plain

    rows = []
    for r in recs:
        scope, evidence = plain(r.scope), plain(r.evidence)
        if fmt is not OutFormat.json:  # one cell each for people and spreadsheets
            scope = ", ".join(f"{k}={v}" for k, v in scope.items())
            evidence = "; ".join(f"{k}={', '.join(map(str, v)) if isinstance(v, list) else v}"
                                 for k, v in evidence.items())
        rows.append({"id": r.id, "kind": r.kind, "monthly_savings_usd": r.monthly_savings_usd,
                     "confidence": r.confidence, "status": r.status, "scope": scope, "title": r.title,
                     "evidence": evidence, "assumption": r.assumption, "reason": r.reason})
    return rows


def _cards(recs: list[Any]) -> None:
    """One short block per recommendation: a table this wide is unreadable."""
    from ..optimize.recommend.base import plain
    from ..output import exact

    if not recs:
        out.print("no recommendations", highlight=False, markup=False)
    for n, r in enumerate(recs, 1):
        status = "" if r.status == "open" else f"  [{r.status}{': ' + r.reason if r.reason else ''}]"
        evidence = "; ".join(f"{k}={', '.join(map(str, v)) if isinstance(v, list) else v}"
                             for k, v in plain(r.evidence).items())
        out.print(f"{n}. {r.id}  {exact(r.monthly_savings_usd.quantize(Decimal('0.01')))} USD/month  "
                  f"confidence {r.confidence}{status}\n   {r.title}\n"
                  f"   scope: {', '.join(f'{k}={v}' for k, v in r.scope.items())}\n   evidence: {evidence}\n"
                  f"   assumes: {r.assumption}", highlight=False, markup=False)


@rec_app.callback()
def recommend_cmd(
    ctx: typer.Context,
    min_savings: Annotated[str, typer.Option("--min-savings", help="Only those saving at least this many USD a month.")] = "0",
    status: Annotated[str, typer.Option(help="open (default), accepted, dismissed or all.")] = "open",
    days: Annotated[int | None, typer.Option(min=1, help="Observed window: the ledger's last N days (default [optimize] window_days, 30).")] = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Recommendations ranked by estimated monthly savings, each with scope, evidence, assumption, confidence.

    Kinds: prompt caching, cache TTL, batch API, model downgrade (scopes you mark low-stakes),
    long-context tiers, off-peak pricing, unowned keys/projects, idle or duplicate subscriptions.
    Each has a stable id: `aispend recommend accept ID` or `dismiss ID --reason TEXT`; a dismissed
    one is not listed again. `aispend recommend track` follows accepted model swaps. See
    docs/optimize.md for each kind's assumptions and the [optimize] settings.
    """
    if ctx.invoked_subcommand:
        return
    from ..optimize import recommend

    try:
        floor = Decimal(min_savings)
    except InvalidOperation:
        raise AispendError(f"--min-savings {min_savings!r} is not a number of USD") from None
    settings = _settings()
    with _store(settings) as store:
        found = recommend(store, settings, floor, status, days)
    total = sum((r.monthly_savings_usd for r in found.recommendations if r.status == "open"), Decimal(0))
    adds = f"; open recommendations add up to {total:,.2f} USD a month" if status in ("open", "all") else ""
    notes = [f"observed {found.period}{adds}", *found.notes]
    if fmt is OutFormat.table:
        _cards(found.recommendations)
        for line in notes:
            out.print(f"note: {line}", highlight=False, markup=False)
        return
    for line in notes:
        err.print(f"note: {line}", highlight=False, markup=False)
    _emit(_rows(found.recommendations, fmt), COLUMNS, fmt)


@rec_app.command("accept")
def accept_cmd(
    rec_id: Annotated[str, typer.Argument(metavar="ID", help="The recommendation's id.")],
    effective: Annotated[str | None, typer.Option(help="Day the change went live, YYYY-MM-DD (default today); tracking starts there.")] = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Accept a recommendation: its estimate is kept, and a model swap is tracked from --effective."""
    from ..optimize import accept

    with _store(_settings()) as store:
        rec = accept(store, rec_id, _date(effective, "--effective"))
    if rec.action and rec.effective_from:
        err.print(f"tracking from {rec.effective_from:%Y-%m-%d}: `aispend recommend track`", highlight=False, markup=False)
    _emit(_rows([rec], fmt), COLUMNS, fmt, title="Accepted")


@rec_app.command("dismiss")
def dismiss_cmd(
    rec_id: Annotated[str, typer.Argument(metavar="ID", help="The recommendation's id.")],
    reason: Annotated[str, typer.Option(help="Why it does not apply (kept with it).")],
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Dismiss a recommendation with a reason; it is not listed as open again."""
    from ..optimize import dismiss

    with _store(_settings()) as store:
        rec = dismiss(store, rec_id, reason)
    _emit(_rows([rec], fmt), COLUMNS, fmt, title="Dismissed")


@rec_app.command("track")
def track_cmd(
    rec_id: Annotated[str | None, typer.Argument(metavar="[ID]", help="One accepted recommendation (default: all).")] = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Accepted model swaps, week by week: actual savings against the estimate."""
    from ..optimize import track
    from ..optimize.tracking import COLUMNS as TRACK_COLUMNS

    settings = _settings()
    with _store(settings) as store:
        rows = track(store, settings, rec_id)
    if not rows:
        err.print("no accepted model swap to track: accept a model-downgrade recommendation first",
                  highlight=False, markup=False)
    _emit(rows, TRACK_COLUMNS, fmt, title="Accepted model swaps: actual vs estimated savings")
