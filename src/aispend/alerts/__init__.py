"""Alerts: budget thresholds, anomalies and data-quality problems, told once to the right channel.

One run (:func:`run_alerts`, ``aispend alerts run``) is two steps with the outbox between them:

1. :func:`evaluate_alerts`: the rules (:mod:`.evaluate`) raise alerts; the new ones and the
   escalations are written to the ``alert_outbox`` table as pending, in one transaction
   (:mod:`.outbox`);
2. :func:`deliver_pending`: every due pending row is sent (:mod:`.channels`: Slack, Teams, a
   signed webhook, SMTP) and marked sent, or its retry scheduled with backoff (:mod:`.deliver`).

So a run killed between the steps delivers on the next run, exactly once; a re-run without change
sends nothing; a higher threshold or severity sends again. Delivery is at least once at the
channel's edge (a crash after the receiver accepted and before the row is marked would resend),
with a stable delivery id receivers can deduplicate on. docs/budgets-alerts.md is the reference.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from ..budgets import check_budgets
from ..config import Settings
from ..store import Store
from .channels import DeliveryError, signature
from .deliver import DeliveryReport, Failure, deliver_pending
from .evaluate import evaluate
from .model import KINDS, Alert, Message
from .outbox import Delivery, FailingChannel, enqueue, failing_channels, history, plan

__all__ = ["KINDS", "Alert", "AlertRun", "Delivery", "DeliveryError", "DeliveryReport", "FailingChannel", "Failure",
           "Message", "alert_history", "deliver_pending", "evaluate_alerts", "failing_channels", "run_alerts",
           "signature"]


@dataclass
class AlertRun:
    queued: list[Delivery] = field(default_factory=list)  # new rows this run (dry run: would be)
    sent: int = 0
    delivered: list[Delivery] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)  # attempts that failed in this run
    failing: list[FailingChannel] = field(default_factory=list)  # channels whose latest attempt failed
    dry_run: bool = False

    def failure_lines(self) -> list[str]:
        """One line per failing channel (this run's failures and earlier ones not yet recovered)."""
        return [f.line() for f in self.failing]


def _clock(now: datetime | None) -> datetime:
    """Naive UTC, like every timestamp in the store."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now


def evaluate_alerts(store: Store, settings: Settings, *, today: date | None = None,
                    now: datetime | None = None, dry_run: bool = False) -> list[Delivery]:
    """Evaluate the rules and queue what is new (``dry_run``: only say what would be queued)."""
    now = _clock(now)
    check_budgets(settings)
    alerts = evaluate(store, settings, today or now.date(), now, record=not dry_run)
    if dry_run:
        return plan(store, alerts, now)[0]
    return enqueue(store, alerts, now)


def run_alerts(store: Store, settings: Settings, *, today: date | None = None, now: datetime | None = None,
               dry_run: bool = False, sleep: Callable[[float], None] = time.sleep) -> AlertRun:
    """Evaluate, queue, deliver. ``today`` replays the evaluation as of that day; ``now`` is the clock."""
    now = _clock(now)
    run = AlertRun(evaluate_alerts(store, settings, today=today, now=now, dry_run=dry_run), dry_run=dry_run)
    if dry_run:
        return run
    report = deliver_pending(store, settings, now, sleep=sleep)
    run.delivered, run.sent, run.failures = report.sent, len(report.sent), report.failures
    run.failing = failing_channels(store)
    return run


def alert_history(store: Store, limit: int | None = 100, status: str | None = None) -> list[Delivery]:
    """The outbox, newest first (see :func:`.outbox.history`)."""
    return history(store, limit, status)
