"""Receipts and invoices of tools billed through Stripe (or alike): PDF, e-mail (.eml), invoice-lines CSV.

One ledger row per invoice line, one per tax line (``charge_category = 'tax'``) and one per discount
(``credit``, negative), in the invoice's currency, ``cost_source = 'billed'``. The invoice number is
the row's ``invoice_id`` and the format restates by it: the same invoice imported again (its PDF,
then its receipt e-mail, or the file twice) replaces the earlier import instead of adding to it.

Detection: a PDF whose text says "invoice" or "receipt"; an e-mail whose subject or body does; a
CSV whose header has ``vendor, invoice_number, invoice_date, amount, currency``. docs/sources/receipt.md
describes the fields read, the CSV layout and the heuristics (charge categories, AI vendors).
"""

from __future__ import annotations

import re

import pyarrow as pa

from ...errors import ImportError_
from ...schema import CHARGE_CATEGORIES
from .. import sqlparts as s
from . import Context, NativeFormat, Probe
from ._receipt_docs import (
    RAW_COLUMNS,
    csv_rows,
    email_invoice,
    invoice_rows,
    is_invoice_csv,
    looks_like_receipt_email,
    pdf_text,
)
from ._receipt_text import ReceiptError, parse_invoice

TABLE = "_receipt_rows"


class ReceiptFormat(NativeFormat):
    name = "receipt"
    priority = 80
    restates_by = "invoice_id"
    header_lines = 1  # CSV: the header line; PDF and e-mail errors are raised before any row

    def matches(self, probe: Probe) -> bool:
        if probe.container == "csv":
            return is_invoice_csv(probe.headers)
        if probe.container == "pdf":
            try:
                return bool(re.search(r"(?i)\b(?:invoice|receipt)\b", pdf_text(probe.path)))
            except ReceiptError:
                return False
        if probe.container == "eml":
            return looks_like_receipt_email(probe.path)
        return False

    def tables(self, probe: Probe) -> dict[str, pa.Table]:
        try:
            if probe.container == "csv":
                return {TABLE: csv_rows(probe.path)}
            if probe.container == "pdf":
                return {TABLE: invoice_rows(parse_invoice(pdf_text(probe.path)))}
            if probe.container == "eml":
                return {TABLE: invoice_rows(email_invoice(probe.path))}
        except ReceiptError as exc:
            raise ImportError_(f"{probe.path}: {exc}; nothing was imported") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ImportError_(f"{probe.path}: cannot read the file: {exc}") from None
        raise ImportError_(f"{probe.path}: a receipt is a PDF, an .eml e-mail or an invoice-lines CSV")

    def normalize_sql(self, probe: Probe, ctx: Context) -> str:
        return normalize_sql(ctx)


def normalize_sql(ctx: Context) -> str:
    raw = {f"r_{c}": s.blank(s.q(c)) for c in RAW_COLUMNS}
    parsed = {
        "p_invoice_date": "try_cast(r_invoice_date AS DATE)",
        "p_start": "try_cast(r_period_start AS DATE)",
        "p_end": "try_cast(r_period_end AS DATE)",
        "p_amount": s.decimal("r_amount"),
        "p_tax": s.decimal("r_tax"),
        "p_quantity": s.decimal("r_quantity"),
        "p_category": "lower(r_charge_category)",
        "p_currency": "CASE WHEN regexp_full_match(r_currency, '[A-Z]{3}') THEN r_currency END",
    }
    day = "a date (YYYY-MM-DD)"
    allowed = ", ".join(s.lit(c) for c in CHARGE_CATEGORIES)
    checks = [
        *s.required("vendor", "r_vendor", "r_provider", "a vendor name"),
        *s.required("invoice_number", "r_invoice_number", "r_invoice_number", "text"),
        *s.required("invoice_date", "r_invoice_date", "p_invoice_date", day),
        *s.optional("period_start", "r_period_start", "p_start", day),
        *s.optional("period_end", "r_period_end", "p_end", day),
        s.Check("period_end", "p_end <= coalesce(p_start, p_invoice_date)", "is not after the period start",
                "r_period_end"),
        *s.required("amount", "r_amount", "p_amount", "an exact money amount in the row's currency"),
        *s.optional("tax", "r_tax", "p_tax", "an exact money amount in the row's currency"),
        *s.required("currency", "r_currency", "p_currency", "an ISO 4217 code (USD, EUR, JPY, ...)"),
        *s.optional("quantity", "r_quantity", "p_quantity", "a decimal number"),
        *s.optional("charge_category", "r_charge_category", f"CASE WHEN p_category IN ({allowed}) THEN 1 END",
                    "one of " + ", ".join(CHARGE_CATEGORIES)),
    ]
    start = "coalesce(p_start, p_invoice_date)"
    values = {
        "source": s.lit(ctx.source),
        "source_type": "'receipt'",
        "ingested_at": f"CAST({s.lit(ctx.ingested_at)} AS TIMESTAMP)",
        "batch_id": s.lit(ctx.batch_id),
        "period_start": f"CAST({start} AS TIMESTAMP)",
        "period_end": f"CAST(coalesce(p_end, {start} + INTERVAL 1 DAY) AS TIMESTAMP)",
        "billing_period": "strftime(p_invoice_date, '%Y-%m')",
        "provider": "r_provider",
        "service": "r_vendor",
        "service_category": "r_service_category",
        "charge_category": "p_category",
        "description": "r_description",
        "quantity": "p_quantity",
        "unit": "r_unit",
        "billed_cost": "p_amount",
        "billing_currency": "p_currency",
        "cost_source": "'billed'",
        "tags": "r_tags",
        "invoice_id": "r_invoice_number",
    }
    return s.ledger_select(raw, parsed, values, checks, TABLE)


FORMAT = ReceiptFormat()
