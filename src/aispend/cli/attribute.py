"""``aispend attribute`` (rules over history, coverage, explain a row) and ``aispend allocate``."""

from __future__ import annotations

from typing import Annotated

import typer

from ..attribution import attribute, coverage, explain
from .common import FormatOpt, OutFormat, _emit, _settings, _store, app, err


@app.command("attribute")
def attribute_cmd(
    explain_row: Annotated[str | None, typer.Option("--explain", metavar="ROW_ID",
                                                    help="Show which rule set each field of this row.")] = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Attribute every ledger row with the [[attribution.rules]] of aispend.toml.

    Imports and syncs attribute their own rows as they load; run this after changing the rules,
    so history follows them (one transaction; re-running changes nothing). Rules fill owner,
    feature, customer, environment, experiment, project and tags.KEY from what the bill says (key,
    project, tags, model, ...); a value the vendor or the source settings gave is never
    overwritten. Per field, the first matching rule wins. Spend no rule covers is reported as
    "(unattributed)" by `aispend report` (filter it with --where owner="(unattributed)").
    """
    settings = _settings()
    with _store(settings) as store:
        if explain_row:
            e = explain(store, settings, explain_row)
            summary = ", ".join(f"{k}={v}" for k, v in e.summary.items() if v is not None)
            matched = ", ".join(e.matched) or "none"
            _emit(e.fields, ["field", "value", "set_by"], fmt, title=f"Row {e.row_id}",
                  footer=[summary, f"rules whose conditions this row meets: {matched}"])
            return
        if not settings.attribution.rules:
            err.print("no [[attribution.rules]] in the config: removing what earlier rules set, if anything",
                      highlight=False, markup=False)
        rows = attribute(store, settings)
        cover = [c.as_dict() for c in coverage(store, settings)]
    err.print(f"attributed {rows:,} ledger rows with {len(settings.attribution.rules)} rule(s)",
              highlight=False, markup=False)
    _emit(cover, ["field", "from_source", "by_rules", "unattributed", "unattributed_usd"], fmt,
          title="Attribution coverage (rows)")


@app.command("allocate")
def allocate_cmd(fmt: FormatOpt = OutFormat.table) -> None:
    """Split billed cost over per-request events ([allocation] enabled) and shared costs
    ([[allocation.shared]]) for the whole ledger, atomically.

    Imports, syncs and event loads keep allocation current for the months they touch; run this
    after changing [allocation]. Each billed (day, provider, model) pool is split over the events of
    the same key by their priced token cost; shares add up to the pool exactly (largest
    remainder, to the cent). Pools without events stay billed: the unmatched remainder, listed.
    """
    from ..attribution.allocate import allocate_all

    settings = _settings()
    with _store(settings) as store:
        result = allocate_all(store, settings)
    if not settings.allocation.active:
        err.print("[allocation] is not enabled and has no shared rules: earlier allocations were removed",
                  highlight=False, markup=False)
    notes = [f"{result.allocated_share}% of billed usage was allocated to the customers and features of its events"]
    for u in result.unmatched[:10]:
        notes.append(f"unmatched: {u['day']} {u['provider']} {u['model']} {u['usd']:.2f} USD (no events for it)")
    _emit([result.as_dict()], ["pools", "allocated_pools", "allocated_usd", "unseen_usd", "unmatched_pools", "unmatched_usd",
                               "allocated_pct", "shared_rows", "shared_usd", "rows"], fmt,
          title="Allocation", footer=notes)
