"""`aispend alerts run|history`: evaluate the rules, deliver through the outbox, show what happened."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from ..alerts import AlertRun, Delivery, alert_history, failing_channels, run_alerts
from ..errors import ConfigError
from ..schedule import run_locked
from .common import FormatOpt, OutFormat, _date, _emit, _settings, _store, app, err

alerts_app = typer.Typer(help="Alerts: budget thresholds, anomalies and data-quality problems sent to Slack, Teams, "
                         "webhooks and email, each once (docs/budgets-alerts.md).", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")

QUEUED_COLUMNS = ["channel", "rule", "kind", "scope", "period", "level", "title"]
HISTORY_COLUMNS = ["created_at", "status", "channel", "rule", "kind", "scope", "period", "level_label", "attempts",
                   "sent_at", "next_attempt_at", "last_error", "title"]
DATA_COLUMNS = ["id", "created_at", "status", "channel", "rule", "kind", "scope", "period", "level", "level_label",
                "attempts", "last_attempt_at", "sent_at", "next_attempt_at", "last_error", "title"]


@alerts_app.command("run")
def run_cmd(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be queued; write and send nothing.")] = False,
    today: Annotated[str | None, typer.Option("--today", metavar="DATE",
                                              help="Evaluate as of the end of this day, YYYY-MM-DD UTC (default today).")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for a running sync or alerts run to finish "
                                        "(default 0: skip at once).")] = 0.0,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Evaluate budgets, anomalies and data quality against [[alerts.rules]], queue what is new in the
    outbox, and deliver everything due.

    An alert goes to a channel once per (kind, scope, period) and again only at a higher threshold
    or severity. Failed deliveries stay queued and are retried by later runs with a doubling wait,
    up to [alerts] max_attempts. Takes the ledger lock, like `aispend sync`: a run that finds it
    held is skipped (or waits --wait seconds). Exit 1 while any channel is failing (its latest
    attempt failed; one line each on stderr); the other channels still get their alerts. Lists the
    deliveries queued by this run.
    """
    settings = _settings()
    day = _date(today, "--today")
    if not settings.alerts.rules and not any(b.channels for b in settings.budgets):
        raise ConfigError("nothing to alert on: add [[alerts.rules]] (or channels on a [[budgets]] entry) and "
                          "[[alerts.channels]] to aispend.toml (docs/budgets-alerts.md)")

    def work() -> AlertRun:
        with _store(settings) as store:
            return run_alerts(store, settings, today=day, dry_run=dry_run)

    run = work() if dry_run else run_locked("alerts run", work, settings=settings, wait=wait, notify=_note)
    rows = [_queued_row(d) for d in run.queued]
    verb = "would queue" if dry_run else "queued"
    summary = f"{len(run.queued)} alert(s) {verb}" + ("" if dry_run else f", {run.sent} sent")
    if fmt is OutFormat.table:
        if rows:
            _emit(rows, QUEUED_COLUMNS, fmt, title="Alerts " + ("(dry run)" if dry_run else "queued"))
        err.print(summary, highlight=False, markup=False)
    else:
        err.print(summary, highlight=False, markup=False)
        _emit(rows, QUEUED_COLUMNS, fmt)
    for line in run.failure_lines():
        err.print(f"failing: {line}", highlight=False, markup=False)
    if run.failing:
        raise typer.Exit(1)


@alerts_app.command("history")
def history_cmd(
    limit: Annotated[int, typer.Option(help="Newest N deliveries (0: all).")] = 100,
    status: Annotated[str | None, typer.Option(help="Only pending, sent, failed or superseded.")] = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """The outbox, newest first: every delivery, its status, attempts and last error; then each
    channel that is failing (deliveries waiting for a retry, or given up)."""
    settings = _settings()
    with _store(settings) as store:
        rows = alert_history(store, limit or None, status)
        notes = [f"failing: {f.line()}" for f in failing_channels(store)]
    if fmt is OutFormat.table:
        _emit([_minutes(d.as_dict()) for d in rows], HISTORY_COLUMNS, fmt, title="Alert deliveries", footer=notes)
        return
    for line in notes:
        err.print(line, highlight=False, markup=False)
    _emit([d.as_dict() for d in rows], DATA_COLUMNS, fmt)


def _queued_row(d: Delivery) -> dict[str, Any]:
    return {"channel": d.channel, "rule": d.rule, "kind": d.kind, "scope": d.scope, "period": d.period,
            "level": d.level_label, "title": d.message.title}


def _minutes(row: dict[str, Any]) -> dict[str, Any]:
    """Times to the minute, for people."""
    return {k: f"{v:%Y-%m-%d %H:%M}" if isinstance(v, datetime) else v for k, v in row.items()}


def _note(text: str) -> None:
    err.print(text, highlight=False, markup=False)
