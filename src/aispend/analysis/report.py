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

from ..attribution import UNATTRIBUTED
from ..errors import AispendError
from ..output import exact as exact_text
from ..schema import DIMENSIONS, TOKEN_COLUMNS
from ..store import Store

GRANULARITIES = {"day": "D", "week": "W", "month": "M"}
# Who and what spend is for: a row without one is in the "(unattributed)" bucket of reports.
BUCKETED = ("owner", "feature", "customer", "environment", "experiment")
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
    overlap_rows: int = 0  # rows superseded: estimates of billed days, invoices of itemized months
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
                f"{self.overlap_rows} row(s) ({exact_text(self.overlap_usd)} USD) are superseded, not added: estimates "
                "on days their provider has a bill for (the bill is the money, the usage rows the tokens), and "
                "invoice lines of months with an itemized bill, and rows split into allocated shares."
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
    """The ledger as every total counts it: each dollar once, tokens once.

    A vendor is often seen twice: its cost report (billed rows) and its usage report (estimated
    rows); its invoice (a receipt: one billed line per charge) and its itemized billing export.
    Adding them up would count the same money twice, so:

    * an **estimate** on a day its provider has a bill for (a billed row whose charge period
      touches that day, a monthly invoice line included) is superseded: its tokens count, its cost
      does not;
    * an **invoice** line (``source_type = 'receipt'``) of a billing month for which the provider
      also has itemized billed rows is superseded by them: the export is the detail, the invoice
      is what it must add up to (``aispend reconcile`` checks it);
    * a **billed** row on a day with usage rows of its provider keeps its cost, not its tokens
      (the usage report counts the same tokens, by model and key);
    * a row an **allocation** split (``allocation_sources``) is counted through its allocated
      shares (``cost_source = 'allocated'``: customer, feature, tokens from the events), never
      itself.

    Superseded rows have ``superseded`` true, ``cost_usd`` 0 and their own figure in
    ``superseded_usd``. Decided over the whole ledger, so a filter never changes what counts.
    Every analysis that sums starts from this table.
    """
    t = store.table("ledger")
    day = t.period_start.truncate("D")
    billed = t.filter(t.cost_source == "billed")
    spans = billed.select(c_provider=billed.provider, c_start=billed.period_start.truncate("D"),
                          c_end=billed.period_end.fill_null(billed.period_start + ibis.interval(days=1))).distinct()
    covered = spans.select(spans.c_provider, c_day=ibis.range(spans.c_start, spans.c_end, ibis.interval(days=1))
                           .unnest()).distinct()
    estimated = t.filter(t.cost_source == "estimated").select(e_provider=t.provider, e_day=day).distinct()
    is_receipt = t.source_type.fill_null("") == "receipt"
    itemized = billed.filter(billed.source_type.fill_null("") != "receipt")
    detailed = itemized.select(i_provider=itemized.provider, i_period=itemized.billing_period).distinct()
    x = t.mutate(_day=day)
    x = x.left_join(covered, [x.provider == covered.c_provider, x._day == covered.c_day])
    x = x.left_join(estimated, [x.provider == estimated.e_provider, x._day == estimated.e_day])
    x = x.left_join(detailed, [x.provider == detailed.i_provider, x.billing_period == detailed.i_period])
    split = store.table("allocation_sources").select(a_row_id="row_id").distinct()
    x = x.left_join(split, x.row_id == split.a_row_id)
    allocated = (x.cost_source != "allocated") & x.a_row_id.notnull()
    estimate_billed = (x.cost_source == "estimated") & x.c_provider.notnull()
    invoice_itemized = (x.cost_source == "billed") & is_receipt & x.i_provider.notnull()
    superseded = (estimate_billed | invoice_itemized | allocated).fill_null(False)
    tokens_elsewhere = (((x.cost_source == "billed") & x.e_provider.notnull()) | allocated).fill_null(False)
    zero = ibis.literal(0).cast(x.cost_usd.type())
    no_tokens = {c: ibis.ifelse(tokens_elsewhere, ibis.null(x[c].type()), x[c]) for c in (*TOKEN_COLUMNS, "requests")}
    return x.mutate(
        superseded=superseded,
        superseded_usd=ibis.ifelse(superseded, x.cost_usd, ibis.null(x.cost_usd.type())),
        cost_usd=ibis.ifelse(superseded, zero, x.cost_usd),
        **no_tokens,
    ).drop("c_provider", "c_day", "e_provider", "e_day", "i_provider", "i_period", "a_row_id", "_day")


def _where(t: Any, where: dict[str, list[str]]) -> list[Any]:
    preds = []
    for key, values in where.items():
        named = [v for v in values if v != UNATTRIBUTED]
        pred = t[key].isin(named) if named else ibis.literal(False)
        preds.append(pred | t[key].isnull() if UNATTRIBUTED in values else pred)
    return preds


def counted_window(store: Store, window: Window = Window(), where: dict[str, list[str]] | None = None) -> Any:
    """The counted ledger over a window with ``--where`` filters (``(unattributed)`` is NULL)."""
    t = counted_ledger(store)
    preds = []
    if window.start is not None:
        preds.append(t.period_start >= window.start)
    if window.end is not None:
        preds.append(t.period_start < window.end)
    preds += _where(t, where or {})
    return t.filter(preds) if preds else t


def _daily(store: Store, window: Window, where: dict[str, list[str]]) -> Any:
    """The same selection from the daily rollup (see :func:`_can_use_rollup`)."""
    t = store.table("ledger_daily")
    preds = []
    if window.start is not None:
        preds.append(t.day >= window.start.date())
    if window.end is not None:
        preds.append(t.day < window.end.date())
    preds += _where(t, where)
    return t.filter(preds) if preds else t


def _can_use_rollup(store: Store, dims: list[str], window: Window, where: dict[str, list[str]]) -> bool:
    """The rollup answers when it has the dimensions, the window is whole days, and it is current."""
    from .rollups import DIMS, usable

    whole_days = all(w is None or w == datetime.combine(w.date(), datetime.min.time()) for w in (window.start, window.end))
    return whole_days and set(dims) | set(where) <= set(DIMS) and usable(store)


def footer(store: Store, window: Window = Window(), where: dict[str, list[str]] | None = None,
           *, use_rollup: bool | None = None) -> Footer:
    where = where or {}
    if use_rollup if use_rollup is not None else _can_use_rollup(store, [], window, where):
        return _rollup_footer(_daily(store, window, where))
    t = counted_window(store, window, where)
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


def _rollup_footer(t: Any) -> Footer:
    agg = t.aggregate(
        rows=t.rows.sum(), unpriced_rows=t.unpriced_rows.sum(), unpriced_tokens=t.unpriced_tokens.sum(),
        unconverted_rows=t.unconverted_rows.sum(), overlap_rows=t.superseded_rows.sum(), overlap_usd=t.superseded_usd.sum(),
    ).to_pyarrow().to_pylist()[0]
    f = Footer(**{k: int(agg[k] or 0) for k in ("rows", "unpriced_rows", "unpriced_tokens", "unconverted_rows",
                                                  "overlap_rows")})
    f.overlap_usd = agg["overlap_usd"] or Decimal(0)
    if f.unconverted_rows:
        hit = t.filter(t.unconverted_rows > 0)
        by_cur = hit.group_by("billing_currency").aggregate(amount=hit.unconverted_billed.sum()).to_pyarrow().to_pylist()
        f.unconverted = {r["billing_currency"] or "?": r["amount"] for r in by_cur}
    return f


def _overlap(t: Any) -> tuple[int, Decimal]:
    """Superseded rows: estimates on billed days, invoices of itemized months (see counted_ledger)."""
    hit = t.filter(t.superseded)
    agg = hit.aggregate(rows=hit.count(), usd=hit.superseded_usd.sum()).to_pyarrow().to_pylist()[0]
    return int(agg["rows"] or 0), agg["usd"] or Decimal(0)


def spend_report(
    store: Store,
    by: list[str],
    window: Window = Window(),
    granularity: str | None = None,
    where: dict[str, list[str]] | None = None,
    *,
    use_rollup: bool | None = None,
) -> Report:
    """Spend grouped ``by`` dimensions (and per period), from the daily rollup when it can answer
    (``use_rollup`` None: decide; True/False: force, for tests and benchmarks), else raw rows."""
    check_dimensions(by)
    if granularity is not None and granularity not in GRANULARITIES:
        raise ReportError(f"--granularity {granularity!r}: choose day, week or month")
    where = where or {}
    rollup = use_rollup if use_rollup is not None else _can_use_rollup(store, by, window, where)
    t = _daily(store, window, where) if rollup else counted_window(store, window, where)
    when = t.day if rollup else t.period_start
    keys: list[Any] = [t[d] for d in by]
    columns = list(by)
    if granularity:
        keys.insert(0, when.truncate(GRANULARITIES[granularity]).name("period"))
        columns.insert(0, "period")
    aggs = {m: t[m].sum() for m in METRICS}
    expr = t.group_by(keys).aggregate(**aggs) if keys else t.aggregate(**aggs)
    order = ([expr.period] if granularity else []) + [expr.cost_usd.desc(nulls_first=False), *[expr[d] for d in by]]
    rows = expr.order_by(order).to_pyarrow().to_pylist()
    labelled = [d for d in by if d in BUCKETED]
    for row in rows:
        for d in labelled:  # spend no rule or source attributed is a bucket of its own, named
            if row[d] is None:
                row[d] = UNATTRIBUTED
        if granularity:
            period = row["period"]
            row["period"] = (period.date() if isinstance(period, datetime) else period).isoformat()
        for m in METRICS[1:]:
            row[m] = int(row[m] or 0)
    return Report(columns + list(METRICS), rows, footer(store, window, where, use_rollup=rollup))
