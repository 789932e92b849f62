"""Spend rollups over the ledger, through Ibis so every engine runs the same expression.

A report is ``group by`` any ledger dimensions (optionally per day/week/month) over a UTC window,
with equality filters. Its footer always counts what the totals cannot include: rows whose model
the price book does not know (cost unknown, never $0) and rows whose currency has no USD rate.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import ibis

from ..errors import AispendError
from ..output import exact as exact_text
from ..schema import DIMENSIONS, TOKEN_COLUMNS
from ..store import Store

GRANULARITIES = {"day": "D", "week": "W", "month": "M"}
METRICS = ("cost_usd", "input_tokens", "output_tokens", "cache_read_tokens", "requests")


class ReportError(AispendError):
    pass


@dataclass(frozen=True)
class Window:
    start: datetime | None = None  # inclusive, UTC
    end: datetime | None = None  # exclusive, UTC

    @classmethod
    def parse(cls, month: str | None = None, start: str | None = None, end: str | None = None) -> Window:
        if month and (start or end):
            raise ReportError("give either --month or --start/--end, not both")
        if month:
            try:
                first = datetime.strptime(month, "%Y-%m")
            except ValueError:
                raise ReportError(f"--month {month!r} is not YYYY-MM") from None
            days = calendar.monthrange(first.year, first.month)[1]
            return cls(first, datetime.combine(date(first.year, first.month, days), datetime.min.time()) + _DAY)
        return cls(_parse_day(start, "--start"), _parse_day(end, "--end"))


_DAY = datetime(2000, 1, 2) - datetime(2000, 1, 1)


def _parse_day(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        raise ReportError(f"{flag} {value!r} is not a date (YYYY-MM-DD)") from None


@dataclass
class Footer:
    rows: int = 0
    unpriced_rows: int = 0
    unpriced_tokens: int = 0
    unconverted_rows: int = 0
    unconverted: dict[str, Decimal] = field(default_factory=dict)
    overlap_rows: int = 0  # estimated rows superseded by billed rows of their provider and day
    overlap_usd: Decimal = Decimal(0)

    def lines(self) -> list[str]:
        out = []
        if self.unpriced_rows:
            out.append(
                f"{self.unpriced_rows} row(s) with {self.unpriced_tokens:,} tokens are unpriced (model not in the "
                "price book): their cost is not in these totals. Add a [[pricing.overrides]] entry."
            )
        if self.unconverted_rows:
            amounts = ", ".join(f"{exact_text(v)} {k}" for k, v in sorted(self.unconverted.items()))
            out.append(f"{self.unconverted_rows} row(s) billed in a currency without a USD rate ({amounts}): "
                       "run `aispend fx import RATES.csv` or add it under [pricing.fx].")
        if self.overlap_rows:
            out.append(
                f"{self.overlap_rows} estimated row(s) ({exact_text(self.overlap_usd)} USD) fall on a provider and day "
                "that has billed rows: the bill is the money, the usage rows are the tokens (never both)."
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "unpriced_rows": self.unpriced_rows, "unpriced_tokens": self.unpriced_tokens,
                "unconverted_rows": self.unconverted_rows,
                "unconverted": {k: str(v) for k, v in self.unconverted.items()},
                "overlap_rows": self.overlap_rows, "overlap_usd": str(self.overlap_usd)}


@dataclass
class Report:
    columns: list[str]
    rows: list[dict[str, Any]]
    footer: Footer


def parse_where(items: list[str] | None) -> dict[str, list[str]]:
    """``["provider=aws", "provider=azure", "environment=prod"]`` -> OR within a key, AND across."""
    where: dict[str, list[str]] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ReportError(f"--where {item!r} is not DIM=VALUE")
        check_dimensions([key])
        where.setdefault(key, []).append(value)
    return where


def check_dimensions(dims: list[str]) -> None:
    unknown = [d for d in dims if d not in DIMENSIONS]
    if unknown:
        raise ReportError(f"unknown dimension(s) {', '.join(unknown)}; choose from: {', '.join(DIMENSIONS)}")


def counted_ledger(store: Store) -> Any:
    """The ledger as every total counts it: money from the bill, tokens from the usage report.

    A vendor seen twice (its cost report as billed rows, its usage report as estimated rows) must
    not be added up. On a provider and day that has both kinds of row, estimated rows keep their
    tokens but their cost is superseded by the bill (``superseded`` true, ``cost_usd`` 0, the
    estimate kept in ``estimated_usd``), and billed rows keep their cost but not their tokens
    (the usage report counts the same tokens, by model and key). Decided over the whole ledger,
    so a filter never changes what counts. Every analysis that sums starts from this table.
    """
    t = store.table("ledger")
    day = t.period_start.truncate("D")
    kinds = t.filter(t.cost_source.isin(["billed", "estimated"])).group_by(k_provider=t.provider, k_day=day)
    kinds = kinds.aggregate(k_billed=(t.cost_source == "billed").any(), k_estimated=(t.cost_source == "estimated").any())
    x = t.mutate(_day=day)
    j = x.left_join(kinds, [x.provider == kinds.k_provider, x._day == kinds.k_day])
    both = (j.k_billed & j.k_estimated).fill_null(False)
    superseded = both & (j.cost_source == "estimated")
    tokens_elsewhere = both & (j.cost_source == "billed")
    zero = ibis.literal(0).cast(j.cost_usd.type())
    no_tokens = {c: ibis.ifelse(tokens_elsewhere, ibis.null(j[c].type()), j[c]) for c in TOKEN_COLUMNS}
    return j.mutate(
        superseded=superseded,
        estimated_usd=j.cost_usd,
        cost_usd=ibis.ifelse(superseded, zero, j.cost_usd),
        **no_tokens,
    ).drop("k_provider", "k_day", "k_billed", "k_estimated", "_day")


def _filtered(store: Store, window: Window, where: dict[str, list[str]]) -> Any:
    t = counted_ledger(store)
    preds = []
    if window.start is not None:
        preds.append(t.period_start >= window.start)
    if window.end is not None:
        preds.append(t.period_start < window.end)
    for key, values in where.items():
        preds.append(t[key].isin(values))
    return t.filter(preds) if preds else t


def footer(store: Store, window: Window = Window(), where: dict[str, list[str]] | None = None) -> Footer:
    t = _filtered(store, window, where or {})
    tokens = t.input_tokens.fill_null(0) + t.output_tokens.fill_null(0)
    # Unpriced rows whose cost is unknown; a billed row of an unknown model still has its bill.
    unpriced = (t.pricing_status == "unpriced") & t.cost_usd.isnull()
    unconverted = (t.cost_source == "billed") & t.cost_usd.isnull() & t.billed_cost.notnull()
    agg = t.aggregate(
        rows=t.count(),
        unpriced_rows=unpriced.sum(),
        unpriced_tokens=tokens.sum(where=unpriced),
        unconverted_rows=unconverted.sum(),
    ).to_pyarrow().to_pylist()[0]
    f = Footer(**{k: int(v or 0) for k, v in agg.items()})
    if f.unconverted_rows:
        by_cur = (
            t.filter(unconverted)
            .group_by("billing_currency")
            .aggregate(amount=t.billed_cost.sum())
            .to_pyarrow()
            .to_pylist()
        )
        f.unconverted = {r["billing_currency"] or "?": r["amount"] for r in by_cur}
    f.overlap_rows, f.overlap_usd = _overlap(t)
    return f


def _overlap(t: Any) -> tuple[int, Decimal]:
    """Superseded estimated rows: counted for their tokens, not their cost (see counted_ledger)."""
    hit = t.filter(t.superseded)
    agg = hit.aggregate(rows=hit.count(), usd=hit.estimated_usd.sum()).to_pyarrow().to_pylist()[0]
    return int(agg["rows"] or 0), agg["usd"] or Decimal(0)


def spend_report(
    store: Store,
    by: list[str],
    window: Window = Window(),
    granularity: str | None = None,
    where: dict[str, list[str]] | None = None,
) -> Report:
    check_dimensions(by)
    if granularity is not None and granularity not in GRANULARITIES:
        raise ReportError(f"--granularity {granularity!r}: choose day, week or month")
    where = where or {}
    t = _filtered(store, window, where)
    keys: list[Any] = [t[d] for d in by]
    columns = list(by)
    if granularity:
        keys.insert(0, t.period_start.truncate(GRANULARITIES[granularity]).name("period"))
        columns.insert(0, "period")
    aggs = {m: t[m].sum() for m in METRICS}
    expr = t.group_by(keys).aggregate(**aggs) if keys else t.aggregate(**aggs)
    order = ([expr.period] if granularity else []) + [expr.cost_usd.desc(nulls_first=False), *[expr[d] for d in by]]
    rows = expr.order_by(order).to_pyarrow().to_pylist()
    for row in rows:
        if granularity:
            row["period"] = row["period"].date().isoformat()
        for m in METRICS[1:]:
            row[m] = int(row[m] or 0)
    return Report(columns + list(METRICS), rows, footer(store, window, where))
