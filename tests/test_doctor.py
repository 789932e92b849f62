"""`aispend doctor`: each planted problem is found, with its count and amount; a clean ledger has none."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

from aispend.analysis.doctor import doctor
from aispend.analysis.reconcile import sign_off
from aispend.config import load_settings
from aispend.fx import import_fx
from aispend.ingest import import_file

from .conftest import FOCUS_SAMPLE, run_cli

FIX = Path(__file__).parent / "fixtures"
RECEIPTS = FIX / "receipt" / "invoice_lines.csv"
RATES = "currency,day,usd_rate\nEUR,2026-02-03,1.08\nJPY,2026-02-05,0.0065\n"
MAPPINGS = """
[csv_mappings.usage]
detect = ["usage_day", "usage_vendor"]
columns = { period_start = "usage_day", provider = "usage_vendor", model_raw = "model", input_tokens = "in", output_tokens = "out" }

[csv_mappings.bill]
detect = ["bill_day", "bill_vendor"]
columns = { period_start = "bill_day", provider = "bill_vendor", model_raw = "model", input_tokens = "in", output_tokens = "out", billed_cost = "usd" }
"""
SOURCES = """
[sources.oai]
type = "openai"
api_key = { env = "OAI_ADMIN_KEY" }

[sources.claude]
type = "anthropic"
api_key = { env = "ANT_ADMIN_KEY" }

[sources.later]
type = "openai"
api_key = { env = "OAI_ADMIN_KEY" }
"""


def setup(workdir: Path, toml: str = "") -> object:
    (workdir / "aispend.toml").write_text(MAPPINGS + toml)
    return load_settings(None)


def load(store, settings, workdir: Path, name: str, text: str, **kw):
    (workdir / name).write_text(text)
    return import_file(store, settings, workdir / name, **kw)


def by_check(findings) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in findings:
        out.setdefault(f.check, []).append(f)
    return out


def clean_ledger(store, settings, workdir: Path) -> None:
    """Real files that need nothing: a FOCUS export, receipts with their FX rates, an OpenAI export."""
    import_file(store, settings, FOCUS_SAMPLE)
    import_file(store, settings, RECEIPTS)
    (workdir / "rates.csv").write_text(RATES)
    import_fx(store, workdir / "rates.csv")
    from aispend.pricing import reprice

    reprice(store, settings)
    import_file(store, settings, FIX / "openai" / "costs_pages.json")


def test_a_clean_ledger_has_no_findings(store, workdir):
    settings = setup(workdir, SOURCES)
    clean_ledger(store, settings, workdir)
    now = datetime.now(UTC).replace(tzinfo=None)
    for name in ("oai", "claude", "later"):  # every API source synced an hour ago
        store.query("INSERT INTO sync_state VALUES (?, ?, ?, NULL)", [name, now, now - timedelta(hours=1)])
    sign_off(store, "2026-02", "alice")  # a closed month that stayed closed
    assert doctor(store, settings) == []


def test_unpriced_models_with_their_tokens_not_when_a_bill_covers_them(store, workdir):
    settings = setup(workdir)
    import_file(store, settings, FIX / "openai" / "costs_page1.json")  # billed 2026-01-01 and 02
    load(store, settings, workdir, "gw.csv", "usage_day,usage_vendor,model,in,out\n"
         "2026-01-20,openai,house-model-x,7000,900\n"
         "2026-01-21,openai,house-model-x,1000,100\n"
         "2026-01-01,openai,house-model-y,5,5\n"  # a billed day: the bill holds its cost
         "2026-01-20,openai,gpt-4o-mini,1000,100\n")
    found = by_check(doctor(store, settings))
    [f] = found.pop("unpriced_model")
    assert (f.severity, f.scope, f.count) == ("error", "openai / house-model-x", 7000 + 900 + 1000 + 100)
    assert "[[pricing.overrides]]" in f.fix and "house-model-x" in f.fix
    assert "zero_cost_tokens" not in found


def test_tokens_at_zero_cost(store, workdir):
    settings = setup(workdir)
    load(store, settings, workdir, "bill.csv", "bill_day,bill_vendor,model,in,out,usd\n"
         "2026-03-01,openai,gpt-4o-mini,1200,300,0\n"
         "2026-03-02,openai,gpt-4o-mini,10,10,0.01\n")
    [f] = by_check(doctor(store, settings))["zero_cost_tokens"]
    assert (f.severity, f.scope, f.count) == ("warning", "openai / gpt-4o-mini", 1500)
    assert "1 billed row(s)" in f.what


def test_estimates_drifting_from_the_bill_by_more_than_the_threshold(store, workdir):
    settings = setup(workdir, '\n[doctor]\ndrift_min_usd = "0"\n')
    load(store, settings, workdir, "bill.csv", "bill_day,bill_vendor,model,in,out,usd\n"
         "2026-03-01,openai,,,,10.00\n"
         "2026-04-01,openai,,,,0.80\n"
         "2026-04-15,openai,,,,5.00\n")  # no estimate that day: not compared
    load(store, settings, workdir, "gw.csv", "usage_day,usage_vendor,model,in,out\n"
         "2026-03-01,openai,gpt-4o-mini,1000000,1000000\n"
         "2026-04-01,openai,gpt-4o-mini,1000000,1000000\n"
         "2026-04-20,openai,gpt-4o-mini,1000000,1000000\n")  # no bill that day: not compared
    estimate = store.query("SELECT cost_usd FROM ledger WHERE cost_source = 'estimated' AND period_start = '2026-03-01'")[0][0]
    assert estimate == D("0.75")  # gpt-4o-mini list price: $0.15 in + $0.60 out per million

    [march] = by_check(doctor(store, settings))["estimate_drift"]  # April is -6.25%: within 10%
    assert (march.scope, march.amount, march.count) == ("openai 2026-03", estimate - D("10.00"), 1)
    assert "-92.5%" in march.what

    strict = setup(workdir, '\n[doctor]\ndrift_min_usd = "0"\ndrift_pct = "5"\n')
    drift = by_check(doctor(store, strict))["estimate_drift"]
    assert [(f.scope, f.amount) for f in drift] == [("openai 2026-03", D("-9.25")), ("openai 2026-04", D("-0.05"))]


def test_api_sources_that_failed_stopped_or_never_synced(store, workdir):
    settings = setup(workdir, SOURCES)
    now = datetime(2026, 3, 10, 12, 0)
    store.query("INSERT INTO sync_state VALUES ('oai', ?, ?, NULL)", [now, now - timedelta(days=5)])
    store.query("INSERT INTO sync_state VALUES ('claude', ?, ?, ?)",
                [now, now - timedelta(hours=3), "HTTP 401 from https://api.anthropic.com/v1/organizations/cost_report"])
    found = {f.scope: f for f in doctor(store, settings, now=now)}
    assert (found["source oai"].check, found["source oai"].severity, found["source oai"].count) == ("source_stale", "error", 5)
    assert found["source claude"].check == "sync_failed" and "HTTP 401" in found["source claude"].what
    assert "aispend sources check claude" in found["source claude"].fix
    assert (found["source later"].check, found["source later"].severity) == ("never_synced", "warning")


def test_file_source_without_an_import_for_too_long(store, workdir):
    settings = setup(workdir)
    import_file(store, settings, RECEIPTS)
    import_file(store, settings, FIX / "openai" / "costs_pages.json")
    store.query("UPDATE imports SET imported_at = imported_at - INTERVAL 40 DAY WHERE source = 'receipt'")
    [f] = by_check(doctor(store, settings))["file_source_stale"]
    assert (f.scope, f.severity, f.count) == ("source receipt", "warning", 40)


def test_billed_currencies_without_fx_rates(store, workdir):
    settings = setup(workdir)
    import_file(store, settings, RECEIPTS)
    expected: dict[str, D] = {}
    for row in csv.DictReader(RECEIPTS.open()):
        if row["currency"] == "EUR":
            for k in ("amount", "tax"):
                expected["EUR"] = expected.get("EUR", D(0)) + D(row[k].strip("€").replace(",", "."))
        if row["currency"] == "JPY":
            expected["JPY"] = D(row["amount"].strip("¥").replace(",", "")) + D(row["tax"])
    found = {f.currency: f for f in by_check(doctor(store, settings))["fx_missing"]}
    assert {c: f.amount for c, f in found.items()} == expected
    assert all(f.severity == "error" and f.count == 2 and "aispend fx import" in f.fix for f in found.values())


def test_duplicate_and_lookalike_invoices(store, workdir):
    settings = setup(workdir)
    import_file(store, settings, RECEIPTS)
    # The Notion invoice again, forwarded by mail and imported under another source.
    rows = list(csv.reader(RECEIPTS.open()))
    notion = [rows[0], *[r for r in rows[1:] if r[1] == "NL-0000123"]]
    with (workdir / "forwarded.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows(notion)
    import_file(store, settings, workdir / "forwarded.csv", source="mail")
    load(store, settings, workdir, "perplexity.csv",
         "vendor,invoice_number,invoice_date,description,amount,currency\n"
         "Perplexity AI,PX-0001,2026-02-10,Pro plan,20.00,USD\n"
         "Perplexity AI,PX-0002,2026-02-10,Pro plan,20.00,USD\n"
         "Perplexity AI,PX-0003,2026-03-10,Pro plan,20.00,USD\n")
    found = by_check(doctor(store, settings))
    [dup] = found["duplicate_invoice"]
    assert (dup.scope, dup.severity, dup.count, dup.amount, dup.currency) == (
        "invoice NL-0000123 (notion-labs)", "error", 1, D(notion[1][6]), "USD")
    assert "mail, receipt" in dup.what and "--source SOURCE" in dup.fix
    # The fix it names works: the forwarded file under the receipts' source leaves one copy.
    import_file(store, settings, workdir / "forwarded.csv", source="receipt")
    assert "duplicate_invoice" not in by_check(doctor(store, settings))
    [alike] = found["lookalike_invoices"]
    assert (alike.severity, alike.amount, alike.count) == ("warning", D("20.00"), 2) and "PX-0001, PX-0002" in alike.what


def test_a_signed_off_month_that_changed(store, workdir):
    settings = setup(workdir)
    cost = workdir / "cost.json"
    shutil.copy(FIX / "anthropic" / "cost_report_page1.json", cost)
    import_file(store, settings, cost)
    sign_off(store, "2026-01", "alice")
    assert "changed_after_signoff" not in by_check(doctor(store, settings))
    page = json.loads(cost.read_text())
    page["data"][0]["results"][0]["amount"] = str(D(page["data"][0]["results"][0]["amount"]) - 250)
    cost.write_text(json.dumps(page))
    import_file(store, settings, cost)
    [f] = by_check(doctor(store, settings))["changed_after_signoff"]
    assert (f.scope, f.severity, f.amount, f.count) == ("month 2026-01", "error", D("-2.5"), 2)
    assert "alice" in f.what and "aispend reconcile --month 2026-01" in f.fix


def test_cli_doctor_exit_code_follows_errors(workdir):
    (workdir / "rates.csv").write_text(RATES)
    assert run_cli("import", str(RECEIPTS), cwd=workdir).returncode == 0
    planted = run_cli("doctor", "--format", "json", cwd=workdir)
    assert planted.returncode == 1, planted.stderr
    found = json.loads(planted.stdout)
    assert {(f["check"], f["currency"], f["amount"]) for f in found} == {
        ("fx_missing", "EUR", "26.18"), ("fx_missing", "JPY", "4950.00")}
    assert "2 error(s), 0 warning(s)" in planted.stderr

    assert run_cli("fx", "import", "rates.csv", cwd=workdir).returncode == 0
    clean = run_cli("doctor", "--format", "json", cwd=workdir)
    assert clean.returncode == 0 and json.loads(clean.stdout) == []
    table = run_cli("doctor", cwd=workdir)
    assert table.returncode == 0 and "no problems found" in table.stderr
