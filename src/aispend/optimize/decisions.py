"""Recommendation status, kept across runs: open, accepted, or dismissed with a reason.

The ``recommendations`` table (migration 7) holds one row per recommendation id (kind + scope).
A run's findings refresh the figures of **open** rows only: a dismissed recommendation is never
shown again as open however often it is found, and an accepted one keeps the estimate it was
accepted on, which is what ``aispend recommend track`` measures the actual savings against.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from ..errors import AispendError
from ..store import Store
from .recommend.base import Recommendation, plain

STATUSES = ("open", "accepted", "dismissed")
_COLUMNS = ("id", "kind", "scope", "title", "evidence", "monthly_savings_usd", "assumption", "confidence", "action",
            "status", "reason", "first_seen", "last_seen", "decided_at", "effective_from")


class RecommendationError(AispendError):
    pass


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def record(store: Store, found: list[Recommendation], now: datetime | None = None) -> list[Recommendation]:
    """Store a run's findings and give each its stored status; decided rows keep their figures."""
    now = now or _now()
    known = {i: (s, r) for i, s, r in store.query("SELECT id, status, reason FROM recommendations")}
    with store.transaction() as tx:
        for rec in found:
            figures = [rec.title, _json(rec.evidence), rec.monthly_savings_usd, rec.assumption, rec.confidence,
                       _json(rec.action) if rec.action else None]
            if rec.id not in known:
                tx.execute(f"INSERT INTO recommendations ({', '.join(_COLUMNS)}) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', NULL, ?, ?, NULL, NULL)",
                           [rec.id, rec.kind, _json(rec.scope), *figures, now, now])
            elif known[rec.id][0] == "open":
                tx.execute("UPDATE recommendations SET title = ?, evidence = ?, monthly_savings_usd = ?, assumption = ?, "
                           "confidence = ?, action = ?, last_seen = ? WHERE id = ?", [*figures, now, rec.id])
            else:
                tx.execute("UPDATE recommendations SET last_seen = ? WHERE id = ?", [now, rec.id])
                rec.status, rec.reason = known[rec.id]
    return found


def stored(store: Store, status: str | None = None, rec_id: str | None = None) -> list[Recommendation]:
    """Stored recommendations (optionally of one status, or one id), biggest savings first."""
    sql = f"SELECT {', '.join(_COLUMNS)} FROM recommendations WHERE 1 = 1"
    params: list[Any] = []
    if status:
        sql += " AND status = ?"
        params.append(status)
    if rec_id:
        sql += " AND id = ?"
        params.append(rec_id)
    out = []
    for row in store.query(sql + " ORDER BY monthly_savings_usd DESC, kind, id", params):
        r = dict(zip(_COLUMNS, row, strict=True))
        out.append(Recommendation(r["kind"], json.loads(r["scope"]), r["title"], json.loads(r["evidence"]),
                                  r["monthly_savings_usd"], r["assumption"], r["confidence"],
                                  json.loads(r["action"]) if r["action"] else None, r["status"], r["reason"],
                                  r["decided_at"], r["effective_from"]))
    return out


def accept(store: Store, rec_id: str, effective: date | None = None, now: datetime | None = None) -> Recommendation:
    """Mark accepted; ``effective`` is the day the change went live (default today), where tracking starts."""
    now = now or _now()
    _get(store, rec_id)
    start = datetime.combine(effective or now.date(), datetime.min.time())
    with store.transaction() as tx:
        tx.execute("UPDATE recommendations SET status = 'accepted', reason = NULL, decided_at = ?, effective_from = ? "
                   "WHERE id = ?", [now, start, rec_id])
    return _get(store, rec_id)


def dismiss(store: Store, rec_id: str, reason: str, now: datetime | None = None) -> Recommendation:
    """Mark dismissed, with the reason; it will not be listed as open again."""
    if not reason.strip():
        raise RecommendationError("dismissing needs a reason: --reason \"why this does not apply\"")
    _get(store, rec_id)
    with store.transaction() as tx:
        tx.execute("UPDATE recommendations SET status = 'dismissed', reason = ?, decided_at = ?, effective_from = NULL "
                   "WHERE id = ?", [reason.strip(), now or _now(), rec_id])
    return _get(store, rec_id)


def _get(store: Store, rec_id: str) -> Recommendation:
    found = stored(store, rec_id=rec_id)
    if not found:
        raise RecommendationError(f"no recommendation {rec_id!r}; run `aispend recommend` to list them with their ids")
    return found[0]


def _json(value: Any) -> str:
    return json.dumps(plain(value), sort_keys=True, default=str)
