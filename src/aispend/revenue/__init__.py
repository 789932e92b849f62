"""Revenue: what customers paid, so AI cost can be read as margin (docs/unit-economics.md).

Two readers fill the ``revenue`` table, each replacing what it loaded before:

* :func:`import_revenue_csv`: a CSV (customer, date|month|period_start+period_end, amount, currency);
* :func:`sync_stripe`: paid invoices and stand-alone charges of your own Stripe account.

:mod:`aispend.analysis.unit_economics` joins it with the ledger by ``customer`` (and ``feature``).
"""

from __future__ import annotations

from .csv import CsvImport, RevenueCsvError, import_revenue_csv, read_revenue_csv
from .model import RevenueRow
from .store import list_revenue, replace_revenue
from .stripe import StripeSync, default_window, fetch_revenue, stripe_client, sync_stripe

__all__ = [
    "CsvImport",
    "RevenueCsvError",
    "RevenueRow",
    "StripeSync",
    "default_window",
    "fetch_revenue",
    "import_revenue_csv",
    "list_revenue",
    "read_revenue_csv",
    "replace_revenue",
    "stripe_client",
    "sync_stripe",
]
