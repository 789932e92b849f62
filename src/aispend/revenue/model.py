"""One revenue row: money a customer paid for a period, as the ``revenue`` table stores it.

Readers (CSV, Stripe) produce :class:`RevenueRow`; :mod:`aispend.revenue.store` adds the source and
load time. ``customer`` is the ledger's ``customer`` key, so margin is a join on equal strings;
``source_customer`` keeps what the source called the customer (a Stripe ``cus_...`` id) for tracing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import pyarrow as pa

from ..schema import MONEY_ARROW

MAX_AMOUNT_DIGITS = 20  # DECIMAL(38, 18): 20 digits before the point, 18 after


@dataclass(frozen=True)
class RevenueRow:
    customer: str | None  # None: the source names nobody (a guest charge); margin's (unattributed)
    period_start: datetime  # UTC, inclusive: the row counts in the window this falls in
    period_end: datetime  # UTC, exclusive
    amount: Decimal  # in currency units (dollars, yen), never minor units
    currency: str  # ISO 4217, upper case
    occurred_at: datetime  # when the source dated the document: a re-sync replaces by this
    external_id: str | None = None  # invoice or charge id, or the CSV's id column
    description: str | None = None
    feature: str | None = None
    source_customer: str | None = None


ARROW_SCHEMA = pa.schema([
    ("source", pa.string()), ("external_id", pa.string()), ("customer", pa.string()),
    ("source_customer", pa.string()), ("feature", pa.string()), ("period_start", pa.timestamp("us")),
    ("period_end", pa.timestamp("us")), ("occurred_at", pa.timestamp("us")), ("amount", MONEY_ARROW),
    ("currency", pa.string()), ("description", pa.string()), ("loaded_at", pa.timestamp("us")),
])
COLUMNS = tuple(ARROW_SCHEMA.names)


def fits_money(value: Decimal) -> bool:
    """True when ``value`` is finite and fits DECIMAL(38, 18) without rounding."""
    if not value.is_finite():
        return False
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    decimals = max(0, -exponent)
    whole = max(0, len(digits) + exponent)
    return decimals <= 18 and whole <= MAX_AMOUNT_DIGITS
