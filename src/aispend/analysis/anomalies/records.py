"""Stored anomalies (table ``anomalies``, migration 4): what alerts and the dashboard read.

Recording a detection replaces every stored anomaly that starts in its window, in one
transaction, so re-running a window converges instead of piling up. Ids are stable (kind, scope,
start), so an anomaly found again keeps its id and its ``first_detected_at``: alerting delivers
each id once, and an ongoing incident (a silence, a run of jumping hours) updates in place.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from ...config import AnomalySettings
from ...schema import MONEY_ARROW, MONEY_SCALE
from ...store import Store
from .detect import Detection, detect_anomalies
from .model import SEVERITIES

TABLE = "anomalies"
_TEXT = ("id", "kind", "scope")
ARROW = pa.schema(
    [pa.field(c, pa.string()) for c in _TEXT]
    + [pa.field("period_start", pa.timestamp("us")), pa.field("period_end", pa.timestamp("us")),
       pa.field("metric", pa.string())]
    + [pa.field(c, MONEY_ARROW) for c in ("expected", "actual", "impact_usd")]
    + [pa.field(c, pa.string()) for c in ("severity", "explanation")]
    + [pa.field("first_detected_at", pa.timestamp("us")), pa.field("detected_at", pa.timestamp("us"))]
)
COLUMNS = tuple(ARROW.names)
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)


def record_anomalies(store: Store, detection: Detection) -> Detection:
    """Replace the window's stored anomalies with ``detection``'s; sets ``detection.replaced``."""
    now = datetime.now(UTC).replace(tzinfo=None)
    window = [detection.since, detection.until]
    where = "period_start >= ? AND period_start < ?"
    with store.transaction() as tx:
        first_seen = dict(tx.execute(f"SELECT id, first_detected_at FROM {TABLE} WHERE {where}", window))
        tx.execute(f"DELETE FROM {TABLE} WHERE {where}", window)
        rows = [{**a.as_row(), "first_detected_at": first_seen.get(a.id, now), "detected_at": now}
                for a in detection.anomalies]
        for row in rows:
            for c in ("expected", "actual", "impact_usd"):
                row[c] = row[c].quantize(MONEY_QUANTUM)  # decimal128(38, 18) takes 18 places at most
        tx.append(TABLE, pa.Table.from_pylist(rows, schema=ARROW))
    detection.replaced = len(first_seen)
    return detection


def run_anomalies(store: Store, settings: AnomalySettings, since: datetime | None = None,
                  until: datetime | None = None) -> Detection:
    """Detect over the window and store the result (see :func:`detect_anomalies`)."""
    return record_anomalies(store, detect_anomalies(store, settings, since, until))


def stored_anomalies(store: Store, since: datetime | None = None, until: datetime | None = None,
                     kinds: list[str] | None = None, min_severity: str = "info") -> list[dict[str, Any]]:
    """Stored anomalies, newest first, with ``scope`` as a dict: for alerts and the dashboard."""
    t = store.table(TABLE)
    preds = [t.severity.isin(list(SEVERITIES[SEVERITIES.index(min_severity):]))]
    if since is not None:
        preds.append(t.period_start >= since)
    if until is not None:
        preds.append(t.period_start < until)
    if kinds:
        preds.append(t.kind.isin(list(kinds)))
    rows = t.filter(preds).order_by([t.period_start.desc(), t.impact_usd.desc()]).to_pyarrow().to_pylist()
    for row in rows:
        row["scope"] = json.loads(row["scope"])
    return rows

