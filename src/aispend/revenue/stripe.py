"""Revenue from your own Stripe account: paid invoices, and succeeded charges outside any invoice.

Read-only, with a restricted key (``rk_...``) holding read access to Invoices, Charges and
Customers (the last only to read the customer's metadata). Wire format: vendors.md §6.2.

* ``GET /v1/invoices?status=paid&created[gte]&created[lt]&limit=100`` and ``GET /v1/charges`` with
  the same window, paged with ``starting_after=<last id>`` while ``has_more``; the customer comes
  expanded (``expand[]=data.customer``) so its metadata costs no extra request.
* ``Stripe-Version`` is pinned (``api_version``, default 2024-06-20): newer versions drop
  ``Charge.invoice``, which is how a charge that paid an invoice is told apart (it is counted once,
  as the invoice). Charges are also matched to the pulled invoices' ``charge``/``payment_intent``.
* Amounts are integers in the currency's smallest unit: cents for USD, yen for JPY (zero-decimal),
  thousandths for KWD; converted to units exactly.
* An invoice's revenue is ``total_excluding_tax`` (after discounts, before tax): tax is owed, not
  earned. A charge's is ``amount_captured - amount_refunded``.
* Its period is the service its lines bill (earliest line start to latest line end), since a
  subscription invoice bills the *next* period; without lines, the day it was created.
* The ledger customer is, first hit wins: the invoice's (or charge's) metadata
  ``customer_metadata_key``, the Stripe customer's metadata under that key, the ``cus_...`` id.

A sync replaces the source's documents created in [start, end) (``stripe:<name>``): re-syncing a
window, or an overlapping one, converges and never double counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..config import StripeRevenueSettings
from ..connectors.http import DEFAULT_POLICY, HttpClient, RetryPolicy
from ..errors import SyncError
from ..ingest.native._receipt_money import minor_units
from ..store import Store
from .model import RevenueRow
from .store import replace_revenue

PAGE_LIMIT = 100  # Stripe's maximum
MAX_PAGES = 10_000


@dataclass
class StripeSync:
    source: str
    start: datetime
    end: datetime
    invoices: int = 0  # paid invoices loaded
    charges: int = 0  # charges loaded (succeeded, not paying an invoice, something kept)
    skipped_charges: int = 0  # failed, invoice payments, fully refunded
    rows_loaded: int = 0
    rows_replaced: int = 0
    requests: int = 0
    waited: float = 0.0  # seconds spent honouring Retry-After / backoff
    totals: dict[str, Decimal] = field(default_factory=dict)  # per currency, what was loaded
    warnings: list[str] = field(default_factory=list)


def default_window(today: date) -> tuple[datetime, datetime]:
    """First day of last month to tomorrow: late-paid invoices of last month are picked up again."""
    first = today.replace(day=1)
    prev = (first - timedelta(days=1)).replace(day=1)
    return datetime.combine(prev, datetime.min.time()), datetime.combine(today + timedelta(days=1), datetime.min.time())


def stripe_client(cfg: StripeRevenueSettings, *, policy: RetryPolicy = DEFAULT_POLICY,
                  sleep: Callable[[float], None] = time.sleep) -> HttpClient:
    """The shared HTTP client holding the resolved key (resolved now, never stored or shown)."""
    key = cfg.api_key.resolve().get_secret_value()
    headers = {"Authorization": f"Bearer {key}", "Stripe-Version": cfg.api_version,
               "Accept": "application/json", "User-Agent": "aispend (read-only revenue sync)"}
    hint = (f"check the Stripe key ({cfg.api_key.describe()}): use a restricted key (rk_...) with read access to "
            "Invoices, Charges and Customers")
    return HttpClient(headers=headers, secrets=[key], policy=policy, auth_hint=hint, sleep=sleep)


def sync_stripe(store: Store, cfg: StripeRevenueSettings, start: datetime, end: datetime, *,
                http: HttpClient | None = None) -> StripeSync:
    """Pull [start, end) (UTC, by document creation) and replace that window of ``stripe:<name>``.

    Nothing is written unless every page was read: a failure leaves the revenue table as it was.
    """
    if end <= start:
        raise SyncError(f"stripe:{cfg.name}: the window {start:%Y-%m-%d} to {end:%Y-%m-%d} is empty (end is exclusive)")
    result = StripeSync(f"stripe:{cfg.name}", start, end)
    if cfg.api_key.resolve().get_secret_value().startswith("sk_"):
        result.warnings.append(f"{cfg.api_key.describe()} holds a secret key (sk_...), which can write: aispend only "
                               "reads, so give it a restricted key (rk_...) with read access to Invoices, Charges and Customers")
    own = http is None
    http = http or stripe_client(cfg)
    try:
        rows = fetch_revenue(http, cfg, start, end, result)
    finally:
        result.requests, result.waited = http.requests, http.waited
        if own:
            http.close()
    result.rows_loaded, result.rows_replaced = replace_revenue(store, result.source, rows, (start, end))
    for r in rows:
        result.totals[r.currency] = result.totals.get(r.currency, Decimal(0)) + r.amount
    return result


def fetch_revenue(http: HttpClient, cfg: StripeRevenueSettings, start: datetime, end: datetime,
                  result: StripeSync | None = None) -> list[RevenueRow]:
    """Every revenue row of [start, end): paid invoices, then the charges no invoice accounts for."""
    result = result or StripeSync(f"stripe:{cfg.name}", start, end)
    window = [("created[gte]", str(_epoch(start))), ("created[lt]", str(_epoch(end)))]
    expand = [("expand[]", "data.customer")] if cfg.customer_metadata_key else []
    base = cfg.base_url.rstrip("/")
    rows: list[RevenueRow] = []
    paid_by_invoice: set[str] = set()  # charge and payment intent ids that paid a pulled invoice
    for inv in _list(http, f"{base}/v1/invoices", [("status", "paid"), *window, *expand], f"stripe:{cfg.name}: invoices"):
        rows.append(invoice_row(inv, cfg))
        paid_by_invoice.update(x for x in (_id(inv.get("charge")), _id(inv.get("payment_intent"))) if x)
        result.invoices += 1
    for ch in _list(http, f"{base}/v1/charges", [*window, *expand], f"stripe:{cfg.name}: charges"):
        row = None
        if not (ch.get("invoice") or ch.get("id") in paid_by_invoice or _id(ch.get("payment_intent")) in paid_by_invoice):
            row = charge_row(ch, cfg)
        if row is None:
            result.skipped_charges += 1
            continue
        rows.append(row)
        result.charges += 1
    return rows


def _list(http: HttpClient, url: str, params: list[tuple[str, str]], what: str) -> Iterator[dict[str, Any]]:
    """Every object of a Stripe list, following ``has_more`` / ``starting_after``."""
    after: str | None = None
    for page_no in range(1, MAX_PAGES + 1):
        page_params = [*params, ("limit", str(PAGE_LIMIT))] + ([("starting_after", after)] if after else [])
        where = f"{what} page {page_no}"
        response = http.get(url, page_params, what=where)
        try:
            body = response.json()
        except ValueError:
            raise SyncError(f"{where}: the response is not JSON; nothing was loaded, try again") from None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or body.get("object") != "list":
            raise SyncError(f"{where}: not a Stripe list (no object=list with data); check base_url; nothing was loaded")
        yield from data
        if not body.get("has_more"):
            return
        last = data[-1].get("id") if data and isinstance(data[-1], dict) else None
        if not last or last == after:
            raise SyncError(f"{where}: has_more without a new last id: the page cursor does not advance; nothing was loaded")
        after = last
    raise SyncError(f"{what}: more than {MAX_PAGES} pages; sync a shorter window")


# --- pure mapping: a Stripe object in, a revenue row out ------------------------------------------


def units(amount: int, currency: str) -> Decimal:
    """Stripe's integer minor units as an exact amount: 2180 usd -> 21.80, 1200 jpy -> 1200."""
    return Decimal(amount).scaleb(-minor_units(currency.upper()))


def invoice_row(inv: dict[str, Any], cfg: StripeRevenueSettings) -> RevenueRow:
    what = f"stripe:{cfg.name}: invoice {inv.get('id', '?')}"
    currency = _currency(inv, what)
    if isinstance(inv.get("total_excluding_tax"), int):
        minor = inv["total_excluding_tax"]
    elif isinstance(inv.get("total"), int):
        minor = inv["total"] - sum(t.get("amount", 0) for t in inv.get("total_tax_amounts") or [])
    else:
        raise SyncError(f"{what}: no integer total_excluding_tax or total; nothing was loaded")
    created = _time(inv.get("created"), what, "created")
    starts, ends = [], []
    for line in (inv.get("lines") or {}).get("data") or []:
        period = line.get("period") or {}
        if isinstance(period.get("start"), int) and isinstance(period.get("end"), int):
            starts.append(period["start"])
            ends.append(period["end"])
    if starts:
        start, end = _time(min(starts), what, "lines.period"), _time(max(ends), what, "lines.period")
        end = max(end, start + timedelta(seconds=1))  # a zero-length line period still counts at its start
    else:
        start = datetime.combine(created.date(), datetime.min.time())
        end = start + timedelta(days=1)
    customer, stripe_customer = _customer(inv, cfg)
    label = inv.get("number") or inv.get("id")
    return RevenueRow(customer=customer, period_start=start, period_end=end, amount=units(minor, currency),
                      currency=currency, occurred_at=created, external_id=inv.get("id"),
                      description=inv.get("description") or f"Stripe invoice {label}",
                      feature=_meta(inv, cfg.feature_metadata_key), source_customer=stripe_customer)


def charge_row(ch: dict[str, Any], cfg: StripeRevenueSettings) -> RevenueRow | None:
    """A succeeded charge's net amount; None for a failed, pending or fully refunded one."""
    what = f"stripe:{cfg.name}: charge {ch.get('id', '?')}"
    if ch.get("status") != "succeeded":
        return None
    captured = ch.get("amount_captured", ch.get("amount"))
    if not isinstance(captured, int):
        raise SyncError(f"{what}: no integer amount_captured; nothing was loaded")
    net = captured - int(ch.get("amount_refunded") or 0)
    if net == 0:
        return None
    currency = _currency(ch, what)
    created = _time(ch.get("created"), what, "created")
    day = datetime.combine(created.date(), datetime.min.time())
    customer, stripe_customer = _customer(ch, cfg)
    return RevenueRow(customer=customer, period_start=day, period_end=day + timedelta(days=1),
                      amount=units(net, currency), currency=currency, occurred_at=created, external_id=ch.get("id"),
                      description=ch.get("description") or "Stripe charge",
                      feature=_meta(ch, cfg.feature_metadata_key), source_customer=stripe_customer)


def _customer(obj: dict[str, Any], cfg: StripeRevenueSettings) -> tuple[str | None, str | None]:
    """(ledger customer, Stripe customer id): metadata of the document, of the customer, else the id."""
    ref = obj.get("customer")
    stripe_id = _id(ref)
    key = cfg.customer_metadata_key
    mapped = _meta(obj, key) or (_meta(ref, key) if isinstance(ref, dict) else None)
    return mapped or stripe_id, stripe_id


def _meta(obj: dict[str, Any], key: str) -> str | None:
    if not key:
        return None
    value = (obj.get("metadata") or {}).get(key)
    return (str(value).strip() or None) if value is not None else None


def _id(ref: Any) -> str | None:
    """An id whether Stripe sent it bare or expanded into an object."""
    if isinstance(ref, dict):
        return ref.get("id")
    return ref if isinstance(ref, str) and ref else None


def _currency(obj: dict[str, Any], what: str) -> str:
    cur = obj.get("currency")
    if not isinstance(cur, str) or len(cur) != 3 or not cur.isalpha():
        raise SyncError(f"{what}: currency {cur!r} is not an ISO 4217 code; nothing was loaded")
    return cur.upper()


def _time(value: Any, what: str, name: str) -> datetime:
    if not isinstance(value, int):
        raise SyncError(f"{what}: {name} is not unix seconds; nothing was loaded")
    return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)


def _epoch(when: datetime) -> int:
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())
