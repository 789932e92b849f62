"""The text of a receipt or invoice (PDF text layer, e-mail body) -> one :class:`Invoice`.

Stripe-style documents: a header block of labelled fields (``Invoice number``, ``Receipt number``,
``Date of issue`` / ``Date paid`` / ``Date due``), a table of lines (``Description  Qty  Unit price
Amount``, each line's amount last, its service period such as ``Jan 1 – Feb 1, 2026`` on the line
or next to it), then a summary (``Subtotal``, discounts, tax lines, ``Total``, ``Amount paid``).
The labels are matched loosely and case-insensitively; Stripe's exact wording is not documented
(vendors.md §6.1, UNCONFIRMED), so the parser checks its own reading instead of trusting it:
lines + discounts + tax must equal the printed total, or the file is refused with the figures.
"""

from __future__ import annotations

import calendar
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime

from ._receipt_money import ISO_CODES, Amount, MoneyError, check_places, find_amounts, money_attempts


class ReceiptError(ValueError):
    """The document cannot be read as a receipt; the message says what is missing or wrong."""


@dataclass
class Charge:
    description: str
    amount: Decimal
    category: str  # usage | purchase | tax | credit | adjustment
    quantity: Decimal | None = None
    period: tuple[date, date] | None = None  # [start, end)


@dataclass
class Invoice:
    vendor: str
    invoice_number: str | None
    receipt_number: str | None
    invoice_date: date
    currency: str
    charges: list[Charge] = field(default_factory=list)
    total: Decimal | None = None


_I = re.IGNORECASE
_IM = re.IGNORECASE | re.MULTILINE

# --- dates and periods -----------------------------------------------------------------------------

_MON = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
        r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_FULL_DATE = rf"(?:{_MON}\s+{_DAY},?\s+\d{{4}}|{_DAY}\s+{_MON},?\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}})"
_PART_DATE = rf"(?:{_MON}\s+{_DAY}(?:,?\s+\d{{4}})?|{_DAY}\s+{_MON}(?:,?\s+\d{{4}})?|\d{{4}}-\d{{2}}-\d{{2}})"
DATE = re.compile(_FULL_DATE, _I)
PERIOD = re.compile(rf"(?P<a>{_PART_DATE})\s*(?:[-–—]|to|until|through)\s*(?P<b>{_FULL_DATE})", _I)
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}


def parse_date(text: str, year: int | None = None) -> date:
    """'January 1, 2026', 'Jan 1, 2026', '1 Jan 2026', '2026-01-01' (or without year, given ``year``)."""
    t = re.sub(r"(?<=\d)(st|nd|rd|th)\b", "", text.strip().replace(",", " ").replace(".", " "), flags=_I)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
        try:
            return date.fromisoformat(t)
        except ValueError:
            raise ReceiptError(f"{text!r} is not a date") from None
    parts = t.split()
    if len(parts) >= 2 and parts[0][:1].isdigit():  # 1 Jan 2026
        parts = [parts[1], parts[0], *parts[2:]]
    if len(parts) == 2 and year is not None:
        parts.append(str(year))
    try:
        if len(parts) != 3 or parts[0][:3].lower() not in _MONTHS:
            raise ValueError(text)
        return date(int(parts[2]), _MONTHS[parts[0][:3].lower()], int(parts[1]))
    except ValueError:
        raise ReceiptError(f"{text!r} is not a date") from None


def parse_period(match: re.Match[str]) -> tuple[date, date]:
    """A printed service period as [start, end).

    Stripe prints the exclusive end ("Jan 1 – Feb 1, 2026"); a range that ends on the last day of a
    month and starts on a first ("Jan 1 – Jan 31, 2026") is read as inclusive and gets one more day.
    """
    end = parse_date(match["b"])
    start = parse_date(match["a"], year=end.year)
    if start > end:  # "Dec 15 – Jan 15, 2026"
        start = start.replace(year=start.year - 1)
    last_of_month = end.day == calendar.monthrange(end.year, end.month)[1]
    if end == start or (last_of_month and start.day == 1):
        end += timedelta(days=1)
    return start, end


# --- labels ------------------------------------------------------------------------------------------


_ID = r"#?\s*([A-Z0-9][A-Z0-9-]*\d[A-Z0-9-]*)"
INVOICE_NO = [re.compile(rf"\binvoice\s*(?:number|no\.?|num\.?|#|id)\s*:?\s*{_ID}", _I),
              re.compile(r"\binvoice\s+#?([A-Z0-9]{4,}-\d{3,})\b")]
RECEIPT_NO = [re.compile(rf"\breceipt\s*(?:number|no\.?|num\.?|#)\s*:?\s*{_ID}", _I),
              re.compile(r"\[#([0-9A-Z-]{4,})\]"),
              re.compile(r"\breceipt\b.*?#\s*(\d{4}-\d{4})\b", _I)]
ISSUED = re.compile(rf"(?:date of issue|date issued|issue date|invoice date|issued(?: on)?)\s*:?\s*({_FULL_DATE})", _I)
PAID = re.compile(rf"(?:date paid|paid on|payment date)\s*:?\s*({_FULL_DATE})", _I)
DUE = re.compile(rf"(?:date due|due date|due on|due)\s*:?\s*({_FULL_DATE})", _I)
VENDOR = [re.compile(r"^\s*(?:vendor|seller|merchant|billed by|sold by|from)\s*:\s*(.+?)\s*$", _IM),
          re.compile(r"\b(?:receipt|invoice) from\s+(.+?)(?:\s*\[#.*|\s+#\s*[\w-]+.*|\s*$)", _IM),
          re.compile(r"\bquestions\?\s*(?:contact|email)\s+(.+?)\s+at\s+\S+@", _I)]

_HEADER = re.compile(r"\bdescription\b.*\b(?:amount|qty|quantity|price)\b|^\s*(?:order\s+)?summary\s*$", _I)
_SUBTOTAL = re.compile(r"^\s*sub-?\s?total\b", _I)
_TOTAL = re.compile(r"^\s*(?:invoice\s+)?total\b", _I)
_TOTAL_EXCL = re.compile(r"^\s*total\s+(?:excl|excluding|before|without|net)\b", _I)
_NOT_CHARGE = re.compile(r"^\s*(?:amount\s+(?:paid|due|remaining|refunded)|applied\s+balance|paid|balance|"
                         r"refunded|payment|remaining|credit\s+applied\s+from\s+balance)\b|\bdue\s+(?:on|by)?\s*"
                         + _FULL_DATE + r"|\bpaid\s+on\b", _I)
_META = re.compile(r"^\s*(?:invoice\s*(?:number|no|#)|receipt\s*(?:number|no|#)|date\b|payment\s+method|bill\s+to|"
                   r"ship\s+to|amount\s+(?:paid|due)|due\b|paid\b)", _I)
_TAX = re.compile(r"\b(?:tax|taxes|vat|gst|hst|pst|qst|iva|mwst|ust|tva|btw|moms|consumption tax|sales tax)\b", _I)
_TAX_INCLUDED = re.compile(r"\b(?:incl\.?|included|inclusive)\b", _I)
_DISCOUNT = re.compile(r"\b(?:discount|promo(?:tion)?|coupon|% off|credit|rebate)\b", _I)
_QTY = re.compile(r"(?:^|\s)(?:qty|quantity)\s*:?\s*(\d+(?:\.\d+)?)\s*$|^\s*[×x]\s*(\d+)\s*$", _I)
_LEAD_QTY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[×x]\s+")
_MARKED_QTY = re.compile(r"(?:\s+|^)(?:(?:qty|quantity)\s*:?\s*|[×x]\s*)(\d+(?:\.\d+)?)\s*$", _I)
_BARE_QTY = re.compile(r"(?:\s+|^)(\d+(?:\.\d+)?)\s*$")

# Charge categories from a line's words (vendors.md §6.3: prepaid credits are purchases).
_CREDIT_PACK = re.compile(r"\bcredits?\b|top[- ]?up|prepaid|pre-?pay", _I)
_METERED = re.compile(r"\busage\b|overage|metered|\btokens?\b|\brequests?\b|\bcalls?\b|pay[- ]as[- ]you[- ]go|"
                      r"\bcharacters?\b|\bminutes?\b|\bgenerations?\b|\bcompute\b", _I)
_SUBSCRIPTION = re.compile(r"\bplan\b|subscription|\bseats?\b|membership|licen[cs]e|monthly|annual|yearly|"
                           r"per month|/\s*(?:mo|month|year|yr)\b|\b(?:pro|plus|premium|team|teams|business|"
                           r"enterprise|starter|ultra|max)\b", _I)


def categorize(description: str, amount: Decimal) -> str:
    """usage, purchase or credit for an invoice line, from its sign and words (documented heuristics)."""
    if amount < 0:
        return "credit"
    if _CREDIT_PACK.search(description):
        return "purchase"
    if _METERED.search(description):
        return "usage"
    if _SUBSCRIPTION.search(description):
        return "purchase"
    return "usage"


def _first(patterns: list[re.Pattern[str]], text: str) -> str | None:
    for p in patterns:
        if m := p.search(text):
            return m.group(1).strip()
    return None


def clean_vendor(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip(" \t\"'<>:,;-–")


# --- the parser --------------------------------------------------------------------------------------


@dataclass
class _Pending:
    lines: list[str] = field(default_factory=list)
    period: tuple[date, date] | None = None
    quantity: Decimal | None = None


def normalize_lines(text: str) -> list[str]:
    out = []
    for raw in text.replace("\r", "\n").split("\n"):
        line = re.sub(r"[ \t\u2000-\u200a\u3000]+", " ", raw).strip()
        if line:
            out.append(line)
    return out


def parse_invoice(
    text: str, *, vendor_hint: str | None = None, date_hint: date | None = None, extra: str = ""
) -> Invoice:
    """Read one invoice or receipt. ``extra`` is text searched for labels only (an e-mail's subject)."""
    lines = normalize_lines(text)
    whole = "\n".join([extra, *lines])
    if not lines:
        raise ReceiptError("the document has no text (a scanned image?)")

    header = next((i for i, ln in enumerate(lines) if _HEADER.search(ln)), None)
    summary = next((i for i, ln in enumerate(lines)
                    if (header is None or i > header) and (_SUBTOTAL.match(ln) or _TOTAL.match(ln))), len(lines))
    if header is not None:
        start = header + 1
    else:  # no table header: the lines start after the header block of labelled fields
        metas = [i for i, ln in enumerate(lines[:summary])
                 if _META.match(ln) or (DATE.search(ln) and not find_amounts(ln))]
        start = metas[-1] + 1 if metas else 0

    items, used = _items(lines[start:summary])
    extras, total, used_summary = _summary(lines[summary:])
    used += used_summary
    if not items:
        raise ReceiptError("found no invoice lines (a table of descriptions and amounts, before 'Subtotal' or 'Total')")

    currency = _currency(whole, used)
    for a in used:
        check_places(a, currency)

    lines_sum = sum((c.amount for c in items), Decimal(0))
    billed = lines_sum + sum((c.amount for c in extras if c.category != "tax-included"), Decimal(0))
    if total is not None and billed != total:
        tax = sum((c.amount for c in extras if c.category == "tax"), Decimal(0))
        other = billed - lines_sum - tax
        raise ReceiptError(
            f"the amounts do not add up: lines {lines_sum} + discounts {other} + tax {tax} = {billed}, "
            f"but the total says {total} ({currency}); refusing to guess (import it as an invoice-lines CSV instead)"
        )

    invoice_date = _invoice_date(whole, date_hint)
    invoice_number = _first(INVOICE_NO, whole)
    receipt_number = _first(RECEIPT_NO, whole)
    if invoice_number is None and receipt_number is None:
        raise ReceiptError("found no invoice number or receipt number")
    vendor = _first(VENDOR, whole) or vendor_hint or _vendor_line(lines, start - 1 if header is not None else start)
    if not vendor:
        raise ReceiptError("cannot tell the vendor (looked for 'Receipt from ...', 'Invoice from ...', "
                           "'Questions? Contact ... at', the sender and the seller's address block)")

    fallback = _document_period(lines, start, summary) or (invoice_date, invoice_date + timedelta(days=1))
    for c in items:
        c.period = c.period or fallback
    span = (min(c.period[0] for c in items if c.period), max(c.period[1] for c in items if c.period))
    charges = items + [
        Charge(c.description, c.amount, "tax" if c.category.startswith("tax") else c.category, None, span)
        for c in extras if c.category != "tax-included"
    ]
    return Invoice(clean_vendor(vendor), invoice_number, receipt_number, invoice_date, currency, charges, total)


def _unreadable(line: str, amounts: list[Amount]) -> None:
    if bad := money_attempts(line, amounts):
        raise ReceiptError(f"cannot read the amount {bad[-1]!r} in the line {line!r}: not an exact money amount")
    if amounts and amounts[-1].value is None:
        raise ReceiptError(f"cannot read the amount in the line {line!r}: {amounts[-1].error}")


def _items(lines: list[str]) -> tuple[list[Charge], list[Amount]]:
    items: list[Charge] = []
    used: list[Amount] = []
    pending = _Pending()
    for line in lines:
        amounts = find_amounts(line)
        _unreadable(line, amounts)
        period_match = PERIOD.search(line)
        if not amounts:
            if period_match:
                period = parse_period(period_match)
                rest = (line[: period_match.start()] + line[period_match.end():]).strip(" ()")
                if rest:
                    pending.lines.append(rest)
                if not pending.lines and items and items[-1].period is None:
                    items[-1].period = period  # the period printed under the line it belongs to
                else:
                    pending.period = period
            elif m := _QTY.search(line):
                pending.quantity = Decimal(m.group(1) or m.group(2))
            elif not _NOT_CHARGE.search(line):
                pending.lines.append(line)
            continue
        if _NOT_CHARGE.search(line) and not period_match:
            continue
        amount = amounts[-1]
        cut = amount.start
        if len(amounts) > 1 and not line[amounts[-2].end: amount.start].strip():
            cut = amounts[-2].start  # the unit price column
        desc = line[:cut]
        period = pending.period
        if period_match and period_match.end() <= cut:
            period = parse_period(period_match)
            desc = desc[: period_match.start()] + desc[period_match.end():]
        quantity = pending.quantity
        if m := _LEAD_QTY.match(desc):
            quantity, desc = Decimal(m.group(1)), desc[m.end():]
        elif (m := _MARKED_QTY.search(desc)) or cut != amount.start and (m := _BARE_QTY.search(desc)):
            quantity, desc = Decimal(m.group(1)), desc[: m.start()]
        desc = re.sub(r"\s*\(\s*\)", "", " ".join([*pending.lines, desc.strip()])).strip() or "Invoice line"
        value = amount.exact()
        category = "tax" if _TAX.search(desc) and not pending.lines and quantity is None else categorize(desc, value)
        items.append(Charge(desc, value, category, quantity, period))
        used.append(amount)
        pending = _Pending()
    return items, used


def _summary(lines: list[str]) -> tuple[list[Charge], Decimal | None, list[Amount]]:
    extras: list[Charge] = []
    used: list[Amount] = []
    for line in lines:
        amounts = find_amounts(line)
        if not amounts and not money_attempts(line, amounts):
            continue
        _unreadable(line, amounts)
        amount = amounts[-1]
        label = line[: amount.start].strip() or line
        if _SUBTOTAL.match(line) or _TOTAL_EXCL.match(line):
            used.append(amount)
        elif _TOTAL.match(line):
            used.append(amount)
            return extras, amount.exact(), used
        elif _NOT_CHARGE.search(line):
            continue
        elif _TAX.search(label):
            kind = "tax-included" if _TAX_INCLUDED.search(label) else "tax"
            extras.append(Charge(label, amount.exact(), kind))
            used.append(amount)
        elif _DISCOUNT.search(label) or amount.exact() < 0:
            value = -abs(amount.exact())
            extras.append(Charge(label, value, "credit"))
            used.append(amount)
    return extras, None, used


def _currency(text: str, used: list[Amount]) -> str:
    named = [a.currency for a in used if a.currency]
    codes = Counter(named or [c for c in re.findall(r"\b[A-Z]{3}\b", text) if c in ISO_CODES])
    document = codes.most_common(1)[0][0] if codes else None
    try:
        found = {a.resolve(document) for a in used}
    except MoneyError as exc:
        raise ReceiptError(str(exc)) from None
    if len(found) != 1:
        raise ReceiptError(f"the amounts are in several currencies ({', '.join(sorted(found))})")
    return found.pop()


def _invoice_date(text: str, hint: date | None) -> date:
    for pattern in (ISSUED, PAID, DUE):
        if m := pattern.search(text):
            return parse_date(m.group(1))
    if hint is not None:
        return hint
    if m := DATE.search(text):
        return parse_date(m.group(0))
    raise ReceiptError("found no invoice date ('Date of issue', 'Date paid', 'Date due', or any date)")


def _document_period(lines: list[str], start: int, summary: int) -> tuple[date, date] | None:
    """A period printed outside the lines table ("Billing period Jan 1 – Feb 1, 2026")."""
    for i, line in enumerate(lines):
        if not start <= i < summary and (m := PERIOD.search(line)):
            return parse_period(m)
    return None


def _vendor_line(lines: list[str], end: int) -> str | None:
    """Stripe's layout: the seller's name is the first plain line after the labelled header fields
    and before "Bill to"."""
    bill_to = next((i for i, ln in enumerate(lines[:end]) if re.match(r"(?i)(bill|ship)\s+to\b", ln)), end)
    metas = [i for i, ln in enumerate(lines[:bill_to]) if _META.match(ln)]
    for ln in lines[metas[-1] + 1 if metas else 1: bill_to]:
        if re.fullmatch(r"(?i)invoice|receipt|page \d+( of \d+)?", ln) or find_amounts(ln) or DATE.search(ln):
            continue
        if re.search(r"[A-Za-z]{2}", ln):
            return ln
    return None


def parse_email_date(value: str | None) -> date | None:
    """The UTC day of an e-mail's Date header."""
    if not value:
        return None
    try:
        sent = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return (sent.astimezone(UTC) if sent.tzinfo else sent).date()
