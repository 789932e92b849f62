"""Ledger commands: import, report, export, demo, price, rejects, imports, schema, version."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from .. import __version__
from ..analysis import Window, parse_where, spend_report
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
    _total,
    app,
    err,
)


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
    from ..ingest import import_file
    from ..pricing import Pricer

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


report_app = typer.Typer(no_args_is_help=False, invoke_without_command=True)
app.add_typer(report_app, name="report")


@report_app.callback()
def report_cmd(
    ctx: typer.Context,
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
    Spend no rule attributed shows as "(unattributed)" (filter it with --where owner="(unattributed)").

    Also: `aispend report unit --by feature` (cost per request and per 1k tokens) and
    `aispend report margin --by customer` (revenue minus AI cost).
    """
    if ctx.invoked_subcommand is not None:
        return
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
    from ..export import export

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
    from ..demo import run_demo

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
    from ..pricing import reprice

    settings = _settings()
    with _store(settings) as store, _progress() as progress:
        task = progress.add_task("pricing", total=None)
        rows = reprice(store, settings, on_rows=lambda n: progress.advance(task, n))
        unpriced = store.query("SELECT count(*) FROM ledger WHERE pricing_status = 'unpriced'")[0][0]
    err.print(f"re-priced {rows:,} rows; {unpriced:,} unpriced (model not in the price book)", highlight=False, markup=False)


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


@app.command("schema")
def schema_cmd(fmt: FormatOpt = OutFormat.table) -> None:
    """The ledger's columns, their types and meaning (also in docs/schema.md)."""
    from ..schema import LEDGER_COLUMNS

    rows = [{"column": c.name, "type": c.sql, "group": c.group, "meaning": c.doc} for c in LEDGER_COLUMNS]
    _emit(rows, ["column", "type", "group", "meaning"], fmt, title="Ledger columns")
