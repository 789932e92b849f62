"""One anomaly: what was unusual, in which scope, from when, expected vs actual, and what it cost.

``scope`` is the (dimension, value) pairs the detector grouped by, in the order configured, e.g.
``(("provider", "openai"), ("model", "gpt-4o"))``. ``impact_usd`` is signed: money spent above
what was expected (negative when spend stopped); severity grades its absolute value.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ...config import AnomalySettings

SEVERITIES = ("info", "warning", "critical")

# Every kind a detector emits, with the sentence `aispend anomalies --help` teaches it by.
KINDS = {
    "spend_spike": "a day's spend far above the same weekday of the trailing weeks (median and MAD, "
                   "adjusted for the trend so steady growth is not a spike)",
    "spend_vs_yesterday": "a day's spend above N x the day before (the simple rule, off by default)",
    "tokens_per_request": "input or output tokens per request jumped against the trailing days, per model "
                          "and project or feature (a prompt template change; hourly data shows it within the hour)",
    "new_model": "a model seen for the first time",
    "new_api_key": "an API key seen for the first time",
    "silent_scope": "a scope with steady daily spend has spent nothing for several days",
}

Scope = tuple[tuple[str, str], ...]
_USD_PLACES = Decimal("0.000001")


def new_kind(dimension: str) -> str:
    """``new_model``, ``new_api_key``; ``new_<dimension>`` for any other configured dimension."""
    return "new_api_key" if dimension == "api_key_id" else f"new_{dimension}"


def anomaly_id(kind: str, scope: Scope, start: datetime) -> str:
    """Stable across re-runs: the same kind, scope and start is the same anomaly."""
    key = json.dumps([kind, [list(p) for p in scope], start.isoformat()], separators=(",", ":"))
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def scope_text(scope: Scope) -> str:
    return ",".join(f"{k}={v}" for k, v in scope)


def usd(value: float) -> Decimal:
    """A statistic (a numpy float) as a money Decimal, to the micro-dollar."""
    return Decimal(repr(float(value))).quantize(_USD_PLACES)


def money(value: Decimal) -> str:
    """$1,234.56 for explanations (the exact figure is in the row)."""
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def severity(impact_usd: Decimal, settings: AnomalySettings) -> str:
    size = abs(impact_usd)
    if size >= settings.critical_usd:
        return "critical"
    return "warning" if size >= settings.warning_usd else "info"


@dataclass(frozen=True)
class Anomaly:
    kind: str
    scope: Scope
    start: datetime  # the period (day or hour) it starts in, UTC
    end: datetime  # exclusive: the last anomalous period's end
    metric: str  # what expected and actual measure: usd_per_day, input_tokens_per_request, ...
    expected: Decimal
    actual: Decimal
    impact_usd: Decimal
    severity: str
    explanation: str

    @property
    def id(self) -> str:
        return anomaly_id(self.kind, self.scope, self.start)

    def as_row(self) -> dict[str, object]:
        """The stored row (``anomalies`` table) minus the detection times."""
        return {"id": self.id, "kind": self.kind, "scope": json.dumps(dict(self.scope)),
                "period_start": self.start, "period_end": self.end, "metric": self.metric,
                "expected": self.expected, "actual": self.actual, "impact_usd": self.impact_usd,
                "severity": self.severity, "explanation": self.explanation}
