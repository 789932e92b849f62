"""Per-request events: ``aispend events import|list|summary|prune`` (docs/events.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..analysis import Window
from ..errors import AispendError
from .common import (
    EndOpt,
    FormatOpt,
    MonthOpt,
    OutFormat,
    StartOpt,
    WhereOpt,
    _emit,
    _progress,
    _settings,
    _store,
    app,
    err,
)

events_app = typer.Typer(help="Per-request events (OpenTelemetry GenAI spans, LiteLLM and JSONL logs) for attribution.",
                         no_args_is_help=True)
app.add_typer(events_app, name="events")


def _where(items: list[str] | None) -> dict[str, list[str]]:
    where: dict[str, list[str]] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AispendError(f"--where {item!r} is not DIM=VALUE")
        where.setdefault(key.strip(), []).append(value)
    return where


@events_app.command("import")
def events_import_cmd(
    path: Annotated[Path, typer.Argument(help="JSON Lines, a JSON array or one OTLP/JSON document; .gz is fine.")],
    file_format: Annotated[str | None, typer.Option("--format", help="otlp-json, litellm or jsonl (default: detect).")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Load the valid records; report the others.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Import per-request events from a file.

    Formats: otlp-json (OTLP/JSON trace exports, e.g. the OTel Collector's file exporter), litellm
    (LiteLLM proxy spend logs) and jsonl (aispend's generic shape, see docs/events.md). Events are
    priced with the price book as they load. Importing the same file again replaces its events
    (each keeps its own id): nothing is counted twice. A malformed record fails the whole file with
    its line number and stores nothing, unless --skip-invalid.
    """
    from ..events import import_events

    settings = _settings()
    with _store(settings) as store, _progress() as progress:
        task = progress.add_task(path.name, total=None)
        result = import_events(store, settings, path, fmt=file_format, skip_invalid=skip_invalid,
                               on_records=lambda n: progress.advance(task, n))
    loaded = result.loaded
    if as_json:
        typer.echo(json.dumps({"path": result.path, "format": result.format, "source": result.source,
                               "records": result.records, "events": loaded.stored, "replaced": loaded.replaced,
                               "unpriced": loaded.unpriced, "too_old": loaded.too_old, "rejected": result.rejected,
                               "ignored_spans": result.ignored_spans}, indent=2))
    else:
        notes = [f"replaced {loaded.replaced:,} stored earlier"] if loaded.replaced else []
        notes += [f"{loaded.unpriced:,} unpriced (model not in the price book)"] if loaded.unpriced else []
        notes += [f"{loaded.too_old:,} skipped (older than the last prune, already rolled up)"] if loaded.too_old else []
        notes += [f"{result.ignored_spans:,} non-GenAI spans ignored"] if result.ignored_spans else []
        notes += [f"{result.rejected:,} invalid records skipped"] if result.rejected else []
        err.print(f"{path}: {loaded.stored:,} events as {result.format}" + "".join(f"; {n}" for n in notes),
                  highlight=False, markup=False)
    for error in result.errors[:5] if skip_invalid else []:
        err.print(f"  skipped {error}", highlight=False, markup=False)


@events_app.command("list")
def events_list_cmd(
    limit: Annotated[int, typer.Option(help="How many events, latest first.")] = 50,
    month: MonthOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    where: WhereOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """The latest raw events (pruned days are only in `aispend events summary`)."""
    from ..events import list_events
    from ..events.query import LIST_COLUMNS

    window = Window.parse(month, start, end)
    with _store(_settings()) as store:
        rows = list_events(store, limit=limit, start=window.start, end=window.end, where=_where(where))
    _emit(rows, LIST_COLUMNS, fmt, title="Events")


@events_app.command("summary")
def events_summary_cmd(
    by: Annotated[str, typer.Option(help="Comma-separated: provider, model, project, api_key_id, customer, feature, "
                                         "experiment, environment.")] = "provider,model",
    daily: Annotated[bool, typer.Option("--daily", help="One row per UTC day too.")] = False,
    month: MonthOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    where: WhereOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Requests, tokens and estimated cost from the daily rollup (kept when raw events are pruned).

    estimated_cost_usd sums the priced events (book list price less [pricing] discounts);
    unpriced_events counts those whose model the price book does not know: not in the total.
    """
    from ..events import events_summary

    dims = [d.strip() for d in by.split(",") if d.strip()]
    window = Window.parse(month, start, end)
    with _store(_settings()) as store:
        columns, rows = events_summary(store, dims, start=window.start, end=window.end, where=_where(where),
                                       daily=daily)
    unpriced = sum(r["unpriced_events"] or 0 for r in rows)
    notes = [f"{unpriced:,} unpriced event(s) (model not in the price book) are not in estimated_cost_usd"] if unpriced else []
    if fmt is not OutFormat.table:
        for line in notes:
            err.print(f"note: {line}", highlight=False, markup=False)
    _emit(rows, columns, fmt, title=f"Events by {', '.join(dims) or 'total'}", footer=notes)


@events_app.command("prune")
def events_prune_cmd(
    older_than: Annotated[int | None, typer.Option("--older-than", help="Days of raw events to keep "
                                                  "(default: [events] retention_days, 90).", min=1)] = None,
) -> None:
    """Delete raw events older than N whole UTC days; the daily rollup keeps their totals.

    An event older than the cutoff that is delivered again afterwards is skipped: its day is
    already rolled up.
    """
    from ..events import prune_events

    settings = _settings()
    days = older_than or settings.events.retention_days
    with _store(settings) as store:
        result = prune_events(store, days)
    err.print(f"pruned {result.deleted:,} events before {result.cutoff.date().isoformat()} (kept in the daily rollup)",
              highlight=False, markup=False)
