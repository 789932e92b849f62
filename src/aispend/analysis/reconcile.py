"""Month-end reconciliation: each vendor's bill against the ledger, the difference explained, signed off.

A month is an invoice month: rows whose ``billing_period`` is ``YYYY-MM`` (the month of
``period_start`` when a source gives none). Per vendor (``provider``) three figures:

* **invoice**: the rows that carry an ``invoice_id`` (imported invoices and receipts, invoiced CUR
  or Azure lines); a vendor without any is billed by its export, so it is the billed rows
  (``basis`` says which: ``invoice``, ``billed export`` or ``none``);
* **ledger**: the counted total every report shows (:func:`~aispend.analysis.report.counted_ledger`);
* **estimate**: the usage-derived estimate, every estimated row, superseded ones included.

``difference = invoice - ledger`` is split, to the last digit, into categories::

    tax, credits, adjustments   the bill's tax/credit/adjustment lines the rest of the ledger lacks
    unbilled_estimates          estimates the ledger counts because no bill covers their day (negative)
    late_restatements           rows of other batches loaded after the invoice (or the last sign-off)
    unexplained                 the remainder: price differences, rounding, missing data

When a vendor has both an invoice and an itemized billed export for the month, the ledger counts
the export and the invoice is the check total (``counted_ledger`` supersedes its lines): the
invoice's own figures are compared with the export, so its tax and credit lines explain the
difference. Usage the price book cannot price (``unpriced_tokens``) has no cost to count: its
bill sits in the remainder.

Sign-off records who, when, the per-vendor figures and each batch's share of them. A signed month
is ``closed``; if its figures move later (a re-import or re-sync restated it, a re-price changed
it), it is ``changed after sign-off``, with the delta and the batches that differ.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..errors import AispendError
from ..store import Store
from .report import counted_ledger

ZERO = Decimal(0)
NAMED = ("tax", "credits", "adjustments", "unbilled_estimates", "late_restatements")
CATEGORIES = (*NAMED, "unexplained")
_LINE_CATEGORY = {"tax": "tax", "credit": "credits", "adjustment": "adjustments"}
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class ReconcileError(AispendError):
    pass


@dataclass
class VendorReconciliation:
    provider: str
    basis: str  # invoice | billed export | none
    invoice_usd: Decimal = ZERO
    ledger_usd: Decimal = ZERO
    estimate_usd: Decimal = ZERO
    categories: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, ZERO))
    unpriced_rows: int = 0
    unpriced_tokens: int = 0
    unconverted_rows: int = 0  # billed rows in a currency without a USD rate: in no figure
    signed_ledger_usd: Decimal | None = None  # the ledger figure as last signed off

    @property
    def difference_usd(self) -> Decimal:
        return self.invoice_usd - self.ledger_usd

    def as_row(self) -> dict[str, Any]:
        row = {"provider": self.provider, "basis": self.basis, "invoice_usd": self.invoice_usd,
               "ledger_usd": self.ledger_usd, "estimate_usd": self.estimate_usd, "difference_usd": self.difference_usd}
        row |= {f"{c}_usd": v for c, v in self.categories.items()}
        return row | {"unpriced_tokens": self.unpriced_tokens, "unconverted_rows": self.unconverted_rows,
                      "signed_ledger_usd": self.signed_ledger_usd}


@dataclass(frozen=True)
class SignOff:
    signoff_id: str
    month: str
    signed_by: str
    signed_at: datetime
    note: str | None
    invoice_usd: Decimal
    ledger_usd: Decimal


@dataclass(frozen=True)
class BatchChange:
    """One batch whose share of the month differs from the sign-off's."""

    provider: str
    source: str
    batch_id: str
    change: str  # new | removed | changed (same batch, other figures: re-priced or re-normalized)
    rows_signed: int
    rows_now: int
    signed_usd: Decimal
    now_usd: Decimal
    loaded_at: datetime | None  # when the batch (or, for a removed one, its replacement) was loaded
    replaced_by: str | None = None

    @property
    def delta_usd(self) -> Decimal:
        return self.now_usd - self.signed_usd


@dataclass
class Reconciliation:
    month: str
    vendors: list[VendorReconciliation]
    signoff: SignOff | None = None  # the latest one
    changes: list[BatchChange] = field(default_factory=list)

    def total(self, name: str) -> Decimal:
        """A figure (``invoice_usd``, ``ledger_usd``, ...) or a category (``tax``, ...) over all vendors."""
        if name in CATEGORIES:
            return sum((v.categories[name] for v in self.vendors), ZERO)
        return sum((getattr(v, name) for v in self.vendors), ZERO)

    @property
    def status(self) -> str:
        """``open`` (never signed), ``closed``, or ``changed after sign-off`` (a vendor's figure moved)."""
        if self.signoff is None:
            return "open"
        moved = any(v.ledger_usd != (v.signed_ledger_usd or ZERO) for v in self.vendors)
        return "changed after sign-off" if moved else "closed"

    @property
    def delta_usd(self) -> Decimal | None:
        """The ledger's figure now minus the signed one (None while open)."""
        return None if self.signoff is None else self.total("ledger_usd") - self.signoff.ledger_usd

    def as_dict(self) -> dict[str, Any]:
        """The month as one object: what `aispend reconcile --format json` and the API return."""
        totals = {k: self.total(k) for k in ("invoice_usd", "ledger_usd", "estimate_usd", "difference_usd")}
        totals |= {f"{c}_usd": self.total(c) for c in CATEGORIES}
        s = self.signoff
        return {"month": self.month, "status": self.status,
                "signoff": None if s is None else dataclasses.asdict(s),
                "delta_usd": self.delta_usd, "totals": totals, "vendors": [v.as_row() for v in self.vendors],
                "changes": [dataclasses.asdict(c) | {"delta_usd": c.delta_usd} for c in self.changes]}


# --- the month's rows, grouped small enough to reason about in Python -------------------------


@dataclass(frozen=True)
class _Group:
    provider: str
    source: str
    batch_id: str
    invoiced: bool
    cost_source: str
    charge_category: str
    rows: int
    usd: Decimal  # counted cost
    own: Decimal  # the rows' own figures, superseded or not (an invoice is its own total)
    estimate: Decimal
    loaded_from: datetime | None
    loaded_to: datetime | None
    unpriced_rows: int
    unpriced_tokens: int
    unconverted_rows: int


def check_month(month: str) -> str:
    if not _MONTH.match(month or ""):
        raise ReconcileError(f"--month {month!r} is not YYYY-MM (e.g. 2026-01)")
    return month


def _groups(store: Store, month: str) -> list[_Group]:
    """One row per (provider, source, batch, invoiced?, cost source, charge category) of the month."""
    t = counted_ledger(store)
    t = t.filter(t.billing_period.fill_null(t.period_start.strftime("%Y-%m")) == month)
    tokens = t.input_tokens.fill_null(0) + t.output_tokens.fill_null(0)
    unpriced = (t.pricing_status == "unpriced") & t.cost_usd.isnull()
    unconverted = (t.cost_source == "billed") & t.cost_usd.isnull() & t.billed_cost.notnull()
    own = t.superseded_usd.fill_null(t.cost_usd)
    expr = t.group_by(
        provider=t.provider.fill_null("(none)"), source=t.source.fill_null(""), batch_id=t.batch_id.fill_null(""),
        invoiced=t.invoice_id.notnull() & (t.cost_source != "estimated"),
        cost_source=t.cost_source.fill_null(""), charge_category=t.charge_category.fill_null("usage"),
    ).aggregate(
        rows=t.count(), usd=t.cost_usd.sum(), own=own.sum(), estimate=own.sum(where=t.cost_source == "estimated"),
        loaded_from=t.ingested_at.min(), loaded_to=t.ingested_at.max(), unpriced_rows=unpriced.sum(),
        unpriced_tokens=tokens.sum(where=unpriced), unconverted_rows=unconverted.sum(),
    )
    out = []
    for r in expr.to_pyarrow().to_pylist():
        for k in ("usd", "own", "estimate"):
            r[k] = r[k] if r[k] is not None else ZERO
        for k in ("unpriced_rows", "unpriced_tokens", "unconverted_rows"):
            r[k] = int(r[k] or 0)
        out.append(_Group(**r))
    return out


def _vendor(provider: str, groups: list[_Group], cutoff: datetime | None) -> VendorReconciliation:
    invoice = [g for g in groups if g.invoiced]
    export = [g for g in groups if not g.invoiced and g.cost_source == "billed"]
    bill, basis = (invoice, "invoice") if invoice else (export, "billed export") if export else ([], "none")
    in_bill = {id(g) for g in bill}
    # Late: loaded after the invoice arrived, or after the month was signed off, whichever came first.
    arrived = min((g.loaded_from for g in invoice if g.loaded_from is not None), default=None)
    cutoff = min((c for c in (arrived, cutoff) if c is not None), default=None)
    v = VendorReconciliation(provider, basis)
    v.invoice_usd = sum((g.own for g in bill), ZERO)
    v.ledger_usd = sum((g.usd for g in groups), ZERO)
    v.estimate_usd = sum((g.estimate for g in groups), ZERO)
    named = dict.fromkeys(NAMED, ZERO)
    for g in groups:
        share = (g.own if id(g) in in_bill else ZERO) - g.usd
        if g.charge_category in _LINE_CATEGORY:
            named[_LINE_CATEGORY[g.charge_category]] += share
        elif g.cost_source == "estimated":
            named["unbilled_estimates"] += share
        elif id(g) not in in_bill and cutoff is not None and g.loaded_from is not None and g.loaded_from > cutoff:
            named["late_restatements"] += share
    v.categories = {**named, "unexplained": v.difference_usd - sum(named.values(), ZERO)}
    v.unpriced_rows = sum(g.unpriced_rows for g in groups)
    v.unpriced_tokens = sum(g.unpriced_tokens for g in groups)
    v.unconverted_rows = sum(g.unconverted_rows for g in groups)
    return v


def reconcile(store: Store, month: str) -> Reconciliation:
    """Each vendor's invoice, ledger and estimate for ``month`` (YYYY-MM), the difference explained.

    The month's status comes from its latest sign-off: ``open``, ``closed``, or ``changed after
    sign-off`` with :attr:`Reconciliation.delta_usd` and the batches that moved it.
    """
    return _reconcile(store, month)[0]


def _reconcile(store: Store, month: str) -> tuple[Reconciliation, list[_Group]]:
    check_month(month)
    groups = _groups(store, month)
    latest = _latest(store, month)
    by_vendor: dict[str, list[_Group]] = defaultdict(list)
    for g in groups:
        by_vendor[g.provider].append(g)
    signed_at = latest.signed_at if latest else None
    rec = Reconciliation(month, [_vendor(p, gs, signed_at) for p, gs in sorted(by_vendor.items())], latest)
    if latest is not None:
        signed = dict(store.query("SELECT provider, ledger_usd FROM signoff_vendors WHERE signoff_id = ?",
                                  [latest.signoff_id]))
        for v in rec.vendors:
            v.signed_ledger_usd = signed.get(v.provider)
        for provider in sorted(set(signed) - set(by_vendor)):  # a vendor whose rows have all gone
            rec.vendors.append(VendorReconciliation(provider, "none", signed_ledger_usd=signed[provider]))
        rec.changes = _changes(store, latest, groups)
    return rec, groups


# --- sign-off -------------------------------------------------------------------------------------


def sign_off(store: Store, month: str, who: str, note: str | None = None, *, now: datetime | None = None) -> SignOff:
    """Record that ``who`` accepts ``month``'s figures as they are now; earlier sign-offs are kept."""
    check_month(month)
    who = (who or "").strip()
    if not who:
        raise ReconcileError("a sign-off needs who signs it: pass --by NAME")
    rec, groups = _reconcile(store, month)
    if not groups:
        raise ReconcileError(f"{month} has no ledger rows to sign off: import or sync the month's bills first")
    signed_at = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    present = {g.provider for g in groups}
    vendors = [v for v in rec.vendors if v.provider in present]
    record = SignOff(uuid.uuid4().hex, month, who, signed_at, note or None,
                     sum((v.invoice_usd for v in vendors), ZERO), sum((v.ledger_usd for v in vendors), ZERO))
    batches: dict[tuple[str, str, str], list[Any]] = defaultdict(lambda: [0, ZERO])
    for g in groups:
        batches[(g.provider, g.source, g.batch_id)][0] += g.rows
        batches[(g.provider, g.source, g.batch_id)][1] += g.usd
    with store.transaction() as tx:
        tx.execute("INSERT INTO signoffs VALUES (?, ?, ?, ?, ?, ?, ?)",
                   [record.signoff_id, month, who, signed_at, record.note, record.invoice_usd, record.ledger_usd])
        for v in vendors:
            tx.execute("INSERT INTO signoff_vendors VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [record.signoff_id, v.provider, v.basis, v.invoice_usd, v.ledger_usd, v.estimate_usd,
                        v.difference_usd])
        for (provider, source, batch_id), (rows, usd) in sorted(batches.items()):
            tx.execute("INSERT INTO signoff_batches VALUES (?, ?, ?, ?, ?, ?)",
                       [record.signoff_id, provider, source, batch_id, rows, usd])
    return record


_SIGNOFF_COLUMNS = "signoff_id, month, signed_by, signed_at, note, invoice_usd, ledger_usd"


def signoff_history(store: Store, month: str | None = None) -> list[SignOff]:
    """Every sign-off, oldest first (of one month when given)."""
    where, params = ("WHERE month = ?", [check_month(month)]) if month else ("", [])
    rows = store.query(f"SELECT {_SIGNOFF_COLUMNS} FROM signoffs {where} ORDER BY signed_at, signoff_id", params)
    return [SignOff(*r) for r in rows]


def _latest(store: Store, month: str) -> SignOff | None:
    rows = store.query(f"SELECT {_SIGNOFF_COLUMNS} FROM signoffs WHERE month = ? "
                       "ORDER BY signed_at DESC, signoff_id DESC LIMIT 1", [month])
    return SignOff(*rows[0]) if rows else None


def _changes(store: Store, signoff: SignOff, groups: list[_Group]) -> list[BatchChange]:
    """The batches whose rows or counted money in the month differ from the sign-off's snapshot."""
    then = {(p, s, b): (n, usd) for p, s, b, n, usd in store.query(
        "SELECT provider, source, batch_id, row_count, ledger_usd FROM signoff_batches WHERE signoff_id = ?",
        [signoff.signoff_id])}
    now: dict[tuple[str, str, str], list[Any]] = defaultdict(lambda: [0, ZERO, None])
    for g in groups:
        entry = now[(g.provider, g.source, g.batch_id)]
        entry[0] += g.rows
        entry[1] += g.usd
        entry[2] = max((d for d in (entry[2], g.loaded_to) if d is not None), default=None)
    changes = []
    for key in sorted(set(then) | set(now)):
        n0, usd0 = then.get(key, (0, ZERO))
        n1, usd1, loaded = now.get(key, (0, ZERO, None))
        if (n0, usd0) == (n1, usd1):
            continue
        provider, source, batch_id = key
        kind = "new" if key not in then else "removed" if key not in now else "changed"
        replaced_by = None
        if kind == "removed":
            replaced_by, loaded = _replacement(store, batch_id)
        elif kind == "new":
            loaded = _loaded_at(store, batch_id) or loaded
        changes.append(BatchChange(provider, source, batch_id, kind, n0, n1, usd0, usd1, loaded, replaced_by))
    return changes


def _loaded_at(store: Store, batch_id: str) -> datetime | None:
    """When a batch was loaded: its import, else its sync's landed pages."""
    rows = store.query("SELECT imported_at FROM imports WHERE batch_id = ?", [batch_id])
    if not rows:
        rows = store.query("SELECT max(fetched_at) FROM raw_pages WHERE batch_id = ?", [batch_id])
    return rows[0][0] if rows else None


def _replacement(store: Store, batch_id: str) -> tuple[str | None, datetime | None]:
    rows = store.query("SELECT replaced_by FROM imports WHERE batch_id = ?", [batch_id])
    by = rows[0][0] if rows else None
    return by, _loaded_at(store, by) if by else None
