"""Receipt documents -> raw rows (all text), one per invoice line, tax line or discount.

* PDF: the text layer, read with pypdf (pure Python); a PDF without one (a scan) is refused.
* E-mail (.eml): the plain-text part, else the HTML part (tags stripped, one table row per line),
  else an attached PDF; the sender's display name and the Date header help when the body is silent.
* CSV of invoice lines, the layout docs/sources/receipt.md defines:
  ``vendor,invoice_number,invoice_date,amount,currency`` required, ``period_start, period_end,
  description, tax, charge_category, quantity, unit, service_category, receipt_number`` optional.

PDF and e-mail are read whole in Python and refused with one clear message when anything is off
(:class:`ReceiptError`). CSV cells are normalized here (amounts like "$1,234.56" or "€12,00" to
plain decimals) and validated by the SQL normalizer, so a bad cell is reported with its line.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa

from ._receipt_money import MoneyError, parse_amount
from ._receipt_text import Invoice, ReceiptError, categorize, parse_date, parse_email_date, parse_invoice
from ._receipt_vendors import provider_of, service_category

RAW_COLUMNS = (
    "vendor", "provider", "service_category", "invoice_number", "receipt_number", "invoice_date", "period_start",
    "period_end", "charge_category", "description", "quantity", "unit", "amount", "tax", "currency", "tags",
)
RAW_SCHEMA = pa.schema([(c, pa.string()) for c in RAW_COLUMNS])

CSV_REQUIRED = ("vendor", "invoice_number", "invoice_date", "amount", "currency")
CSV_OPTIONAL = ("period_start", "period_end", "description", "tax", "charge_category", "quantity", "unit",
                "service_category", "receipt_number")


# --- PDF ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _pdf_text_cached(path: str, _mtime_ns: int, _size: int) -> str:
    return pdf_text_bytes(Path(path).read_bytes())


def pdf_text(path: Path) -> str:
    st = path.stat()
    return _pdf_text_cached(str(path), st.st_mtime_ns, st.st_size)


def pdf_text_bytes(data: bytes) -> str:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError:  # pragma: no cover - a declared dependency
        raise ReceiptError("reading PDF receipts needs the pypdf package (pip install pypdf)") from None
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ReceiptError("the PDF is password-protected")
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except ReceiptError:
        raise
    except (PyPdfError, ValueError, KeyError, OSError) as exc:
        raise ReceiptError(f"not a readable PDF: {exc}") from None


# --- e-mail ------------------------------------------------------------------------------------------


class _HtmlText(HTMLParser):
    """Visible text of an HTML e-mail: block elements and table rows end lines, cells are spaced."""

    _BLOCK = frozenset({"p", "div", "tr", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "tbody", "thead", "hr"})
    _SKIP = frozenset({"style", "script", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(self._skipping - 1, 0)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data.replace("\n", " "))


def html_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


@lru_cache(maxsize=8)
def _email_cached(path: str, _mtime_ns: int, _size: int) -> EmailMessage:
    with open(path, "rb") as fh:
        msg = BytesParser(policy=policy.default).parse(fh)
    assert isinstance(msg, EmailMessage)
    return msg


def read_email(path: Path) -> EmailMessage:
    st = path.stat()
    return _email_cached(str(path), st.st_mtime_ns, st.st_size)


_GENERIC_SENDER = re.compile(r"(?i)stripe|^(?:billing|receipts?|invoices?|no-?reply|support|accounts?|payments?)$")


def _sender_name(msg: EmailMessage) -> str | None:
    header = msg["from"]
    addresses = getattr(header, "addresses", ()) if header is not None else ()
    name = addresses[0].display_name.strip() if addresses else ""
    return name if name and not _GENERIC_SENDER.search(name) else None


def email_texts(msg: EmailMessage) -> list[str]:
    """The bodies to try, best first: plain text, HTML as text, then attached PDFs' text."""
    texts = []
    for kind in ("plain", "html"):
        part = msg.get_body(preferencelist=(kind,))
        if part is not None and part.get_content_type() == f"text/{kind}":
            content = part.get_content()
            texts.append(content if kind == "plain" else html_text(content))
    for part in msg.iter_attachments():
        if part.get_content_type() == "application/pdf":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                texts.append(pdf_text_bytes(payload))
    return texts


def email_invoice(path: Path) -> Invoice:
    msg = read_email(path)
    subject = str(msg["subject"] or "")
    hints = {"vendor_hint": _sender_name(msg), "date_hint": parse_email_date(msg["date"]), "extra": subject}
    first_error: ReceiptError | None = None
    for text in email_texts(msg):
        try:
            return parse_invoice(text, **hints)
        except ReceiptError as exc:
            first_error = first_error or exc
    raise first_error or ReceiptError("the e-mail has no text or HTML body and no PDF attached")


def looks_like_receipt_email(path: Path) -> bool:
    try:
        msg = read_email(path)
        texts = [str(msg["subject"] or "")] + email_texts(msg)
    except (OSError, ReceiptError, ValueError, LookupError):
        return False
    return any(re.search(r"(?i)\b(?:receipt|invoice)\b", t) for t in texts)


# --- invoice -> rows ---------------------------------------------------------------------------------


def invoice_rows(inv: Invoice) -> pa.Table:
    provider = provider_of(inv.vendor)
    tags = json.dumps({"receipt_number": inv.receipt_number}) if inv.receipt_number else None
    rows = []
    for c in inv.charges:
        assert c.period is not None
        rows.append({
            "vendor": inv.vendor, "provider": provider,
            "service_category": service_category(provider, c.description),
            "invoice_number": inv.invoice_number or inv.receipt_number, "receipt_number": inv.receipt_number,
            "invoice_date": inv.invoice_date.isoformat(), "period_start": c.period[0].isoformat(),
            "period_end": c.period[1].isoformat(), "charge_category": c.category, "description": c.description,
            "quantity": None if c.quantity is None else str(c.quantity), "unit": None,
            "amount": str(c.amount), "tax": None, "currency": inv.currency, "tags": tags,
        })
    return pa.Table.from_pylist(rows, schema=RAW_SCHEMA)


# --- CSV ---------------------------------------------------------------------------------------------


def csv_header_map(headers: tuple[str, ...] | list[str]) -> dict[str, int]:
    return {h.strip().lower(): i for i, h in enumerate(headers)}


def is_invoice_csv(headers: tuple[str, ...] | list[str]) -> bool:
    return set(CSV_REQUIRED) <= set(csv_header_map(headers))


def _iso_day(raw: str | None) -> str | None:
    if not raw:
        return raw
    try:
        return parse_date(raw).isoformat()
    except (ReceiptError, ValueError):
        return raw  # left as written: the SQL check names it


def _money(raw: str | None, currency: str | None) -> tuple[str | None, str | None]:
    """(plain decimal text, currency it names) or the raw text when unreadable (the SQL check reports it)."""
    if not raw:
        return raw, None
    try:
        value, named = parse_amount(raw, currency)
    except MoneyError:
        return raw, None
    return str(value), named


def csv_rows(path: Path) -> pa.Table:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:  # type: ignore[operator]
        reader = csv.reader(fh)
        header = csv_header_map(next(reader, []))
        lines, taxes = [], []
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            cell = {name: (record[i].strip() or None) if i < len(record) else None for name, i in header.items()}
            row, tax = _csv_row(cell)
            lines.append(row)
            if tax:
                taxes.append(tax)
    # Tax rows go after every line, so the lines keep their file order (error line numbers).
    return pa.Table.from_pylist(lines + taxes, schema=RAW_SCHEMA)


def _csv_row(cell: dict[str, str | None]) -> tuple[dict[str, str | None], dict[str, str | None] | None]:
    vendor = cell.get("vendor")
    currency = (cell.get("currency") or "").upper() or None
    amount, named = _money(cell.get("amount"), currency)
    tax, tax_named = _money(cell.get("tax"), currency)
    if currency is None:
        currency = named or tax_named
    elif (named and named != currency) or (tax_named and tax_named != currency):
        amount = cell.get("amount")  # "€12,00" on a USD row: refused by the check, never converted
    provider = provider_of(vendor) if vendor else None
    description = cell.get("description")
    category = (cell.get("charge_category") or "").lower() or None
    if category is None and amount is not None:
        try:
            category = categorize(description or "", _decimal(amount))
        except ValueError:
            category = "usage"
    tags = json.dumps({"receipt_number": cell["receipt_number"]}) if cell.get("receipt_number") else None
    row = {
        "vendor": vendor, "provider": provider,
        "service_category": cell.get("service_category") or service_category(provider, description or ""),
        "invoice_number": cell.get("invoice_number"), "receipt_number": cell.get("receipt_number"),
        "invoice_date": _iso_day(cell.get("invoice_date")), "period_start": _iso_day(cell.get("period_start")),
        "period_end": _iso_day(cell.get("period_end")), "charge_category": category, "description": description,
        "quantity": cell.get("quantity"), "unit": cell.get("unit"), "amount": amount, "tax": tax,
        "currency": currency, "tags": tags,
    }
    taxed = tax is not None and _valid(row) and _decimal(tax) != 0
    if not taxed:
        return row, None
    tax_row = dict(row, charge_category="tax", description=f"Tax: {description}" if description else "Tax",
                   quantity=None, unit=None, amount=tax, tax=None)
    return row, tax_row


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(text) from None


def _is_day(text: str | None) -> bool:
    try:
        return text is not None and bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", text)) and bool(date.fromisoformat(text))
    except ValueError:
        return False


def _valid(row: dict[str, str | None]) -> bool:
    """Whether the SQL checks will pass on this line (its tax row is emitted only then)."""
    try:
        for key in ("amount", "tax"):
            if row[key] is not None:
                _decimal(row[key] or "")
        if row["quantity"] is not None:
            _decimal(row["quantity"] or "")
    except ValueError:
        return False
    days_ok = all(row[k] is None or _is_day(row[k]) for k in ("period_start", "period_end"))
    return bool(row["vendor"] and row["invoice_number"] and _is_day(row["invoice_date"])
                and row["currency"] and re.fullmatch(r"[A-Z]{3}", row["currency"]) and days_ok
                and (row["period_end"] is None
                     or (row["period_start"] or row["invoice_date"] or "") < row["period_end"])
                and row["charge_category"] in (None, "usage", "purchase", "tax", "credit", "adjustment"))
