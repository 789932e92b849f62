"""The outbox (table ``alert_outbox``): deliveries that survive a restart.

Evaluation writes every new delivery as ``pending`` in **one transaction** (:func:`enqueue`);
delivery then marks each row ``sent``, or counts the failed attempt and sets ``next_attempt_at``
(exponential backoff), or after ``max_attempts`` marks it ``failed``. A process killed between
the two finds its pending rows on the next run; a row is never queued twice (its id hashes the
group and level), and a group only takes a row above every level it has seen, so a re-run without
change queues nothing. A pending row overtaken by a higher level is ``superseded``: the channel
hears the highest level only.

Statuses: pending, sent, failed (gave up), superseded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..store import Store
from .model import Alert, Message

TABLE = "alert_outbox"
MAX_BACKOFF = timedelta(hours=6)
COLUMNS = ("id", "group_key", "rule", "kind", "scope", "period", "level", "level_label", "channel", "message",
           "status", "attempts", "created_at", "next_attempt_at", "last_attempt_at", "sent_at", "last_error")


@dataclass(frozen=True)
class Delivery:
    """One outbox row: an alert for one channel."""

    id: str
    group_key: str
    rule: str
    kind: str
    scope: str
    period: str
    level: int
    level_label: str
    channel: str
    message: Message
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Delivery:
        d = dict(zip(COLUMNS, row, strict=True))
        d["message"] = Message.from_json(d["message"])
        return cls(**d)

    def as_dict(self) -> dict[str, Any]:
        d = {c: getattr(self, c) for c in COLUMNS if c not in ("message", "group_key")}
        d["title"] = self.message.title
        return d


def plan(store: Store, alerts: list[Alert], now: datetime) -> tuple[list[Delivery], list[str]]:
    """(deliveries to queue, ids of pending rows they supersede), without writing anything."""
    levels: dict[str, list[tuple[str, int, str]]] = {}
    queued, superseded = [], []
    for alert in alerts:
        for channel in alert.channels:
            group = alert.group_key(channel)
            if group not in levels:
                levels[group] = [(r[0], r[1], r[2]) for r in store.query(
                    f"SELECT id, level, status FROM {TABLE} WHERE group_key = ?", [group])]
            seen = levels[group]
            if seen and max(level for _, level, _ in seen) >= alert.level:
                continue  # delivered (or queued) at this level or higher: only an escalation goes again
            superseded += [rid for rid, _, status in seen if status == "pending"]
            row = Delivery(alert.row_id(channel), group, alert.rule, alert.kind, alert.scope, alert.period, alert.level,
                           alert.level_label, channel, alert.message, "pending", 0, now, now)
            seen[:] = [(rid, level, "superseded" if status == "pending" else status) for rid, level, status in seen]
            seen.append((row.id, row.level, "pending"))
            queued = [q for q in queued if q.group_key != group]  # overtaken in this same evaluation
            queued.append(row)
    return queued, superseded


def enqueue(store: Store, alerts: list[Alert], now: datetime) -> list[Delivery]:
    """Queue what :func:`plan` says, in one transaction; return the new rows."""
    queued, superseded = plan(store, alerts, now)
    if not queued:
        return []
    with store.transaction() as tx:
        for rid in superseded:
            tx.execute(f"UPDATE {TABLE} SET status = 'superseded', next_attempt_at = NULL WHERE id = ? "
                       "AND status = 'pending'", [rid])
        for d in queued:
            tx.execute(f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)}) "
                       "ON CONFLICT (id) DO NOTHING",
                       [d.id, d.group_key, d.rule, d.kind, d.scope, d.period, d.level, d.level_label, d.channel,
                        d.message.to_json(), d.status, d.attempts, d.created_at, d.next_attempt_at, None, None, None])
    return queued


def due(store: Store, now: datetime) -> list[Delivery]:
    """Pending rows whose next attempt is due, oldest first."""
    rows = store.query(f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE status = 'pending' "
                       "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY created_at, id", [now])
    return [Delivery.from_row(r) for r in rows]


def mark_sent(store: Store, d: Delivery, now: datetime, tries: int) -> None:
    store.query(f"UPDATE {TABLE} SET status = 'sent', attempts = attempts + ?, sent_at = ?, last_attempt_at = ?, "
                "next_attempt_at = NULL, last_error = NULL WHERE id = ?", [tries, now, now, d.id])


def mark_failed(store: Store, d: Delivery, now: datetime, error: str, *, max_attempts: int,
                retry_seconds: int) -> tuple[str, datetime | None]:
    """Count the attempt; (new status, next attempt) with the wait doubling per failed attempt."""
    attempts = d.attempts + 1
    if attempts >= max_attempts:
        status, next_at = "failed", None
    else:
        status, next_at = "pending", now + min(timedelta(seconds=retry_seconds * 2 ** (attempts - 1)), MAX_BACKOFF)
    store.query(f"UPDATE {TABLE} SET status = ?, attempts = ?, last_attempt_at = ?, next_attempt_at = ?, "
                "last_error = ? WHERE id = ?", [status, attempts, now, next_at, error, d.id])
    return status, next_at


def history(store: Store, limit: int | None = 100, status: str | None = None) -> list[Delivery]:
    """Outbox rows, newest first."""
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    sql = f"SELECT {', '.join(COLUMNS)} FROM {TABLE} {where} ORDER BY created_at DESC, id"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [Delivery.from_row(r) for r in store.query(sql, params)]


@dataclass(frozen=True)
class FailingChannel:
    """A channel whose latest delivery attempt failed (a later success clears it)."""

    channel: str
    last_error: str
    last_attempt_at: datetime
    waiting: int  # pending rows (will be retried)
    given_up: int  # rows marked failed after max_attempts
    next_attempt_at: datetime | None

    def line(self) -> str:
        later = f"next try from {self.next_attempt_at:%Y-%m-%d %H:%M} UTC" if self.next_attempt_at else "no retry left"
        return (f"{self.last_error} [{self.waiting} alert(s) waiting, {self.given_up} given up; {later}; "
                f"last attempt {self.last_attempt_at:%Y-%m-%d %H:%M} UTC]")


def failing_channels(store: Store) -> list[FailingChannel]:
    """Channels whose most recent attempt failed, with what waits for them."""
    rows = store.query(f"""
        WITH latest AS (
          SELECT channel, last_error, last_attempt_at,
                 row_number() OVER (PARTITION BY channel ORDER BY last_attempt_at DESC, id) AS n
          FROM {TABLE} WHERE last_attempt_at IS NOT NULL),
        sent AS (SELECT channel, max(sent_at) AS last_sent FROM {TABLE} GROUP BY channel)
        SELECT l.channel, l.last_error, l.last_attempt_at,
               count(*) FILTER (WHERE o.status = 'pending'),
               count(*) FILTER (WHERE o.status = 'failed'
                                AND o.last_attempt_at > coalesce(s.last_sent, TIMESTAMP '1970-01-01')),
               min(o.next_attempt_at) FILTER (WHERE o.status = 'pending')
        FROM latest l JOIN {TABLE} o ON o.channel = l.channel LEFT JOIN sent s ON s.channel = l.channel
        WHERE l.n = 1 AND l.last_error IS NOT NULL
        GROUP BY l.channel, l.last_error, l.last_attempt_at ORDER BY l.channel""")
    return [FailingChannel(c, e, at, int(w), int(g), nxt) for c, e, at, w, g, nxt in rows]
