"""Work through the outbox: send what is due, record what happened, keep a failing channel apart.

A channel that fails is tried once per run: its other due rows wait for the next run (they are not
charged an attempt), so one dead endpoint costs one timeout, and every other channel still gets
its alerts. Each failure is kept as a :class:`Failure` for the run's report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..config import Settings
from ..store import Store
from .channels import DeliveryError, send
from .outbox import Delivery, due, mark_failed, mark_sent

log = logging.getLogger("aispend.alerts")


@dataclass(frozen=True)
class Failure:
    channel: str
    error: str
    status: str  # pending (will retry) | failed (gave up)
    next_attempt_at: datetime | None
    waiting: int = 1  # rows of this channel left for a later run


@dataclass
class DeliveryReport:
    sent: list[Delivery] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


def deliver_pending(store: Store, settings: Settings, now: datetime,
                    sleep: Callable[[float], None] = time.sleep) -> DeliveryReport:
    """Send every due row; never raises for a channel's failure."""
    channels = {c.name: c for c in settings.alerts.channels}
    report = DeliveryReport()
    broken: dict[str, int] = {}  # channel -> index of its Failure
    for d in due(store, now):
        if d.channel in broken:
            i = broken[d.channel]
            f = report.failures[i]
            report.failures[i] = Failure(f.channel, f.error, f.status, f.next_attempt_at, f.waiting + 1)
            continue
        cfg = channels.get(d.channel)
        try:
            if cfg is None:
                raise DeliveryError(f"channel {d.channel} is no longer in [[alerts.channels]]")
            tries = send(cfg, d, sleep=sleep)
        except DeliveryError as exc:
            status, next_at = mark_failed(store, d, now, str(exc), max_attempts=settings.alerts.max_attempts,
                                          retry_seconds=settings.alerts.retry_seconds)
            log.info("alert %s to %s failed: %s", d.id, d.channel, exc)  # the run reports it; no echo in the CLI
            broken[d.channel] = len(report.failures)
            report.failures.append(Failure(d.channel, str(exc), status, next_at, 1 if status == "pending" else 0))
        else:
            mark_sent(store, d, now, tries)
            log.info("alert %s sent to %s (%s %s %s)", d.id, d.channel, d.kind, d.scope, d.level_label)
            report.sent.append(d)
    return report
