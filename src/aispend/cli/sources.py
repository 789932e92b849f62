"""API sources: ``aispend sources list|check``, ``sync`` and ``renormalize``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from ..errors import AispendError
from ..store import is_server_url
from .common import (
    EndOpt,
    FormatOpt,
    OutFormat,
    StartOpt,
    _date,
    _emit,
    _settings,
    _store,
    app,
    err,
)

sources_app = typer.Typer(help="Read-only API sources: the [sources.NAME] tables of aispend.toml.",
                          no_args_is_help=True)
app.add_typer(sources_app, name="sources")
SYNC_COLUMNS = ["source", "window", "pages", "requests", "rows", "status", "error"]


@sources_app.command("list")
def sources_list_cmd(fmt: FormatOpt = OutFormat.table) -> None:
    """Configured sources: type, key reference (env:NAME / file:PATH, never the value), base URL, cursor."""
    from ..connectors import make_connector

    settings = _settings()
    cursors: dict[str, Any] = {}
    if settings.sources and (is_server_url(settings.store.url) or Path(settings.store.url).exists()):
        with _store(settings) as store:
            cursors = {s: (c, e) for s, c, e in store.query("SELECT source, cursor, last_error FROM sync_state")}
    rows = []
    for name, cfg in settings.sources.items():
        cursor, last_error = cursors.get(name, (None, None))
        rows.append({"source": name, "type": cfg.type, "api_key": cfg.api_key.describe() if cfg.api_key else "-",
                     "base_url": make_connector(name, cfg).base_url, "restatement_days": cfg.restatement_days,
                     "cursor": cursor, "last_error": last_error})
    _emit(rows, ["source", "type", "api_key", "base_url", "restatement_days", "cursor", "last_error"], fmt,
          title="API sources")


@sources_app.command("check")
def sources_check_cmd(name: Annotated[str | None, typer.Argument(help="One source (default: every source).")] = None) -> None:
    """One cheap authenticated call per source: proves the key and base URL work. Exit 1 if any fails."""
    from ..connectors import make_connector
    from ..sync import source_names

    settings = _settings()
    failed = False
    for source in source_names(settings, [name] if name else None):
        connector, http = make_connector(source, settings.sources[source]), None
        try:
            http = connector.client()
            with http:
                err.print(f"{source}: ok: {connector.check(http)}", highlight=False, markup=False)
        except AispendError as exc:
            failed = True
            text = http.redact(str(exc)) if http else str(exc)
            err.print(f"[red]{escape(source)}: failed:[/red] {escape(text)}", highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command("sync")
def sync_cmd(
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Only this source; repeat it.")] = None,
    start: StartOpt = None,
    end: EndOpt = None,
    granularity: Annotated[str, typer.Option(help="Usage bucket width: 1d or 1h (costs are always daily).")] = "1d",
    wait: Annotated[float, typer.Option(help="Seconds to wait if another sync (cron, `aispend serve`) is running.")] = 0.0,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Pull every API source's window and replace it in the ledger (read-only on the vendor side).

    The window is --start..--end, else [cursor - restatement_days, tomorrow) (first run: 30 days).
    Raw pages are landed with the window; each source's rows and cursor change in one transaction,
    so a failure leaves the ledger as it was. One failing source does not stop the others; the
    exit code is 1 if any failed.
    """
    from ..schedule import run_locked
    from ..sync import sync

    settings = _settings()

    def progress(event: Any) -> None:
        r = event.result
        if event.kind == "start":
            err.print(f"{r.source}: syncing {r.window}", highlight=False, markup=False)
        elif event.kind == "page" and err.is_terminal:
            err.print(f"  {r.source}: {event.endpoint} page {event.page_no}", highlight=False, markup=False)
        elif event.kind == "done":
            err.print(f"{r.source}: {r.pages} pages, {r.rows:,} rows ({r.seconds:.1f}s)", highlight=False, markup=False)

    def work() -> list[Any]:
        with _store(settings) as store:
            return sync(store, settings, source, _date(start, "--start"), _date(end, "--end"), granularity, progress)

    # The scheduler in `aispend serve` and cron runs take the same lock: two syncs never overlap.
    results = run_locked("sync", work, settings=settings, wait=wait,
                         notify=lambda line: err.print(line, highlight=False, markup=False))
    rows = [{"source": r.source, "window": r.window, "pages": r.pages, "requests": r.requests, "rows": r.rows,
             "status": r.status, "error": r.error} for r in results]
    _emit(rows, SYNC_COLUMNS, fmt, title="Sync")
    if any(r.status != "ok" for r in results):
        raise typer.Exit(1)


@app.command("renormalize")
def renormalize_cmd(
    source: Annotated[str | None, typer.Option("--source", "-s", help="Only this source.")] = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Rebuild API sources' ledger rows from the landed raw pages, without calling any vendor."""
    from ..sync import renormalize

    settings = _settings()
    with _store(settings) as store:
        results = renormalize(store, settings, source)
    rows = [{"source": r.source, "window": r.window, "pages": r.pages, "requests": 0, "rows": r.rows,
             "status": r.status, "error": r.error} for r in results]
    _emit(rows, SYNC_COLUMNS, fmt, title="Renormalize")
