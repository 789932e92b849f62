"""A fake Stripe API on 127.0.0.1 speaking the real wire format (vendors.md §6.2), for revenue sync.

A real HTTP server (tests/fakes/_http.py) so the reader's httpx client, retries and paging run as
against api.stripe.com:

* ``Authorization: Bearer <restricted key>`` checked: no key or a wrong one gets 401 and Stripe's
  error JSON (the message echoes the whole key presented, worse than the real API, which masks
  it, so redaction is tested); ``Stripe-Version`` recorded;
* ``GET /v1/invoices`` (``status``, ``customer``, ``created[gte|gt|lte|lt]``, ``limit`` 1-100,
  ``starting_after``, ``expand[]``) and ``GET /v1/charges`` (the same without ``status``); an
  unknown parameter is a 400 as Stripe sends it;
* lists newest first, ``{"object": "list", "url", "has_more", "data"}``, paged with
  ``starting_after=<last id>``; ``expand[]=data.customer`` replaces the id by the customer object;
* scriptable faults per endpoint and page: 429 with Retry-After, 500, a malformed (non-JSON) page.

The objects are built by the helpers below (:func:`invoice`, :func:`charge`, :func:`customer`) from
the values a test chooses, so the test knows every amount independently of the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ._http import LocalServer, Request, next_fault

KEY = "rk_test_FAKE_restricted_key_for_tests"  # not shaped like a real key
ENDPOINTS = {"/v1/invoices": "invoice", "/v1/charges": "charge"}
_RANGE = ("created[gte]", "created[gt]", "created[lte]", "created[lt]")
PARAMS = {
    "/v1/invoices": {"status", "customer", "limit", "starting_after", "ending_before", "expand[]", *_RANGE},
    "/v1/charges": {"customer", "limit", "starting_after", "ending_before", "expand[]", *_RANGE},
}
STATUSES = {"draft", "open", "paid", "uncollectible", "void"}


@dataclass
class Fault:
    kind: str  # 429 | 500 | malformed
    endpoint: str | None = None  # "invoices" or "charges"; None: any
    page: int | None = None  # 1-based page of one listing; None: any
    times: int = 1
    retry_after: int | None = 1


@dataclass
class FakeStripe(LocalServer):
    key: str = KEY
    max_seconds: float = 120.0
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    charges: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, list[tuple[str, str]], int, str | None]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.origin

    def hits(self, fragment: str = "") -> int:
        return sum(1 for path, _, _, _ in self.requests if fragment in path)

    def respond(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        url = urlsplit(request.path)
        params = parse_qsl(url.query, keep_blank_values=True)
        if request.method != "GET":
            status, body, headers = 405, _error("Only GET is served by this fake.", "invalid_request_error"), {}
        else:
            status, body, headers = self._answer(url.path, params, request.headers.get("Authorization", ""))
        self.requests.append((url.path, params, status, request.headers.get("Stripe-Version")))
        return status, body, headers

    def _answer(self, path: str, params: list[tuple[str, str]], auth: str) -> tuple[int, Any, dict[str, str]]:
        if not auth:
            return 401, _error("You did not provide an API key. You need to provide your API key in the "
                               "Authorization header, using Bearer auth.", "invalid_request_error"), {}
        if auth != f"Bearer {self.key}":
            return 401, _error(f"Invalid API Key provided: {auth.removeprefix('Bearer ')}", "invalid_request_error"), {}
        if path not in ENDPOINTS:
            return 404, _error(f"Unrecognized request URL (GET: {path}).", "invalid_request_error"), {}
        q: dict[str, list[str]] = {}
        for k, v in params:
            if k not in PARAMS[path]:
                return 400, _error(f"Received unknown parameter: {k}", "invalid_request_error", param=k), {}
            q.setdefault(k, []).append(v)
        try:
            items, limit, offset = self._select(path, q)
        except ValueError as exc:
            return 400, _error(str(exc), "invalid_request_error", param=str(exc.args[1])), {}
        page_no = offset // limit + 1
        kind = path.rsplit("/", 1)[1]
        if (fault := next_fault(self.faults, page_no, kind)) is not None:
            if fault.kind == "429":
                extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                return 429, _error("Request rate limit exceeded. Learn more about rate limits here "
                                   "https://stripe.com/docs/rate-limits.", "invalid_request_error",
                                   code="rate_limit"), extra
            if fault.kind == "500":
                return 500, _error("An unknown error occurred", "api_error"), {}
            if fault.kind == "malformed":
                return 200, b'{"object": "list", "data": [{"id": "in_', {}
        page = items[offset:offset + limit]
        if "data.customer" in q.get("expand[]", []):
            page = [{**o, "customer": self._customer(o["customer"])} if o.get("customer") else o for o in page]
        return 200, {"object": "list", "url": path, "has_more": offset + limit < len(items), "data": page}, {}

    def _select(self, path: str, q: dict[str, list[str]]) -> tuple[list[dict[str, Any]], int, int]:
        limit = _one(q, "limit", "10")
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            raise ValueError("Invalid integer: limit must be between 1 and 100", "limit")
        for value in q.get("expand[]", []):
            if value != "data.customer":
                raise ValueError(f"This property cannot be expanded ({value}).", "expand")
        items = self.invoices if path == "/v1/invoices" else self.charges
        if (status := q.get("status")) is not None:
            if status[0] not in STATUSES:
                raise ValueError(f"Invalid status: must be one of {', '.join(sorted(STATUSES))}", "status")
            items = [o for o in items if o["status"] == status[0]]
        if (cus := q.get("customer")) is not None:
            items = [o for o in items if o.get("customer") == cus[0]]
        bounds = {"created[gte]": lambda c, b: c >= b, "created[gt]": lambda c, b: c > b,
                  "created[lte]": lambda c, b: c <= b, "created[lt]": lambda c, b: c < b}
        for name, test in bounds.items():
            if name in q:
                bound = _one(q, name, "")
                if not bound.lstrip("-").isdigit():
                    raise ValueError(f"Invalid timestamp: must be an integer Unix timestamp ({name})", name)
                items = [o for o in items if test(o["created"], int(bound))]
        items = sorted(items, key=lambda o: (o["created"], o["id"]), reverse=True)  # newest first
        offset = 0
        if "starting_after" in q:
            after = _one(q, "starting_after", "")
            ids = [o["id"] for o in items]
            if after not in ids:
                raise ValueError(f"No such {ENDPOINTS[path]}: '{after}'", "starting_after")
            offset = ids.index(after) + 1
        return items, int(limit), offset

    def _customer(self, cus_id: str) -> dict[str, Any]:
        return self.customers.get(cus_id) or {"id": cus_id, "object": "customer", "deleted": True}


def _one(q: dict[str, list[str]], name: str, default: str) -> str:
    return q.get(name, [default])[-1]


def _error(message: str, kind: str, *, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"message": message, "type": kind}
    if code:
        err["code"] = code
    if param:
        err["param"] = param
    return {"error": err}


# --- objects, as Stripe's API version 2024-06-20 writes them ---------------------------------------


def customer(cus_id: str, metadata: dict[str, str] | None = None, *, name: str | None = None) -> dict[str, Any]:
    return {"id": cus_id, "object": "customer", "created": 1735689600, "currency": "usd", "deleted": None,
            "email": f"{cus_id}@example.test", "livemode": False, "metadata": metadata or {}, "name": name}


def invoice(inv_id: str, cus_id: str | None, currency: str, lines: list[tuple[int, int, int]], *, created: int,
            tax: int = 0, discount: int = 0, status: str = "paid", charge: str | None = None,
            payment_intent: str | None = None, metadata: dict[str, str] | None = None,
            number: str | None = None) -> dict[str, Any]:
    """An invoice whose lines are (amount in minor units, period start, period end), less ``discount``
    and plus ``tax`` (minor units), with totals consistent the way Stripe computes them."""
    subtotal = sum(a for a, _, _ in lines)
    total_excluding_tax = subtotal - discount
    total = total_excluding_tax + tax
    paid = total if status == "paid" else 0
    data = [{"id": f"il_{inv_id[3:]}_{i}", "object": "line_item", "amount": amount,
             "amount_excluding_tax": amount, "currency": currency, "description": f"line {i}",
             "discount_amounts": [], "discountable": True, "livemode": False, "metadata": {},
             "period": {"start": start, "end": end}, "proration": False, "quantity": 1, "type": "subscription"}
            for i, (amount, start, end) in enumerate(lines, 1)]
    return {
        "id": inv_id, "object": "invoice", "number": number or f"FAKE-{inv_id[3:]}", "customer": cus_id,
        "currency": currency, "status": status, "created": created, "livemode": False,
        "period_start": created, "period_end": created, "subtotal": subtotal,
        "subtotal_excluding_tax": subtotal, "total_excluding_tax": total_excluding_tax, "tax": tax or None,
        "total": total, "amount_due": total, "amount_paid": paid, "amount_remaining": total - paid,
        "total_discount_amounts": [{"amount": discount, "discount": "di_fake"}] if discount else [],
        "total_tax_amounts": [{"amount": tax, "inclusive": False, "tax_rate": "txr_fake"}] if tax else [],
        "paid": status == "paid", "charge": charge, "payment_intent": payment_intent,
        "metadata": metadata or {}, "description": None,
        "status_transitions": {"finalized_at": created + 60, "paid_at": created + 100 if status == "paid" else None},
        "lines": {"object": "list", "data": data, "has_more": False, "total_count": len(data),
                  "url": f"/v1/invoices/{inv_id}/lines"},
    }


def charge(ch_id: str, cus_id: str | None, amount: int, currency: str, *, created: int, status: str = "succeeded",
           refunded: int = 0, invoice: str | None = None, payment_intent: str | None = None,
           metadata: dict[str, str] | None = None, description: str | None = None) -> dict[str, Any]:
    succeeded = status == "succeeded"
    return {
        "id": ch_id, "object": "charge", "amount": amount, "amount_captured": amount if succeeded else 0,
        "amount_refunded": refunded, "captured": succeeded, "created": created, "currency": currency,
        "customer": cus_id, "description": description, "invoice": invoice, "livemode": False,
        "metadata": metadata or {}, "paid": succeeded, "payment_intent": payment_intent,
        "refunded": refunded == amount and amount > 0, "status": status,
    }
