"""What evaluation produces and the outbox keeps: an :class:`Alert` carrying a channel-neutral :class:`Message`.

An alert's identity for delivery is ``(channel, kind, scope, period)``: its **group**. Within a
group only a higher ``level`` (a higher threshold percent, a higher severity) is delivered again;
the same alert reaching one channel through two rules is delivered once. ``level`` is the
threshold percent for budgets and the severity's rank for anomalies and data-quality findings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = {
    "budget": "actual spend crossed a threshold of a budget",
    "budget_forecast": "the forecast for the period crossed a forecast threshold of a budget",
    "anomaly": "an anomaly at or above the rule's severity",
    "data_quality": "a doctor finding: a source failed or stopped syncing, a model is unpriced, ...",
}
SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class Message:
    """What a person reads, whatever the channel; ``data`` holds the exact figures for machines."""

    title: str
    severity: str  # info | warning | critical: colours and emoji
    summary: str  # what breached and by how much
    facts: list[tuple[str, str]] = field(default_factory=list)
    contributors: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)  # (by, [(value, $)])
    link: str | None = None
    owners: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # JSON-ready: money as exact decimal strings

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Message:
        d = json.loads(text)
        return cls(d["title"], d["severity"], d["summary"], [tuple(f) for f in d["facts"]],
                   [(by, [tuple(v) for v in values]) for by, values in d["contributors"]], d["link"], d["owners"],
                   d["data"])


@dataclass(frozen=True)
class Alert:
    rule: str
    kind: str  # a key of KINDS
    scope: str  # budget name, anomaly id, or "check: finding scope"
    period: str  # 2026-04, FY2027, the anomaly's day, the month of a data-quality finding
    level: int
    level_label: str  # 80%, critical, error
    channels: tuple[str, ...]
    message: Message

    def group_key(self, channel: str) -> str:
        return _hash([channel, self.kind, self.scope, self.period])

    def row_id(self, channel: str) -> str:
        return _hash([self.group_key(channel), self.level])


def _hash(parts: list[Any]) -> str:
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()[:24]
