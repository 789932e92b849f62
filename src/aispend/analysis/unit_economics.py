"""Unit economics: what a request, a thousand tokens, a customer, a feature or an experiment arm
costs, and margin (revenue less AI cost) per customer or feature.

Every cost starts from :func:`counted_ledger` (a vendor seen as a bill and as usage is counted once),
over a window of charge-period starts, like ``aispend report``. Definitions (docs/unit-economics.md):

* ``cost_per_request = cost_usd / requests`` and ``cost_per_1k_tokens = 1000 x cost_usd / (input +
  output tokens)``, over the group's *whole* cost: storage, purchases and rows that count no requests
  are part of what serving the group costs. Rounded half-even to 12 places; none when the
  denominator is 0.
* ``margin_usd = revenue_usd - cost_usd`` and ``margin_pct = 100 x margin_usd / revenue_usd``
  (2 places; none without positive revenue).
* A row without the dimension (no customer, no feature) is grouped under ``(unattributed)``, never
  dropped: the buckets add up to the window's total.
* Revenue counts in the window its period starts in. Non-USD revenue is converted at the rate of the
  day it was invoiced (``occurred_at``), with the same rules as ledger rows (``aispend.fx``: latest
  dated rate at most 7 days old, else ``[pricing.fx]``); what cannot be converted is left out of
  ``revenue_usd``, counted per row and named per currency in the report's notes.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

import ibis

from ..config import Settings
from ..fx import MAX_AGE_DAYS, fx_table
from ..output import exact
from ..store import Store
from .report import Footer, Report, ReportError, Window, check_dimensions, counted_window, footer

UNATTRIBUTED = "(unattributed)"
UNIT_PLACES = Decimal("1e-12")
PCT_PLACES = Decimal("0.01")
MONEY_PLACES = Decimal("1e-18")
_CTX = Context(prec=80, rounding=ROUND_HALF_EVEN)  # far beyond any digit kept: one rounding, at the end
UNIT_COLUMNS = ["cost_usd", "requests", "input_tokens", "output_tokens", "cost_per_request", "cost_per_1k_tokens"]
MARGIN_BY = ("customer", "feature")
MARGIN_COLUMNS = ["revenue_usd", "cost_usd", "margin_usd", "margin_pct", "unconverted_revenue_rows"]


def ratio(numerator: Decimal, denominator: Decimal | int, scale: Decimal = UNIT_PLACES) -> Decimal | None:
    """``numerator / denominator`` rounded half-even to ``scale``; None when the denominator is 0."""
    if not denominator:
        return None
    return _CTX.divide(Decimal(numerator), Decimal(denominator)).quantize(scale, context=_CTX)


# --- unit costs -----------------------------------------------------------------------------------


def unit_costs(store: Store, by: list[str], window: Window | None = None,
               where: dict[str, list[str]] | None = None) -> Report:
    """Cost, requests, tokens and cost per request / per 1k tokens, grouped by ledger dimensions."""
    window = window or Window()
    if not by:
        raise ReportError("give at least one dimension to group by (feature, customer, model, experiment, ...)")
    check_dimensions(by)
    t = counted_window(store, window, where)  # requests counted once, like tokens
    keys = [_bucket(t[d]).name(d) for d in by]
    expr = t.group_by(keys).aggregate(
        cost_usd=t.cost_usd.sum(),
        requests=t.requests.sum(),
        input_tokens=t.input_tokens.sum(),
        output_tokens=t.output_tokens.sum(),
    )
    rows = expr.order_by([expr.cost_usd.desc(nulls_first=False), *[expr[d] for d in by]]).to_pyarrow().to_pylist()
    for row in rows:
        for c in ("requests", "input_tokens", "output_tokens"):
            row[c] = int(row[c] or 0)
        cost = row["cost_usd"] if row["cost_usd"] is not None else Decimal(0)
        row["cost_usd"] = cost
        row["cost_per_request"] = ratio(cost, row["requests"])
        row["cost_per_1k_tokens"] = ratio(cost * 1000, row["input_tokens"] + row["output_tokens"])
    return Report([*by, *UNIT_COLUMNS], rows, footer(store, window, where))


def _window(t: Any, window: Window, where: dict[str, list[str]]) -> Any:
    preds = [t[k].isin(v) for k, v in where.items()]
    if window.start is not None:
        preds.append(t.period_start >= window.start)
    if window.end is not None:
        preds.append(t.period_start < window.end)
    return t.filter(preds) if preds else t


def _bucket(col: Any) -> Any:
    return ibis.ifelse(col.isnull() | (col.strip() == ""), ibis.literal(UNATTRIBUTED), col)


# --- margin ---------------------------------------------------------------------------------------


@dataclass
class MarginReport:
    columns: list[str]
    rows: list[dict[str, Any]]
    footer: Footer  # the ledger side: unpriced, unconverted and overlapping cost rows
    revenue_usd: Decimal = Decimal(0)
    cost_usd: Decimal = Decimal(0)
    unconverted: dict[str, Decimal] = field(default_factory=dict)  # revenue left out, per currency
    unconverted_rows: int = 0

    @property
    def margin_usd(self) -> Decimal:
        return self.revenue_usd - self.cost_usd

    @property
    def margin_pct(self) -> Decimal | None:
        return ratio(self.margin_usd * 100, self.revenue_usd, PCT_PLACES) if self.revenue_usd > 0 else None

    def lines(self) -> list[str]:
        pct = f" ({exact(self.margin_pct)}%)" if self.margin_pct is not None else ""
        out = [(f"total revenue {self.revenue_usd:,.2f} USD, AI cost {self.cost_usd:,.2f} USD, "
                f"margin {self.margin_usd:,.2f} USD{pct}")]
        if self.unconverted_rows:
            amounts = ", ".join(f"{exact(v)} {k}" for k, v in sorted(self.unconverted.items()))
            out.append(f"{self.unconverted_rows} revenue row(s) in a currency without a USD rate ({amounts}) are not in "
                       "revenue_usd: run `aispend fx import RATES.csv` or add the currency under [pricing.fx].")
        return out + self.footer.lines()


def margin(store: Store, settings: Settings, by: str = "customer", window: Window | None = None) -> MarginReport:
    """Revenue, AI cost and margin per customer (or per feature, when revenue names features)."""
    window = window or Window()
    if by not in MARGIN_BY:
        raise ReportError(f"margin --by {by!r}: choose customer or feature (the keys revenue and the ledger share)")
    revenue = _revenue(store, by, window)
    if by == "feature" and revenue and all(r["key"] is None for r in revenue):
        raise ReportError("no revenue in this window names a feature, so margin by feature would be all "
                          "(unattributed): add a feature column to the revenue CSV (or the Stripe metadata key), "
                          "or use --by customer")
    rates = _Rates(fx_table(store, settings))
    report = MarginReport([by, *MARGIN_COLUMNS], [], footer(store, window))
    rows: dict[str, dict[str, Any]] = {}

    def row(key: str | None) -> dict[str, Any]:
        key = key if key and key.strip() else UNATTRIBUTED
        return rows.setdefault(key, {by: key, "revenue_usd": Decimal(0), "cost_usd": Decimal(0),
                                     "unconverted_revenue_rows": 0})

    for r in revenue:
        rate = rates.usd_rate(r["currency"], r["day"])
        target = row(r["key"])
        if rate is None:
            target["unconverted_revenue_rows"] += r["rows"]
            report.unconverted_rows += r["rows"]
            report.unconverted[r["currency"]] = report.unconverted.get(r["currency"], Decimal(0)) + r["amount"]
            continue
        usd = (r["amount"] * rate).quantize(MONEY_PLACES, context=_CTX)
        target["revenue_usd"] += usd
        report.revenue_usd += usd
    t = counted_window(store, window)
    for c in t.group_by(key=t[by]).aggregate(cost=t.cost_usd.sum()).to_pyarrow().to_pylist():
        cost = c["cost"] or Decimal(0)
        row(c["key"])["cost_usd"] += cost
        report.cost_usd += cost
    for r in rows.values():
        r["margin_usd"] = r["revenue_usd"] - r["cost_usd"]
        r["margin_pct"] = ratio(r["margin_usd"] * 100, r["revenue_usd"], PCT_PLACES) if r["revenue_usd"] > 0 else None
    # Worst first: the customers (or features) the AI bill eats the most of.
    report.rows = sorted(rows.values(), key=lambda r: (r["margin_usd"], r[by]))
    return report


def _revenue(store: Store, by: str, window: Window) -> list[dict[str, Any]]:
    """Revenue in the window, summed per (key, currency, day it was invoiced)."""
    t = store.table("revenue")
    t = _window(t, window, {})
    expr = t.group_by(key=t[by], currency=t.currency.upper(), day=t.occurred_at.date()).aggregate(
        amount=t.amount.sum(), rows=t.count())
    return expr.to_pyarrow().to_pylist()


class _Rates:
    """USD per unit on a day, as the pricer decides it (see aispend.fx): dated, else undated, else None."""

    def __init__(self, fx: Any):
        self.dated: dict[str, tuple[list[date], list[Decimal]]] = {}
        self.undated: dict[str, Decimal] = {}
        for r in sorted(fx.to_pylist(), key=lambda r: (r["currency"], r["day"] or date.min)):
            cur = r["currency"].upper()
            if r["day"] is None:
                self.undated.setdefault(cur, r["usd_rate"])
            else:
                days, rates = self.dated.setdefault(cur, ([], []))
                days.append(r["day"])
                rates.append(r["usd_rate"])

    def usd_rate(self, currency: str, day: date) -> Decimal | None:
        days, rates = self.dated.get(currency, ([], []))
        i = bisect.bisect_right(days, day) - 1
        if i >= 0 and day - days[i] <= timedelta(days=MAX_AGE_DAYS):
            return rates[i]
        return self.undated.get(currency)
