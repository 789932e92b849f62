"""Month-end reconciliation and sign-off, on real vendor files loaded through the real import path.

Expected figures are computed here from the files themselves (csv/json + Decimal), never read back
from the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from aispend.analysis import Window, spend_report
from aispend.analysis.reconcile import CATEGORIES, ReconcileError, reconcile, sign_off, signoff_history
from aispend.config import load_settings
from aispend.demo import build_plan, run_demo
from aispend.demo import generate as gen
from aispend.fx import import_fx
from aispend.ingest import import_file
from aispend.store import open_store

from .conftest import FOCUS_SAMPLE, run_cli

FIX = Path(__file__).parent / "fixtures"
OPENAI_PAGES = [FIX / "openai" / "costs_page1.json", FIX / "openai" / "costs_page2.json"]

# Generated ledgers: a gateway's usage log (estimated rows) in the CSV-mapping path.
MAPPINGS = """
[csv_mappings.usage]
detect = ["usage_day", "usage_vendor"]
columns = { period_start = "usage_day", provider = "usage_vendor", model_raw = "model", input_tokens = "in", output_tokens = "out" }
"""

# An OpenAI invoice for January as an invoice-lines CSV (the receipt format): usage with tax, a credit.
OPENAI_INVOICE = (
    "vendor,invoice_number,invoice_date,period_start,period_end,description,amount,currency,tax,charge_category\n"
    '"OpenAI, LLC",OAI-2026-01,2026-01-31,2026-01-01,2026-02-01,API usage,1235.29,USD,98.82,usage\n'
    '"OpenAI, LLC",OAI-2026-01,2026-01-31,,,Promotional credit,-25.00,USD,,credit\n'
)


def openai_export_total(*pages: Path) -> D:
    """What the Costs API pages bill, summed exactly from the JSON."""
    total = D(0)
    for page in pages:
        for bucket in json.loads(page.read_text(), parse_float=D)["data"]:
            total += sum((D(r["amount"]["value"]) for r in bucket["results"]), D(0))
    return total


def invoice_parts(text: str) -> dict[str, D]:
    """usage, tax and credits of an invoice-lines CSV, from its columns."""
    parts = {"usage": D(0), "tax": D(0), "credits": D(0)}
    for row in csv.DictReader(io.StringIO(text)):
        amount = D(row["amount"].replace("$", "").replace(",", ""))
        parts["credits" if amount < 0 else "usage"] += amount
        parts["tax"] += D(row["tax"]) if row["tax"] else D(0)
    return parts


def vendor(rec, provider):
    return next(v for v in rec.vendors if v.provider == provider)


def assert_explained(v):
    """The categories and the remainder add up to the difference, to the last digit."""
    assert sum(v.categories.values(), D(0)) == v.difference_usd == v.invoice_usd - v.ledger_usd


def test_invoice_against_the_export_tax_and_credits_to_the_cent(store, settings, workdir):
    for page in OPENAI_PAGES:
        import_file(store, settings, page)
    (workdir / "openai-invoice.csv").write_text(OPENAI_INVOICE)
    import_file(store, settings, workdir / "openai-invoice.csv")

    export = openai_export_total(*OPENAI_PAGES)
    parts = invoice_parts(OPENAI_INVOICE)
    invoice = parts["usage"] + parts["tax"] + parts["credits"]
    v = vendor(reconcile(store, "2026-01"), "openai")

    assert v.basis == "invoice" and v.invoice_usd == invoice == D("1309.11")
    # The ledger counts the export; the invoice is its check total, never added to it.
    assert v.ledger_usd == export
    assert spend_report(store, ["provider"], Window()).rows[0]["cost_usd"] == export  # so does every report
    # Against the export, the invoice adds its tax and its credit...
    assert v.categories["tax"] == parts["tax"] == D("98.82")
    assert v.categories["credits"] == parts["credits"] == D("-25.00")
    # ...and its usage line differs from the export's exact amounts by the rounding to cents.
    assert v.categories["unexplained"] == parts["usage"] - export == D("-0.002890123456789041")
    assert v.categories["late_restatements"] == v.categories["unbilled_estimates"] == 0
    assert_explained(v)


def test_export_days_loaded_after_the_invoice_are_late_restatements(store, settings, workdir):
    import_file(store, settings, OPENAI_PAGES[0])
    (workdir / "openai-invoice.csv").write_text(OPENAI_INVOICE)
    import_file(store, settings, workdir / "openai-invoice.csv")
    import_file(store, settings, OPENAI_PAGES[1])  # January 3rd arrives after the invoice

    v = vendor(reconcile(store, "2026-01"), "openai")
    assert v.categories["late_restatements"] == -openai_export_total(OPENAI_PAGES[1]) == D("-0.125")
    parts = invoice_parts(OPENAI_INVOICE)
    assert v.categories["unexplained"] == parts["usage"] - openai_export_total(OPENAI_PAGES[0])
    assert_explained(v)


def test_estimates_without_a_bill_and_unpriced_usage(store, workdir):
    (workdir / "aispend.toml").write_text(MAPPINGS)
    settings = load_settings(None)
    import_file(store, settings, OPENAI_PAGES[0])  # billed: January 1st and 2nd
    gateway = ("usage_day,usage_vendor,model,in,out\n"
               "2026-01-02,openai,gpt-4o-mini,1000000,200000\n"  # a billed day: the bill supersedes it
               "2026-01-20,openai,gpt-4o-mini,3000000,500000\n"  # no bill that day
               "2026-01-20,openai,house-model-x,7000,900\n")  # unknown to the price book
    (workdir / "gateway.csv").write_text(gateway)
    import_file(store, settings, workdir / "gateway.csv")

    def cost(day: str, model: str) -> D:
        sql = "SELECT cost_usd, pricing_status FROM ledger WHERE period_start = ? AND model = ?"
        value, status = store.query(sql, [day, model])[0]
        assert status == "priced"
        return value

    v = vendor(reconcile(store, "2026-01"), "openai")
    assert v.basis == "billed export" and v.invoice_usd == openai_export_total(OPENAI_PAGES[0])
    assert v.estimate_usd == cost("2026-01-02", "gpt-4o-mini") + cost("2026-01-20", "gpt-4o-mini")
    assert v.categories["unbilled_estimates"] == -cost("2026-01-20", "gpt-4o-mini")
    assert v.ledger_usd == v.invoice_usd + cost("2026-01-20", "gpt-4o-mini")
    assert (v.unpriced_rows, v.unpriced_tokens) == (1, 7000 + 900)
    assert v.categories["unexplained"] == 0
    assert_explained(v)


def test_invoice_only_vendors_in_other_currencies_reconcile_to_their_lines(store, settings, workdir):
    path = FIX / "receipt" / "invoice_lines.csv"
    import_file(store, settings, path)
    (workdir / "rates.csv").write_text("currency,day,usd_rate\nEUR,2026-02-03,1.08\nJPY,2026-02-05,0.0065\n")
    import_fx(store, workdir / "rates.csv")
    from aispend.pricing import reprice

    reprice(store, settings)
    rates = {"USD": D(1), "EUR": D("1.08"), "JPY": D("0.0065")}
    expected: dict[str, D] = {}
    for row in csv.DictReader(path.open()):
        clean = {k: (row[k] or "0").translate(str.maketrans("", "", "$€¥,")) for k in ("amount", "tax")}
        if row["currency"] == "EUR":  # "€22,00": the comma is the decimal point
            clean = {k: (row[k] or "0").strip("€").replace(",", ".") for k in ("amount", "tax")}
        expected[row["vendor"]] = expected.get(row["vendor"], D(0)) + (D(clean["amount"]) + D(clean["tax"])) * rates[row["currency"]]
    rec = reconcile(store, "2026-02")
    got = {v.provider: v.invoice_usd for v in rec.vendors}
    assert got == {"cursor": expected["Anysphere, Inc."], "elevenlabs": expected["ElevenLabs Inc."],
                   "midjourney": expected["Midjourney Inc"], "notion-labs": expected["Notion Labs Inc."]}
    for v in rec.vendors:
        assert v.basis == "invoice" and v.ledger_usd == v.invoice_usd and v.unconverted_rows == 0
        assert_explained(v)
    assert vendor(rec, "cursor").categories["tax"] == 0  # its tax line is in the invoice and the ledger alike


def test_focus_sample_months_match_the_file(store, settings):
    import_file(store, settings, FOCUS_SAMPLE)
    by_month: dict[str, D] = {}
    with FOCUS_SAMPLE.open(newline="") as fh:
        for row in csv.DictReader(fh):
            by_month[row["BillingPeriodStart"][:7]] = by_month.get(row["BillingPeriodStart"][:7], D(0)) + D(row["BilledCost"])
    for month, total in by_month.items():
        rec = reconcile(store, month)
        assert rec.total("invoice_usd") == rec.total("ledger_usd") == total
        assert all(v.basis == "billed export" and v.difference_usd == 0 for v in rec.vendors)


def test_demo_month_reconciles_exactly_per_category(store, settings, workdir):
    today = date(2026, 3, 12)
    run_demo(store, settings, workdir / "demo", today, months=2)
    expected: dict[str, D] = {}
    credits: dict[str, D] = {}
    providers = {v.key: v.provider for v in gen.VENDORS} | {gen.MAPPING_NAME: "vectorbase"}
    for f in build_plan(today, months=2).files:
        if f.month != "2026-02":
            continue
        p = providers[f.vendor]
        for row in csv.DictReader(io.StringIO(f.text)):
            amount = D(row.get("BilledCost") or row["Amount (USD)"])
            expected[p] = expected.get(p, D(0)) + amount
            if row.get("ChargeCategory") == "Credit":
                credits[p] = credits.get(p, D(0)) + amount
    assert credits == {"openai": gen.OPENAI_MONTHLY_CREDIT}  # the planted credit, on the export itself
    rec = reconcile(store, "2026-02")
    assert {v.provider: v.invoice_usd for v in rec.vendors} == expected
    for v in rec.vendors:
        # Billed exports are the bill and the ledger at once: every category is exactly zero.
        assert v.basis == "billed export" and v.ledger_usd == v.invoice_usd
        assert all(v.categories[c] == 0 for c in CATEGORIES), v.categories


def test_sign_off_then_a_restated_import_is_flagged_with_its_delta(store, settings, workdir):
    cost = workdir / "anthropic-cost.json"
    shutil.copy(FIX / "anthropic" / "cost_report_page1.json", cost)
    first = import_file(store, settings, cost)
    signed = sign_off(store, "2026-01", "alice", "January close")
    rec = reconcile(store, "2026-01")
    assert rec.status == "closed" and rec.delta_usd == 0 and rec.changes == []
    assert signed.ledger_usd == rec.total("ledger_usd") == vendor(rec, "anthropic").signed_ledger_usd

    # Anthropic restates a day: one amount (cents, as a decimal string) grows by 1000 cents.
    page = json.loads(cost.read_text())
    line = page["data"][0]["results"][0]
    old_cents = D(line["amount"])
    line["amount"] = str(old_cents + 1000)
    cost.write_text(json.dumps(page))
    second = import_file(store, settings, cost)
    assert second.replaced_batches == [first.batch_id]

    rec = reconcile(store, "2026-01")
    assert rec.status == "changed after sign-off"
    assert rec.delta_usd == D(1000) / 100 == 10
    assert rec.signoff.signed_by == "alice" and rec.signoff.note == "January close"
    changes = {c.batch_id: c for c in rec.changes}
    assert set(changes) == {first.batch_id, second.batch_id}
    assert changes[first.batch_id].change == "removed" and changes[first.batch_id].replaced_by == second.batch_id
    assert changes[second.batch_id].change == "new" and changes[second.batch_id].loaded_at > signed.signed_at
    assert sum((c.delta_usd for c in rec.changes), D(0)) == rec.delta_usd

    # Re-signing accepts the restatement; the first sign-off stays in the history.
    sign_off(store, "2026-01", "bob")
    rec = reconcile(store, "2026-01")
    assert rec.status == "closed" and rec.signoff.signed_by == "bob" and rec.changes == []
    assert [s.signed_by for s in signoff_history(store, "2026-01")] == ["alice", "bob"]
    assert [s.ledger_usd for s in signoff_history(store)] == [signed.ledger_usd, signed.ledger_usd + 10]


def test_sign_off_refuses_a_nameless_or_empty_month(store):
    with pytest.raises(ReconcileError, match="--by NAME"):
        sign_off(store, "2026-01", "  ")
    with pytest.raises(ReconcileError, match="no ledger rows"):
        sign_off(store, "2026-01", "alice")
    with pytest.raises(ReconcileError, match="not YYYY-MM"):
        reconcile(store, "2026-13")


def test_cli_reconcile_sign_off_and_history(workdir, ledger_url):
    for page in OPENAI_PAGES:
        assert run_cli("import", str(page), cwd=workdir).returncode == 0
    (workdir / "openai-invoice.csv").write_text(OPENAI_INVOICE)
    assert run_cli("import", "openai-invoice.csv", cwd=workdir).returncode == 0

    out = run_cli("reconcile", "--month", "2026-01", "--format", "json", cwd=workdir)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["status"] == "open" and doc["signoff"] is None
    [openai] = doc["vendors"]
    parts = invoice_parts(OPENAI_INVOICE)
    assert D(openai["tax_usd"]) == parts["tax"] and D(openai["credits_usd"]) == parts["credits"]
    invoice = parts["usage"] + parts["tax"] + parts["credits"]
    assert D(openai["difference_usd"]) == invoice - openai_export_total(*OPENAI_PAGES)
    assert sum(D(openai[f"{c}_usd"]) for c in CATEGORIES) == D(openai["difference_usd"])

    signed = run_cli("reconcile", "--month", "2026-01", "--sign-off", "--by", "alice", "--note", "ok",
                     "--format", "json", cwd=workdir)
    assert signed.returncode == 0, signed.stderr
    assert json.loads(signed.stdout)["status"] == "closed" and "signed off 2026-01 by alice" in signed.stderr
    table = run_cli("reconcile", "--month", "2026-01", cwd=workdir)
    assert "2026-01 is closed: signed off by alice" in table.stdout

    hist = run_cli("reconcile", "history", "--format", "json", cwd=workdir)
    [entry] = json.loads(hist.stdout)
    assert (entry["month"], entry["signed_by"], entry["note"]) == ("2026-01", "alice", "ok")
    assert D(entry["ledger_usd"]) == D(doc["totals"]["ledger_usd"])

    bad = run_cli("reconcile", "--month", "2026-1", cwd=workdir)
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0 and "YYYY-MM" in bad.stderr
    nameless = run_cli("reconcile", "--month", "2026-01", "--by", "alice", cwd=workdir)
    assert nameless.returncode == 1 and "--sign-off" in nameless.stderr
    with open_store(ledger_url("aispend")) as store:
        assert len(signoff_history(store)) == 1
