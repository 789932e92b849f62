"""What each page shows, as plain data: the pages render it, the API returns it as JSON.

Each function takes a :class:`~.scoped.ScopedLedger` (so the principal's scope is already applied)
and composes library calls; none holds SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..analysis.report import GRANULARITIES, Window, parse_where
from ..errors import AispendError
from ..schema import DIMENSIONS
from .scoped import ScopedLedger, day_start, month_window

ZERO = Decimal(0)
MOVERS = 6


def total(rows: list[dict[str, Any]]) -> Decimal:
    return sum((r["cost_usd"] for r in rows if r.get("cost_usd") is not None), ZERO)


# --- overview --------------------------------------------------------------------------------------


def overview(led: ScopedLedger, as_of: date, stack: str = "provider", movers_by: str = "feature") -> dict[str, Any]:
    """Month to date, forecast with interval, last month, budgets, top movers, daily spend, anomalies."""
    _, fc = led.forecast(as_of=as_of)
    month = month_window(as_of)
    assert month.start is not None
    elapsed = (as_of - month.start.date()).days
    prev_start = month_window(month.start.date() - timedelta(days=1)).start
    assert prev_start is not None
    movers = _movers(led, movers_by, Window(month.start, day_start(as_of)),
                     Window(prev_start, prev_start + timedelta(days=elapsed))) if elapsed else []
    daily_window = Window(day_start(as_of - timedelta(days=29)), day_start(as_of + timedelta(days=1)))
    daily = led.report([stack], daily_window, "day")
    return {
        "as_of": as_of, "month": fc.period, "scope": led.principal.owner,
        "month_to_date_usd": fc.actual, "month_to_date_through": as_of - timedelta(days=1),
        "forecast": fc.as_dict() | {"interval": fc.interval},
        "last_month_usd": fc.last_period,
        "budgets": led.budgets(today=as_of),
        "movers_by": movers_by, "top_movers": movers,
        "daily_by": stack, "daily": daily.rows, "daily_start": daily_window.start, "daily_end": daily_window.end,
        "anomalies": led.anomalies(since=day_start(as_of - timedelta(days=7))),
        "notes": daily.footer.lines(),
    }


def _movers(led: ScopedLedger, by: str, now: Window, before: Window) -> list[dict[str, Any]]:
    """The biggest changes between two equally long windows, by one dimension."""
    current = {r[by]: r["cost_usd"] or ZERO for r in led.report([by], now).rows}
    previous = {r[by]: r["cost_usd"] or ZERO for r in led.report([by], before).rows}
    rows = []
    for key in set(current) | set(previous):
        a, b = current.get(key, ZERO), previous.get(key, ZERO)
        pct = ((a - b) / b * 100).quantize(Decimal("0.1")) if b else None
        rows.append({by: key, "cost_usd": a, "previous_usd": b, "change_usd": a - b, "change_pct": pct})
    rows.sort(key=lambda r: (-abs(r["change_usd"]), str(r[by])))
    return rows[:MOVERS]


# --- explorer --------------------------------------------------------------------------------------


@dataclass
class Query:
    """A report request, from a URL's query string: the explorer's shareable state."""

    by: list[str] = field(default_factory=lambda: ["provider"])
    where: list[str] = field(default_factory=list)  # DIM=VALUE, as `--where`
    month: str | None = None
    start: str | None = None
    end: str | None = None
    granularity: str | None = None

    @classmethod
    def parse(cls, by: list[str] | None, where: list[str] | None, month: str | None, start: str | None,
              end: str | None, granularity: str | None) -> Query:
        dims = [d.strip() for item in (by or []) for d in item.split(",") if d.strip()]
        q = cls(dims if by is not None else ["provider"], [w for w in (where or []) if w.strip()], month or None,
                start or None, end or None, granularity or None)
        if q.granularity is not None and q.granularity not in GRANULARITIES:
            raise AispendError(f"granularity {q.granularity!r}: choose day, week or month")
        return q

    @property
    def window(self) -> Window:
        return Window.parse(self.month, self.start, self.end)

    @property
    def filters(self) -> dict[str, list[str]]:
        return parse_where(self.where)

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """The query string pairs (for links that change one thing)."""
        q = {"by": ",".join(self.by), "month": self.month, "start": self.start, "end": self.end,
             "granularity": self.granularity} | changes
        pairs = [(k, str(v)) for k, v in q.items() if v not in (None, "") and k != "where"]
        return pairs + [("where", w) for w in changes.get("where", self.where)]


def explore(led: ScopedLedger, q: Query) -> dict[str, Any]:
    report = led.report(q.by, q.window, q.granularity, q.filters)
    return {"query": q, "columns": report.columns, "rows": report.rows, "total_usd": total(report.rows),
            "footer": report.footer, "notes": report.footer.lines(), "dimensions": DIMENSIONS}


# --- customers ---------------------------------------------------------------------------------------


def customers(led: ScopedLedger, window: Window) -> dict[str, Any]:
    """Cost per customer (and, for unscoped users, revenue and margin)."""
    costs = led.unit_costs(["customer"], window)
    rows = [dict(r) for r in costs.rows]
    margin_notes: list[str] = []
    if led.principal.owner is None:
        m = led.margin("customer", window)
        by_key = {r["customer"]: r for r in m.rows}
        for r in rows:
            found = by_key.get(r["customer"], {})
            r.update({k: found.get(k) for k in ("revenue_usd", "margin_usd", "margin_pct")})
        margin_notes = m.lines()[:1]
    columns = ["customer", "cost_usd", "requests", "cost_per_request", "cost_per_1k_tokens"]
    if led.principal.owner is None:
        columns += ["revenue_usd", "margin_usd", "margin_pct"]
    return {"columns": columns, "rows": rows, "total_usd": total(rows), "notes": margin_notes + costs.footer.lines()}


def customer_report(led: ScopedLedger, customer: str, window: Window) -> dict[str, Any]:
    """What AI features cost one customer over the window: totals, by feature and model, the trend."""
    if not customer:
        raise AispendError("give the customer to report on: ?customer=NAME")
    where = {"customer": [customer]}
    overall = led.report([], window, None, where)
    features = led.unit_costs(["feature"], window, where)
    models = led.report(["model"], window, None, where)
    assert window.end is not None
    trend_start = (window.end.date().replace(day=1) - timedelta(days=160)).replace(day=1)
    trend = led.report([], Window(day_start(trend_start), window.end), "month", where)
    row = overall.rows[0] if overall.rows else {}
    return {
        "customer": customer, "scope": led.principal.owner,
        "start": window.start, "end": window.end, "last_day": (window.end - timedelta(days=1)).date(),
        "total_usd": row.get("cost_usd") or ZERO, "requests": row.get("requests", 0),
        "tokens": int(row.get("input_tokens", 0) or 0) + int(row.get("output_tokens", 0) or 0),
        "features": features.rows, "models": models.rows, "trend": trend.rows,
        "notes": overall.footer.lines(),
    }


def report_window(month: str | None, start: str | None, end: str | None, today: date) -> Window:
    """The given window, else the last complete month (what a customer report usually covers)."""
    if month or start or end:
        window = Window.parse(month, start, end)
        if window.start is None or window.end is None:
            raise AispendError("a customer report needs a whole window: give month, or both start and end")
        return window
    return month_window(today.replace(day=1) - timedelta(days=1))


def parse_day(value: str | None, name: str, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise AispendError(f"{name} {value!r} is not YYYY-MM-DD") from None


def now_utc() -> datetime:
    from datetime import UTC

    return datetime.now(UTC).replace(tzinfo=None)
