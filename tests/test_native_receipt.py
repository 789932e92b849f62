"""Receipts and invoices (PDF, e-mail, invoice-lines CSV) of Stripe-billed tools.

The PDFs and e-mails are generated here (a minimal PDF written by hand, e-mails with the stdlib),
with Stripe's layout as vendors.md §6.1 describes it (its exact labels are UNCONFIRMED).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal as D
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from aispend.config import PricingConfig
from aispend.errors import FormatDetectionError, ImportError_, ValidationError
from aispend.ingest import import_file
from aispend.ingest.native._receipt_money import MoneyError, parse_amount
from aispend.ingest.native._receipt_text import parse_invoice

from .conftest import run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "receipt"


# --- document builders ---------------------------------------------------------------------------


def pdf_bytes(lines: list[tuple[int, int, str]]) -> bytes:
    """A minimal valid one-page PDF: each (x, y, text) drawn in Helvetica, WinAnsi encoded."""

    def text(t: str) -> bytes:
        raw = t.encode("cp1252")
        return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")

    content = b"".join(b"BT /F1 10 Tf %d %d Td (" % (x, y) + text(t) + b") Tj ET\n" for x, y, t in lines)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
         b"/Contents 5 0 R >>"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def table(rows: list[tuple[str, str, str, str]], top: int) -> list[tuple[int, int, str]]:
    """Invoice lines as Stripe lays them out: description, qty, unit price, amount; the period below."""
    out, y = [], top
    for desc, qty, unit, amount in rows:
        if desc.startswith("@"):  # a period line under the previous description
            out.append((50, y + 5, desc[1:]))
            y -= 10
            continue
        out += [(50, y, desc), (300, y, qty), (380, y, unit), (480, y, amount)]
        y -= 15
    return out


def stripe_invoice_pdf(path: Path, *, amount_text: str = "$10.00", number: str = "4F3A2B1C-0007") -> Path:
    lines = [
        (50, 740, "Invoice"),
        (50, 720, "Invoice number"), (150, 720, number),
        (50, 705, "Date of issue"), (150, 705, "January 1, 2026"),
        (50, 690, "Date due"), (150, 690, "January 1, 2026"),
        (50, 665, "Anysphere, Inc."), (50, 652, "548 Market St"),
        (300, 665, "Bill to"), (300, 652, "Jane Doe"),
        (50, 625, "$30.01 USD due January 1, 2026"),
        (50, 600, "Description"), (300, 600, "Qty"), (380, 600, "Unit price"), (480, 600, "Amount"),
        *table([("Cursor Pro", "1", "$20.00", "$20.00"), ("@Jan 1 \u2013 Feb 1, 2026", "", "", ""),
                ("Usage-based requests", "250", "$0.04", amount_text), ("@Dec 1 \u2013 Dec 31, 2025", "", "", "")],
               585),
        (300, 520, "Subtotal"), (480, 520, "$30.00"),
        (300, 505, "Discount (10% off)"), (480, 505, "-$3.00"),
        (300, 490, "Total excluding tax"), (480, 490, "$27.00"),
        (300, 475, "Sales tax - New York (11.15%)"), (480, 475, "$3.01"),
        (300, 460, "Total"), (480, 460, "$30.01"),
        (300, 445, "Amount due"), (480, 445, "$30.01 USD"),
    ]
    path.write_bytes(pdf_bytes(lines))
    return path


def receipt_email(path: Path, *, plain: str | None, html: str | None, subject: str,
                  sender: str = "Anysphere, Inc. <invoice+statements@stripe.com>",
                  sent: datetime = datetime(2026, 1, 1, 18, 30)) -> Path:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "jane@example.com"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(sent.replace(tzinfo=UTC))
    msg["MIME-Version"] = "1.0"
    if plain is not None:
        msg.set_content(plain)
    if html is not None:
        if plain is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    path.write_bytes(bytes(msg))
    return path


CURSOR_PLAIN = """Receipt from Anysphere, Inc. [#2041-7715]

Amount paid $30.01
Date paid Jan 1, 2026
Payment method Visa - 4242
Invoice number 4F3A2B1C-0007

Summary

Cursor Pro
Jan 1 – Feb 1, 2026
Qty 1
$20.00

Usage-based requests
Dec 1 – Dec 31, 2025
Qty 250
$10.00

Subtotal $30.00
Discount (10% off) −$3.00
Sales tax - New York (11.15%) $3.01
Total $30.01
Amount paid $30.01

Questions? Contact Anysphere, Inc. at hi@cursor.com
"""


def html_of(rows: list[tuple[str, str]], heading: str) -> str:
    cells = "".join(f"<tr><td>{a}</td><td style='text-align:right'>{b}</td></tr>" for a, b in rows)
    return (f"<html><head><style>td {{ padding: 4px }}</style></head><body><h1>{heading}</h1>"
            f"<table>{cells}</table></body></html>")


def ledger(store, order: str = "charge_category, billed_cost") -> list[dict]:
    cols = ("provider", "service", "service_category", "charge_category", "description", "billed_cost",
            "billing_currency", "cost_usd", "period_start", "period_end", "billing_period", "invoice_id",
            "quantity", "cost_source", "pricing_status", "tags", "source_type")
    rows = store.query(f"SELECT {', '.join(cols)} FROM ledger ORDER BY {order}")
    return [dict(zip(cols, r, strict=True)) for r in rows]


def total(store, where: str = "TRUE") -> D:
    return store.query(f"SELECT coalesce(sum(billed_cost), 0) FROM ledger WHERE {where}")[0][0]


# --- PDF -----------------------------------------------------------------------------------------


def test_a_stripe_invoice_pdf_imports_lines_discount_and_tax_exactly(store, settings, workdir):
    pdf = stripe_invoice_pdf(workdir / "Invoice-4F3A2B1C-0007.pdf")
    result = import_file(store, settings, pdf)
    assert (result.format, result.source, result.rows_loaded) == ("receipt", "receipt", 4)
    rows = {r["description"]: r for r in ledger(store)}
    assert {d: (r["charge_category"], r["billed_cost"]) for d, r in rows.items()} == {
        "Cursor Pro": ("purchase", D(20)),
        "Usage-based requests": ("usage", D(10)),
        "Discount (10% off)": ("credit", D(-3)),
        "Sales tax - New York (11.15%)": ("tax", D("3.01")),
    }
    assert total(store) == D("30.01")  # the invoice total: tax separated, not added twice
    assert total(store, "charge_category <> 'tax'") == D("27.00")
    pro = rows["Cursor Pro"]
    assert (pro["provider"], pro["service"], pro["service_category"]) == ("cursor", "Anysphere, Inc.",
                                                                          "AI and Machine Learning")
    assert (pro["period_start"], pro["period_end"]) == (datetime(2026, 1, 1), datetime(2026, 2, 1))
    assert (pro["billing_period"], pro["invoice_id"], pro["quantity"]) == ("2026-01", "4F3A2B1C-0007", D(1))
    assert (pro["cost_source"], pro["cost_usd"], pro["pricing_status"], pro["source_type"]) == (
        "billed", D(20), "none", "receipt")
    usage = rows["Usage-based requests"]
    assert (usage["period_start"], usage["period_end"], usage["quantity"]) == (
        datetime(2025, 12, 1), datetime(2026, 1, 1), D(250))  # "Dec 1 – Dec 31": inclusive end, +1 day
    tax = rows["Sales tax - New York (11.15%)"]
    assert (tax["period_start"], tax["period_end"]) == (datetime(2025, 12, 1), datetime(2026, 2, 1))
    assert all(r["invoice_id"] == "4F3A2B1C-0007" for r in rows.values())


def test_the_same_invoice_as_pdf_then_email_is_counted_once(store, settings, workdir):
    pdf = stripe_invoice_pdf(workdir / "invoice.pdf")
    eml = receipt_email(workdir / "receipt.eml", plain=CURSOR_PLAIN, html=None,
                        subject="Your receipt from Anysphere, Inc. #2041-7715")
    import_file(store, settings, pdf)
    second = import_file(store, settings, eml)
    assert second.format == "receipt" and second.replaced_rows == 4 and len(second.replaced_batches) == 1
    assert total(store) == D("30.01")  # not 60.02
    assert store.query("SELECT count(*), count(DISTINCT batch_id) FROM ledger") == [(4, 1)]
    rows = ledger(store)
    assert {r["tags"] for r in rows} == {'{"receipt_number": "2041-7715"}'}
    assert {r["description"] for r in rows if r["charge_category"] == "tax"} == {"Sales tax - New York (11.15%)"}

    # and the same file twice: still once
    import_file(store, settings, eml)
    assert total(store) == D("30.01")
    # a different invoice of the same vendor is kept beside it
    other = stripe_invoice_pdf(workdir / "february.pdf", number="4F3A2B1C-0008")
    import_file(store, settings, other)
    assert total(store) == D("60.02")
    assert store.query("SELECT count(DISTINCT invoice_id) FROM ledger") == [(2,)]


def test_an_html_only_email_in_euros_with_vat(store, settings, workdir):
    html = html_of([
        ("Receipt from ElevenLabs Inc.", ""),
        ("Invoice number", "EL2026-0042"),
        ("Date paid", "3 February 2026"),
        ("Description", "Amount"),
        ("Creator plan (Feb 3 – Mar 3, 2026)", "22,00&nbsp;€"),
        ("Extra characters 1.000.000", "1.234,56&nbsp;€"),
        ("Subtotal", "1.256,56&nbsp;€"),
        ("VAT (19%)", "238,75&nbsp;€"),
        ("Total", "1.495,31&nbsp;€"),
        ("Amount paid", "1.495,31&nbsp;€ EUR"),
    ], "Your receipt")
    eml = receipt_email(workdir / "elevenlabs.eml", plain=None, html=html, subject="Your ElevenLabs receipt",
                        sender="ElevenLabs <billing@elevenlabs.io>")
    settings.pricing = PricingConfig(fx={"EUR": D("1.1")})
    import_file(store, settings, eml)
    rows = {r["description"]: r for r in ledger(store)}
    assert {d: (r["charge_category"], r["billed_cost"], r["billing_currency"]) for d, r in rows.items()} == {
        "Creator plan": ("purchase", D(22), "EUR"),
        "Extra characters 1.000.000": ("usage", D("1234.56"), "EUR"),
        "VAT (19%)": ("tax", D("238.75"), "EUR"),
    }
    plan = rows["Creator plan"]
    assert (plan["provider"], plan["service_category"]) == ("elevenlabs", "AI and Machine Learning")
    assert (plan["period_start"], plan["period_end"], plan["billing_period"]) == (
        datetime(2026, 2, 3), datetime(2026, 3, 3), "2026-02")
    assert total(store) == D("1495.31")
    assert store.query("SELECT sum(cost_usd) FROM ledger")[0][0] == D("1644.841")  # the config's EUR rate


def test_an_email_with_the_invoice_attached_as_pdf(store, settings, workdir):
    pdf = stripe_invoice_pdf(workdir / "attached.pdf").read_bytes()
    msg = EmailMessage()
    msg["From"] = "Cursor <hi@cursor.com>"
    msg["Subject"] = "Your invoice from Cursor"
    msg["Date"] = format_datetime(datetime(2026, 1, 2, tzinfo=UTC))
    msg.set_content("Hi Jane, your invoice is attached. Thanks for using Cursor!")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="Invoice-4F3A2B1C-0007.pdf")
    eml = workdir / "invoice.eml"
    eml.write_bytes(bytes(msg))
    import_file(store, settings, eml)
    assert total(store) == D("30.01")
    assert store.query("SELECT DISTINCT invoice_id, provider, billing_period FROM ledger") == [
        ("4F3A2B1C-0007", "cursor", "2026-01")]


def test_zero_decimal_currency_is_not_divided_by_100(store, settings, workdir):
    plain = """Receipt from Midjourney Inc
Receipt number 1234-5678
Date paid March 5, 2026
Description Qty Amount
Standard Plan ¥4,500
Mar 5 – Apr 5, 2026
Consumption tax (10%) ¥450
Total ¥4,950 JPY
"""
    eml = receipt_email(workdir / "mj.eml", plain=plain, html=None, subject="Your Midjourney receipt",
                        sender="Midjourney <noreply@midjourney.com>")
    import_file(store, settings, eml)
    assert [(r["description"], r["charge_category"], r["billed_cost"], r["billing_currency"], r["invoice_id"])
            for r in ledger(store)] == [
        ("Standard Plan", "purchase", D(4500), "JPY", "1234-5678"),  # no invoice number: the receipt's
        ("Consumption tax (10%)", "tax", D(450), "JPY", "1234-5678"),
    ]
    assert store.query("SELECT count(*) FROM ledger WHERE cost_usd IS NULL") == [(2,)]  # no JPY rate: unconverted


def test_an_unreadable_amount_is_a_clear_error_and_nothing_is_imported(store, settings, workdir):
    bad = stripe_invoice_pdf(workdir / "scan-ocr.pdf", amount_text="$1O.OO")
    with pytest.raises(ImportError_) as info:
        import_file(store, settings, bad)
    message = str(info.value)
    assert "scan-ocr.pdf" in message and "'$1O.OO'" in message and "Usage-based requests" in message
    assert "not an exact money amount" in message and "nothing was imported" in message
    assert store.query("SELECT count(*) FROM ledger") == [(0,)]
    assert store.query("SELECT count(*) FROM imports") == [(0,)]


def test_lines_that_do_not_add_up_to_the_total_are_refused(store, settings, workdir):
    text = CURSOR_PLAIN.replace("Total $30.01", "Total $31.01")
    eml = receipt_email(workdir / "r.eml", plain=text, html=None, subject="Your receipt")
    with pytest.raises(ImportError_) as info:
        import_file(store, settings, eml)
    assert "do not add up: lines 30.00 + discounts -3.00 + tax 3.01 = 30.01, but the total says 31.01 (USD)" in str(
        info.value)


def test_a_pdf_that_is_no_receipt_is_not_detected(store, settings, workdir):
    other = workdir / "paper.pdf"
    other.write_bytes(pdf_bytes([(50, 700, "A paper about cats")]))
    with pytest.raises(FormatDetectionError):
        import_file(store, settings, other)


# --- invoice-lines CSV ---------------------------------------------------------------------------


def test_invoice_lines_csv_with_tax_column(store, settings):
    result = import_file(store, settings, FIXTURES / "invoice_lines.csv")
    assert (result.format, result.rows_loaded) == ("receipt", 9)  # 6 lines + 3 tax rows
    by_currency = dict(store.query("SELECT billing_currency, sum(billed_cost) FROM ledger GROUP BY 1"))
    assert by_currency == {"USD": D("1267.34"), "EUR": D("26.18"), "JPY": D(4950)}
    taxes = store.query("SELECT invoice_id, billed_cost, description FROM ledger WHERE charge_category = 'tax' "
                        "ORDER BY invoice_id")
    assert taxes == [("4F3A2B1C-0008", D("1.78"), "Tax: Cursor Pro"), ("EL-2026-0042", D("4.18"), "Tax: Creator plan"),
                     ("MJ-88231-0003", D(450), "Tax: Standard Plan")]
    rows = {r["description"]: r for r in ledger(store) if r["charge_category"] != "tax"}
    assert {d: r["charge_category"] for d, r in rows.items()} == {
        "Cursor Pro": "purchase", "Usage-based requests": "usage", "Promotional credit": "credit",
        "Creator plan": "purchase", "Standard Plan": "purchase", "Plus plan (2 seats)": "purchase"}
    assert rows["Usage-based requests"]["billed_cost"] == D("1234.56")
    assert {d: r["provider"] for d, r in rows.items()}["Plus plan (2 seats)"] == "notion-labs"
    assert rows["Plus plan (2 seats)"]["service_category"] is None  # not an AI vendor
    assert rows["Standard Plan"]["service_category"] == "AI and Machine Learning"
    credit = rows["Promotional credit"]  # no period given: the invoice date, one day
    assert (credit["period_start"], credit["period_end"]) == (datetime(2026, 2, 1), datetime(2026, 2, 2))
    assert rows["Usage-based requests"]["period_start"] == datetime(2026, 1, 1)
    assert store.query("SELECT DISTINCT billing_period FROM ledger") == [("2026-02",)]


def test_csv_bad_cells_name_their_line(store, settings, workdir):
    bad = workdir / "lines.csv"
    bad.write_text(
        "vendor,invoice_number,invoice_date,description,amount,currency,tax,charge_category,service_category\n"
        "Acme AI,A-1,2026-02-01,Seats,10.00,USD,,,AI and Machine Learning\n"
        "Acme AI,A-1,2026-02-01,Tokens,\"12,3,4\",USD,0.5,,\n"
        "Acme AI,A-1,02/01/2026,Tokens,1.00,USD,,,\n"
        "Acme AI,A-1,2026-02-01,Tokens,\"€5,00\",USD,,,\n"
        "Acme AI,A-1,2026-02-01,Tokens,5.00,USD,,refund,\n"
    )
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, bad)
    text = str(info.value)
    assert "lines.csv:3 column amount: not an exact money amount in the row's currency (value '12,3,4')" in text
    assert "lines.csv:4 column invoice_date: not a date (YYYY-MM-DD) (value '02/01/2026')" in text
    assert "lines.csv:5 column amount: not an exact money amount in the row's currency (value '€5,00')" in text
    assert "lines.csv:6 column charge_category: not one of usage, purchase, tax, credit, adjustment" in text
    assert store.query("SELECT count(*) FROM ledger") == [(0,)]

    result = import_file(store, settings, bad, skip_invalid=True)
    assert result.rows_loaded == 1 and result.rows_rejected == 4  # the bad line's tax row is not loaded either
    assert store.query("SELECT service_category, billed_cost FROM ledger") == [("AI and Machine Learning", D(10))]


def test_csv_of_an_invoice_already_imported_as_pdf_replaces_it(store, settings, workdir):
    import_file(store, settings, stripe_invoice_pdf(workdir / "invoice.pdf"))
    lines = workdir / "lines.csv"
    lines.write_text("vendor,invoice_number,invoice_date,description,amount,currency,tax\n"
                     "Cursor,4F3A2B1C-0007,2026-01-01,Cursor Pro,20.00,USD,\n"
                     "Cursor,4F3A2B1C-0007,2026-01-01,Usage-based requests,7.00,USD,3.01\n")
    import_file(store, settings, lines)
    assert total(store) == D("30.01")
    assert store.query("SELECT DISTINCT source_type, provider FROM ledger") == [("receipt", "cursor")]


# --- money ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hint", "value", "currency"),
    [
        ("$1,234.56", None, "1234.56", "USD"),
        ("€12,00", None, "12.00", "EUR"),
        ("12,00 €", None, "12.00", "EUR"),
        ("1.234,56 €", None, "1234.56", "EUR"),
        ("1\u202f234,56\u00a0€", None, "1234.56", "EUR"),
        ("¥1,200", None, "1200", "JPY"),
        ("￥1,200", None, "1200", "JPY"),
        ("¥1,200", "CNY", "1200", "CNY"),
        ("CA$20.00", None, "20.00", "CAD"),
        ("$20.00", "CAD", "20.00", "CAD"),
        ("20.00 USD", None, "20.00", "USD"),
        ("CHF 1'234.50", None, "1234.50", "CHF"),
        ("-$4.00", None, "-4.00", "USD"),
        ("($4.00)", None, "-4.00", "USD"),
        ("KWD 1,234", None, "1.234", "KWD"),  # three decimals: the separator is the decimal point
        ("0.000123456789012345678", None, "0.000123456789012345678", None),  # a plain CSV number, as written
        ("1234", "JPY", "1234", None),
    ],
)
def test_money_is_parsed_exactly(text, hint, value, currency):
    assert parse_amount(text, hint) == (D(value), currency)


@pytest.mark.parametrize("text", ["$1O.OO", "€12,3,4", "$1.2345", "12 dollars", "$1,23,456.00", "kr 100"])
def test_unreadable_money_is_refused(text):
    with pytest.raises(MoneyError):
        parse_amount(text)


def test_zero_decimal_amounts_with_decimals_are_refused():
    with pytest.raises(Exception, match="JPY has no decimals"):
        parse_invoice("Receipt from Acme\nReceipt number 1234-5678\nDate paid March 5, 2026\n"
                      "Description Amount\nPlan ¥4,500.50\nTotal ¥4,500.50 JPY\n")


def test_text_parser_reads_periods_across_years_and_inclusive_ends():
    inv = parse_invoice("Invoice from Acme AI\nInvoice number AB12-0001\nDate of issue 2026-01-02\n"
                        "Description Qty Unit price Amount\nAnnual plan 1 $120.00 $120.00\nDec 15 – Dec 15, 2026\n"
                        "Seats Jan 1 – Jan 31, 2026 $5.00\nTotal $125.00\n")
    assert [(c.description, c.period) for c in inv.charges] == [
        ("Annual plan", (date(2026, 12, 15), date(2026, 12, 16))),
        ("Seats", (date(2026, 1, 1), date(2026, 2, 1))),
    ]
    assert (inv.vendor, inv.invoice_number, inv.invoice_date, inv.currency) == ("Acme AI", "AB12-0001",
                                                                                date(2026, 1, 2), "USD")


def test_one_invoice_after_a_multi_invoice_csv_is_counted_once(store, settings, workdir):
    lines = workdir / "lines.csv"
    lines.write_text("vendor,invoice_number,invoice_date,description,amount,currency,tax\n"
                     "Cursor,4F3A2B1C-0007,2026-01-01,Cursor Pro,20.00,USD,\n"
                     "Cursor,4F3A2B1C-0007,2026-01-01,Usage-based requests,7.00,USD,3.01\n"
                     "Cursor,4F3A2B1C-0009,2026-03-01,Cursor Pro,20.00,USD,\n")
    import_file(store, settings, lines)
    import_file(store, settings, stripe_invoice_pdf(workdir / "invoice.pdf"))
    assert dict(store.query("SELECT invoice_id, sum(billed_cost) FROM ledger GROUP BY 1")) == {
        "4F3A2B1C-0007": D("30.01"), "4F3A2B1C-0009": D("20.00")}


def test_cli_imports_receipts_and_reports_them(workdir):
    stripe_invoice_pdf(workdir / "invoice.pdf")
    receipt_email(workdir / "receipt.eml", plain=CURSOR_PLAIN, html=None, subject="Your receipt from Anysphere, Inc.")
    imported = run_cli("import", "invoice.pdf", "receipt.eml", cwd=workdir)
    assert imported.returncode == 0, imported.stderr
    assert "as receipt" in imported.stderr and "replaced 4 rows" in imported.stderr
    report = run_cli("report", "--by", "provider,charge_category", "--format", "json", cwd=workdir)
    rows = {(r["provider"], r["charge_category"]): r["cost_usd"] for r in json.loads(report.stdout)}
    assert rows == {("cursor", "purchase"): "20.00", ("cursor", "usage"): "10.00", ("cursor", "credit"): "-3.00",
                    ("cursor", "tax"): "3.01"}
