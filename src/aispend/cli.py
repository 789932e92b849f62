"""The ``aispend`` command: parse options, call one library function, print.

Errors the user can act on print one line on stderr and exit 1; ``--debug`` shows the traceback.
Anything that lists rows takes ``--format table|json|csv``; JSON is an array of objects with
exact decimal strings for money.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from . import __version__
from .analysis import Window, parse_where, spend_report
from .config import Settings, load_settings
from .errors import AispendError
from .output import render
from .store import Store, open_store

app = typer.Typer(
    help="aispend: one exact ledger for every AI vendor's bill. Import billing files, price usage, "
    "report spend and export it (CSV, Parquet, FOCUS 1.2).",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)
out = Console(width=None if sys.stdout.isatty() else 200)  # piped tables are not truncated


class OutFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class _State:
    config: str | None = None
    store_url: str | None = None
    debug: bool = False


state = _State()

FormatOpt = Annotated[OutFormat, typer.Option("--format", "-f", help="table for people; json or csv for scripts.")]
MonthOpt = Annotated[str | None, typer.Option(help="Calendar month YYYY-MM (by charge period start, UTC).")]
StartOpt = Annotated[str | None, typer.Option(help="First day, inclusive (YYYY-MM-DD, UTC).")]
EndOpt = Annotated[str | None, typer.Option(help="Last day, exclusive (YYYY-MM-DD, UTC).")]
WhereOpt = Annotated[
    list[str] | None,
    typer.Option("--where", "-w", help="Filter DIM=VALUE; repeat it (same DIM: any of the values)."),
]


def _settings() -> Settings:
    settings = load_settings(state.config)
    if state.store_url:
        settings.store.url = state.store_url
    return settings


def _store(settings: Settings) -> Store:
    return open_store(settings.store.url)


def _total(rows: list[dict[str, Any]]) -> Decimal:
    return sum((r["cost_usd"] for r in rows if r["cost_usd"] is not None), Decimal(0))


def _emit(rows: list[dict[str, Any]], columns: list[str], fmt: OutFormat, **kw: Any) -> None:
    text = render(rows, columns, fmt.value, console=out, **kw)
    if text is not None:
        typer.echo(text)


@app.callback()
def _root(
    config: Annotated[str | None, typer.Option("--config", "-c", help="Config file (default ./aispend.toml or $AISPEND_CONFIG).")] = None,
    store: Annotated[str | None, typer.Option("--store", help="Ledger location, overriding store.url.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    state.config, state.store_url, state.debug = config, store, debug


@app.command("version")
def version_cmd() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command("import")
def import_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Files to import: CSV, CSV.gz, Parquet, JSON pages, PDF or .eml.")],
    file_format: Annotated[str | None, typer.Option("--format", help="Force a format (default: detect). See the list above.")] = None,
    mapping: Annotated[str | None, typer.Option(help="The [csv_mappings.NAME] to read a CSV with.")] = None,
    source: Annotated[str | None, typer.Option(help="Source name recorded on the rows (default: the format).")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Load valid rows; keep rejects (see `aispend rejects`).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Import billing files into the ledger.

    Formats (detected from the file when --format is omitted): focus (FOCUS 1.0-1.3), csv (a
    [csv_mappings.NAME] table or a built-in preset), aws-cur (CUR legacy and 2.0, manifests),
    azure (EA/MCA cost details), gcp (billing export), openai / openai-usage (Costs and Usage API
    pages, dashboard CSV), anthropic / anthropic-usage (cost and usage reports, console CSV),
    receipt (invoice PDF, receipt e-mail, invoice-lines CSV).

    Re-importing a file replaces what it loaded before (same content, or same path and source), in
    one transaction: nothing is ever counted twice. A malformed row fails the whole file with its
    line, column and reason, and the ledger is left as it was, unless --skip-invalid.
    """
    from .ingest import import_file
    from .pricing import Pricer

    settings = _settings()
    results, failed = [], 0
    with _store(settings) as store:
        pricer = Pricer.for_store(store, settings)
        for path in paths:
            try:
                with _progress() as progress:
                    task = progress.add_task(f"{path.name}", total=None)
                    result = import_file(store, settings, path, fmt=file_format, mapping=mapping, source=source,
                                         skip_invalid=skip_invalid, pricer=pricer,
                                         on_rows=lambda n, t=task: progress.advance(t, n))
            except AispendError as exc:
                failed += 1
                err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
                continue
            results.append(result)
            if not as_json:
                replaced = f", replaced {result.replaced_rows:,} rows of an earlier import" if result.replaced_batches else ""
                rejected = f", {result.rows_rejected:,} rejected (`aispend rejects`)" if result.rows_rejected else ""
                err.print(f"{path}: {result.rows_loaded:,} rows as {result.format} (source {result.source}){replaced}{rejected}",
                          highlight=False, markup=False)
    if as_json:
        typer.echo(json.dumps([{"path": r.path, "format": r.format, "source": r.source, "batch_id": r.batch_id,
                                "rows_loaded": r.rows_loaded, "rows_rejected": r.rows_rejected,
                                "replaced_rows": r.replaced_rows} for r in results], indent=2))
    if failed:
        raise typer.Exit(1)


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed:,} rows"), TimeElapsedColumn(), console=err, transient=True,
                    disable=not err.is_terminal)


@app.command("report")
def report_cmd(
    by: Annotated[str, typer.Option(help="Comma-separated dimensions to group by, e.g. provider,model.")] = "provider",
    month: MonthOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    granularity: Annotated[str | None, typer.Option(help="day, week or month: one row per period.")] = None,
    where: WhereOpt = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Spend by any dimensions over a window: cost_usd, tokens and requests.

    Dimensions: provider, publisher, service, service_category, model, model_raw, sku, region,
    service_tier, charge_category, billing_period, billing_currency, cost_source, pricing_status,
    account_id, project, api_key_id, environment, owner, feature, customer, experiment, source,
    source_type. The footer counts unpriced rows: their cost is unknown, never counted as $0.
    """
    dims = [d.strip() for d in by.split(",") if d.strip()]
    window = Window.parse(month, start, end)
    with _store(_settings()) as store:
        report = spend_report(store, dims, window, granularity, parse_where(where))
    total = _total(report.rows)
    title = f"Spend by {', '.join(dims) or 'total'}" + (f" ({month})" if month else "")
    notes = report.footer.lines()
    if fmt is OutFormat.table:
        notes = [f"total {total:,.2f} USD over {report.footer.rows:,} ledger rows", *notes]
    else:
        for line in report.footer.lines():
            err.print(f"note: {line}", highlight=False, markup=False)
    _emit(report.rows, report.columns, fmt, title=title, footer=notes)


@app.command("export")
def export_cmd(
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv, parquet or focus (FOCUS 1.2, validated).")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="File to write.")],
    month: MonthOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    where: WhereOpt = None,
) -> None:
    """Export ledger rows: CSV, Parquet, or FOCUS 1.2 (checked against the FOCUS 1.2 rules)."""
    from .export import export

    window = Window.parse(month, start, end)
    parsed = parse_where(where)
    if any(len(v) > 1 for v in parsed.values()):
        raise typer.BadParameter("export takes one value per --where dimension", param_hint="--where")
    filters = {k: v[0] for k, v in parsed.items()}
    with _store(_settings()) as store:
        result = export(store, fmt, out_path, filters=filters or None, start=window.start, end=window.end)
    err.print(f"{result.path}: {result.rows:,} rows as {fmt}", highlight=False, markup=False)


@app.command("demo")
def demo_cmd(
    workdir: Annotated[Path, typer.Option("--dir", help="Where the demo's vendor files are written.")] = Path("aispend-demo"),
    months: Annotated[int, typer.Option(help="Months of history up to today.")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 7,
    today: Annotated[str | None, typer.Option(help="Pretend today is YYYY-MM-DD.")] = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Build a realistic multi-vendor ledger from vendor-format files, then show this month.

    The files are written under --dir and loaded through the real import path, so re-running the
    demo replaces its rows rather than adding to them.
    """
    from .demo import run_demo

    settings = _settings()
    day = date.fromisoformat(today) if today else datetime.now(UTC).date()
    with _store(settings) as store:
        result = run_demo(store, settings, workdir, today=day, seed=seed, months=months,
                          on_file=lambda p, r: err.print(f"loaded {p.name}: {r.rows_loaded:,} rows", highlight=False, markup=False))
        month = day.strftime("%Y-%m")
        report = spend_report(store, ["provider"], Window.parse(month=month))
    err.print(f"demo ledger: {result.rows:,} rows from {len(result.files)} files, {result.start} to {result.end}, "
              f"in {settings.store.url}", highlight=False, markup=False)
    notes = [f"total {_total(report.rows):,.2f} USD month to date; try `aispend report --by model,feature --month {month}`",
             *report.footer.lines()]
    _emit(report.rows, report.columns, fmt, title=f"This month ({month}) by provider", footer=notes)


@app.command("price")
def price_cmd() -> None:
    """Re-price every ledger row with the current price book and [pricing] settings.

    Imports price rows as they load; run this after changing overrides, discounts, tier
    multipliers or FX rates so history reflects them. One transaction: all rows or none.
    """
    from .pricing import reprice

    settings = _settings()
    with _store(settings) as store, _progress() as progress:
        task = progress.add_task("pricing", total=None)
        rows = reprice(store, settings, on_rows=lambda n: progress.advance(task, n))
        unpriced = store.query("SELECT count(*) FROM ledger WHERE pricing_status = 'unpriced'")[0][0]
    err.print(f"re-priced {rows:,} rows; {unpriced:,} unpriced (model not in the price book)", highlight=False, markup=False)


fx_app = typer.Typer(help="Dated exchange rates: rows keep their currency; cost_usd uses the rate of their day.",
                     no_args_is_help=True)
app.add_typer(fx_app, name="fx")


@fx_app.command("import")
def fx_import_cmd(
    path: Annotated[Path, typer.Argument(help="ECB-style rates CSV (Date,USD,JPY,... per EUR; .zip too) or currency,day,usd_rate.")],
    reprice_after: Annotated[bool, typer.Option("--reprice/--no-reprice", help="Convert already-loaded rows with the new rates.")] = True,
) -> None:
    """Import dated FX rates (re-importing replaces the same currency and day)."""
    from .fx import import_fx
    from .pricing import reprice

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
    from .fx import list_fx

    with _store(_settings()) as store:
        rows = list_fx(store, currency)
    _emit(rows, ["currency", "first_day", "last_day", "days", "latest_usd_rate"], fmt, title="FX rates (USD per unit)")


@app.command("rejects")
def rejects_cmd(
    batch: Annotated[str | None, typer.Option(help="Only this import batch id.")] = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Rows rejected by imports run with --skip-invalid: file, line, column, reason."""
    sql = ("SELECT r.batch_id, r.file, r.line, r.column_name, r.reason, r.value FROM import_rejects r "
           "JOIN imports i USING (batch_id) WHERE i.replaced_by IS NULL")
    params: list[Any] = []
    if batch:
        sql += " AND r.batch_id = ?"
        params.append(batch)
    cols = ["batch_id", "file", "line", "column_name", "reason", "value"]
    with _store(_settings()) as store:
        rows = [dict(zip(cols, r, strict=True)) for r in store.query(sql + " ORDER BY r.file, r.line", params)]
    _emit(rows, cols, fmt, title="Rejected rows")


@app.command("imports")
def imports_cmd(fmt: FormatOpt = OutFormat.table) -> None:
    """Import history: every file loaded, its rows and rejects, and what replaced it."""
    cols = ["batch_id", "source", "path", "format", "rows_loaded", "rows_rejected", "imported_at", "replaced_by"]
    with _store(_settings()) as store:
        rows = [dict(zip(cols, r, strict=True)) for r in store.query(f"SELECT {', '.join(cols)} FROM imports ORDER BY imported_at")]
    _emit(rows, cols, fmt, title="Imports")


sources_app = typer.Typer(help="Read-only API sources: the [sources.NAME] tables of aispend.toml.",
                          no_args_is_help=True)
app.add_typer(sources_app, name="sources")
SYNC_COLUMNS = ["source", "window", "pages", "requests", "rows", "status", "error"]


@sources_app.command("list")
def sources_list_cmd(fmt: FormatOpt = OutFormat.table) -> None:
    """Configured sources: type, key reference (env:NAME / file:PATH, never the value), base URL, cursor."""
    from .connectors import make_connector

    settings = _settings()
    cursors: dict[str, Any] = {}
    if settings.sources and Path(settings.store.url).exists():
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
    from .connectors import make_connector
    from .sync import source_names

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


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise AispendError(f"{option} {value!r} is not YYYY-MM-DD") from None


@app.command("sync")
def sync_cmd(
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Only this source; repeat it.")] = None,
    start: StartOpt = None,
    end: EndOpt = None,
    granularity: Annotated[str, typer.Option(help="Usage bucket width: 1d or 1h (costs are always daily).")] = "1d",
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Pull every API source's window and replace it in the ledger (read-only on the vendor side).

    The window is --start..--end, else [cursor - restatement_days, tomorrow) (first run: 30 days).
    Raw pages are landed with the window; each source's rows and cursor change in one transaction,
    so a failure leaves the ledger as it was. One failing source does not stop the others; the
    exit code is 1 if any failed.
    """
    from .sync import sync

    settings = _settings()

    def progress(event: Any) -> None:
        r = event.result
        if event.kind == "start":
            err.print(f"{r.source}: syncing {r.window}", highlight=False, markup=False)
        elif event.kind == "page" and err.is_terminal:
            err.print(f"  {r.source}: {event.endpoint} page {event.page_no}", highlight=False, markup=False)
        elif event.kind == "done":
            err.print(f"{r.source}: {r.pages} pages, {r.rows:,} rows ({r.seconds:.1f}s)", highlight=False, markup=False)

    with _store(settings) as store:
        results = sync(store, settings, source, _date(start, "--start"), _date(end, "--end"), granularity, progress)
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
    from .sync import renormalize

    settings = _settings()
    with _store(settings) as store:
        results = renormalize(store, settings, source)
    rows = [{"source": r.source, "window": r.window, "pages": r.pages, "requests": 0, "rows": r.rows,
             "status": r.status, "error": r.error} for r in results]
    _emit(rows, SYNC_COLUMNS, fmt, title="Renormalize")


@app.command("schema")
def schema_cmd(fmt: FormatOpt = OutFormat.table) -> None:
    """The ledger's columns, their types and meaning (also in docs/schema.md)."""
    from .schema import LEDGER_COLUMNS

    rows = [{"column": c.name, "type": c.sql, "group": c.group, "meaning": c.doc} for c in LEDGER_COLUMNS]
    _emit(rows, ["column", "type", "group", "meaning"], fmt, title="Ledger columns")


def main() -> None:
    try:
        code = app(standalone_mode=False)  # returns the code of a typer.Exit
    except AispendError as exc:
        if state.debug:
            raise
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors come through here too
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if state.debug:
            raise
        err.print(f"[red]unexpected error:[/red] {type(exc).__name__}: {escape(str(exc))} (run with --debug for the traceback)",
                  highlight=False, markup=False)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
