"""Data-quality checks over the ledger: what makes its totals wrong, incomplete or suspect.

Each check returns :class:`Finding` objects: the check, a severity, the scope it is about, one line
saying what is wrong (with a count and an amount where they mean something) and how to fix it.

``error`` means a total is wrong or incomplete today: usage whose cost is unknown, billed amounts
without a USD rate, an invoice counted twice, an API source that failed or stopped delivering, a
signed-off month whose figures moved. ``warning`` means worth a look: tokens at $0, estimates that
drift from the bill, a file source with no import for a while, two invoices that look alike.

Thresholds come from ``[doctor]`` in aispend.toml (:class:`aispend.config.DoctorSettings`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..config import Settings
from ..store import Store
from .report import counted_ledger

SEVERITIES = ("error", "warning")
COLUMNS = ["severity", "check", "scope", "what", "count", "amount", "currency", "fix"]


@dataclass(frozen=True)
class Finding:
    check: str
    severity: str  # error | warning
    scope: str  # what it is about: a provider and model, a source, an invoice, a month
    what: str
    fix: str
    count: int | None = None  # rows, tokens or days, as ``what`` says
    amount: Decimal | None = None
    currency: str | None = None

    def as_row(self) -> dict[str, object]:
        return {c: getattr(self, c) for c in COLUMNS}


def doctor(store: Store, settings: Settings, now: datetime | None = None) -> list[Finding]:
    """Run every check; errors first, then warnings, each in check order."""
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    findings: list[Finding] = []
    for check in CHECKS:
        findings += check(store, settings, now)
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))


def _tokens(t: Any) -> Any:
    return t.input_tokens.fill_null(0) + t.output_tokens.fill_null(0)


def unpriced_models(store: Store, settings: Settings, now: datetime) -> list[Finding]:
    """Usage whose model the price book does not know and no bill covers: its cost is in no total."""
    t = counted_ledger(store)  # a superseded estimate's cost is the bill's: not missing
    hit = t.filter((t.pricing_status == "unpriced") & t.cost_usd.isnull())
    rows = hit.group_by("provider", "model").aggregate(rows=hit.count(), tokens=_tokens(hit).sum())
    return [
        Finding("unpriced_model", "error", f"{r['provider']} / {r['model']}",
                f"{r['model']} is not in the price book: {r['rows']:,} row(s), {int(r['tokens'] or 0):,} tokens "
                "whose cost is unknown and missing from every total",
                f'add [[pricing.overrides]] provider = "{r["provider"]}", model = "{r["model"]}" with its '
                "prices to aispend.toml, then run `aispend price`", count=int(r["tokens"] or 0))
        for r in rows.order_by("provider", "model").to_pyarrow().to_pylist()
    ]


def zero_cost_tokens(store: Store, settings: Settings, now: datetime) -> list[Finding]:
    """Rows with tokens and a cost of exactly $0: a free model, or a cost column read wrong."""
    t = store.table("ledger")
    hit = t.filter((_tokens(t) > 0) & (t.cost_usd == 0))
    rows = hit.group_by("provider", "model", "cost_source").aggregate(rows=hit.count(), tokens=_tokens(hit).sum())
    return [
        Finding("zero_cost_tokens", "warning", f"{r['provider']} / {r['model']}",
                f"{r['rows']:,} {r['cost_source']} row(s) carry {int(r['tokens']):,} tokens at $0",
                "if the model is not free, check its price in the book or [[pricing.overrides]] (estimated rows) "
                "or the vendor file's cost column (billed rows)", count=int(r["tokens"]))
        for r in rows.order_by("provider", "model", "cost_source").to_pyarrow().to_pylist()
    ]


def estimate_drift(store: Store, settings: Settings, now: datetime) -> list[Finding]:
    """Per provider and month, estimates vs the bill on the days that have both."""
    t = store.table("ledger")
    day = t.period_start.truncate("D")
    billed = (t.cost_source == "billed") & (t.charge_category == "usage")
    est = t.cost_source == "estimated"
    days = t.group_by(provider=t.provider, day=day).aggregate(
        billed=t.cost_usd.sum(where=billed), estimated=t.cost_usd.sum(where=est),
        n_billed=billed.sum(), n_est=est.sum(),
    )
    both = days.filter((days.n_billed > 0) & (days.n_est > 0))
    months = both.group_by(provider=both.provider, month=both.day.strftime("%Y-%m")).aggregate(
        billed=both.billed.sum(), estimated=both.estimated.sum(), days=both.count())
    out = []
    cfg = settings.doctor
    for r in months.order_by("provider", "month").to_pyarrow().to_pylist():
        bill, guess = r["billed"] or Decimal(0), r["estimated"] or Decimal(0)
        if bill < cfg.drift_min_usd or bill <= 0:
            continue
        pct = (guess - bill) / bill * 100
        if abs(pct) <= cfg.drift_pct:
            continue
        out.append(Finding(
            "estimate_drift", "warning", f"{r['provider']} {r['month']}",
            f"estimates are {pct:+.1f}% off the bill on the {r['days']} day(s) that have both "
            f"({guess:,.2f} estimated vs {bill:,.2f} billed USD; threshold {cfg.drift_pct}%)",
            f"set your negotiated rate ([pricing] discounts.{r['provider']} or [[pricing.overrides]]) so "
            "estimates match the bill, then `aispend price`; unpriced models also lower estimates",
            count=int(r["days"]), amount=guess - bill, currency="USD"))
    return out


def api_sources(store: Store, settings: Settings, now: datetime) -> list[Finding]:
    """Configured API sources that failed, stopped delivering or never synced."""
    state = {s: (ok, e) for s, ok, e in store.query("SELECT source, last_success, last_error FROM sync_state")}
    limit = timedelta(days=settings.doctor.api_stale_days)
    out = []
    for name in sorted(settings.sources):
        last_success, last_error = state.get(name, (None, None))
        retry = f"run `aispend sources check {name}`, fix what it says, then `aispend sync --source {name}`"
        if last_error:
            out.append(Finding("sync_failed", "error", f"source {name}", f"the last sync failed: {last_error}", retry))
        elif last_success is None:
            out.append(Finding("never_synced", "warning", f"source {name}", "configured but never synced",
                               f"run `aispend sync --source {name}` (and schedule it)"))
        elif now - last_success > limit:
            age = (now - last_success).days
            out.append(Finding("source_stale", "error", f"source {name}",
                               f"no successful sync for {age} day(s) (since {last_success:%Y-%m-%d %H:%M} UTC; "
                               f"limit {settings.doctor.api_stale_days})",
                               f"check the scheduler that runs `aispend sync`; {retry}", count=age))
    return out


def file_sources(store: Store, settings: Settings, now: datetime) -> list[Finding]:
    """File sources whose last import is older than ``file_stale_days``: a monthly bill not loaded."""
    cutoff = now - timedelta(days=settings.doctor.file_stale_days)
    rows = store.query("SELECT source, max(imported_at) FROM imports WHERE replaced_by IS NULL "
                       "GROUP BY source HAVING max(imported_at) < ? ORDER BY source", [cutoff])
    return [
        Finding("file_source_stale", "warning", f"source {source}",
                f"no import for {(now - last).days} day(s) (last {last:%Y-%m-%d}; limit "
                f"{settings.doctor.file_stale_days})",
                f"import this month's file: `aispend import --source {source} FILE`", count=(now - last).days)
        for source, last in rows
    ]


def fx_missing(store: Store, settings: Settings, now: datetime) -> list[Finding]:
    """Billed amounts in a currency with no USD rate for their day: in no USD total."""
    rows = store.query(
        "SELECT billing_currency, count(*), sum(billed_cost), min(period_start), max(period_start) FROM ledger "
        "WHERE cost_source = 'billed' AND cost_usd IS NULL AND billed_cost IS NOT NULL "
        "GROUP BY billing_currency ORDER BY billing_currency")
    return [
        Finding("fx_missing", "error", f"currency {cur or '?'}",
                f"{n:,} billed row(s) from {first:%Y-%m-%d} to {last:%Y-%m-%d} have no USD rate: "
                "they are in no USD total",
                f"run `aispend fx import RATES.csv` with {cur} rates for those days (ECB layout or "
                f'currency,day,usd_rate), or set {cur} = "RATE" under [pricing.fx] and run `aispend price`',
                count=n, amount=amount, currency=cur)
        for cur, n, amount, first, last in rows
    ]


def duplicate_invoices(store: Store, settings: Settings, now: datetime) -> list[Finding]:
    """The same invoice loaded twice (other source, or its lines in two batches), or two look-alikes."""
    out = []
    by_source = store.query(
        "SELECT provider, invoice_id, string_agg(DISTINCT source, ', ' ORDER BY source), count(DISTINCT source) "
        "FROM ledger WHERE invoice_id IS NOT NULL GROUP BY ALL HAVING count(DISTINCT source) > 1")
    # A line seen in two batches: the same charge loaded twice (a CUR split in parts has distinct lines).
    copies = store.query(
        """SELECT provider, invoice_id, any_value(billing_currency), sum(billed_cost * (n - 1)), sum(n - 1)
           FROM (SELECT provider, invoice_id, billing_currency, billed_cost, count(DISTINCT batch_id) AS n
                 FROM ledger WHERE invoice_id IS NOT NULL
                 GROUP BY provider, invoice_id, billing_currency, charge_category, description, billed_cost,
                          period_start, period_end)
           WHERE n > 1 GROUP BY provider, invoice_id""")
    extra = {(p, i): (cur, amount, n) for p, i, cur, amount, n in copies}
    sources = {(p, i): s for p, i, s, _ in by_source}
    for key in sorted(set(extra) | set(sources)):
        provider, invoice = key
        cur, amount, lines = extra.get(key, (None, None, None))
        dup = f": {lines} line(s), {amount:,.2f} {cur} counted twice" if lines else ""
        if key in sources:
            what, fix = f"loaded under sources {sources[key]}{dup}", (
                "re-import one copy's file under the other copy's source: `aispend import --source SOURCE FILE` "
                "(`aispend imports` lists files and sources); it replaces its own earlier import, and the "
                "invoice number replaces the other copy")
        else:
            what, fix = f"loaded by two imports of one source{dup}", (
                "re-import the file holding several invoices after the single ones (docs/sources/receipt.md, "
                '"Counted once")')
        out.append(Finding("duplicate_invoice", "error", f"invoice {invoice} ({provider})", what, fix,
                           count=int(lines) if lines else None, amount=amount, currency=cur))
    lookalikes = store.query(
        """SELECT provider, day, currency, total, string_agg(invoice_id, ', ' ORDER BY invoice_id), count(*)
           FROM (SELECT provider, invoice_id, CAST(min(period_start) AS DATE) AS day,
                        any_value(billing_currency) AS currency, sum(billed_cost) AS total
                 FROM ledger WHERE invoice_id IS NOT NULL GROUP BY provider, invoice_id)
           GROUP BY ALL HAVING count(*) > 1 ORDER BY provider, day""")
    for provider, day, cur, total, ids, n in lookalikes:
        out.append(Finding(
            "lookalike_invoices", "warning", f"{provider} {day}",
            f"{n} invoices ({ids}) with the same vendor, date and amount {total:,.2f} {cur}",
            "check they are distinct charges; if one is a copy under another number, remove its import",
            count=n, amount=total, currency=cur))
    return out


def changed_after_signoff(store: Store, settings: Settings, now: datetime) -> list[Finding]:
    """Signed-off months whose ledger figure has moved since."""
    from .reconcile import reconcile

    out = []
    for (month,) in store.query("SELECT DISTINCT month FROM signoffs ORDER BY month"):
        rec = reconcile(store, month)
        if rec.status != "closed":
            names = ", ".join(sorted({c.source for c in rec.changes})) or "re-priced rows"
            out.append(Finding(
                "changed_after_signoff", "error", f"month {month}",
                f"changed after {rec.signoff.signed_by}'s sign-off by {rec.delta_usd:+,.2f} USD ({names})",
                f"review `aispend reconcile --month {month}`, then sign it off again",
                count=len(rec.changes), amount=rec.delta_usd, currency="USD"))
    return out


CHECKS: tuple[Callable[[Store, Settings, datetime], list[Finding]], ...] = (
    unpriced_models, fx_missing, duplicate_invoices, api_sources, changed_after_signoff,
    zero_cost_tokens, estimate_drift, file_sources,
)
