"""Azure cost details (EA, MCA) and meter cost summaries: exact totals, meters, tokens, detection."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from aispend.errors import ValidationError
from aispend.ingest import import_file
from aispend.ingest.detect import detect
from aispend.ingest.native import azure
from aispend.pricing import PriceBook

from .conftest import SAMPLES, run_cli

ASSETS = SAMPLES / "finops-toolkit" / "src" / "powershell" / "Tests" / "Unit" / "assets"
EA_ACTUAL = ASSETS / "EA_ActualCost_Small.csv"
EA_AMORTIZED = ASSETS / "EA_AmortizedCost_Small.csv"
EA_CAD = SAMPLES / "focus_converters" / "focus_converter_base" / "tests" / "provider_config_tests" / "azure" / "sample-anonymous-ea-export-dataset.csv"
AOAI_DAILY = (SAMPLES / "finops-toolkit" / "src" / "finley" / "archive" / "multiagent_finley_aifoundrysdk"
              / "examplequestions_prompts" / "adxqueries.followup1.aoai_daily_meter_costs.csv")
MCA = Path(__file__).parent / "fixtures" / "azure" / "mca_aoai_eur.csv"
BOM = b"\xef\xbb\xbf"
Q18 = Decimal("1e-18")


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def oracle(path: Path, cost: str, currency: str) -> dict[str, Decimal]:
    """Totals per currency with the csv module and Decimal: nothing of aispend."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in read_rows(path):
        totals[row[currency]] += Decimal(row[cost])
    return dict(totals)


def totals(store) -> dict[str, Decimal]:
    return dict(store.query("SELECT billing_currency, sum(billed_cost) FROM ledger GROUP BY 1"))


def rewrite(src: Path, dst: Path, change, bom: bool = True) -> Path:
    rows = read_rows(src)
    header = list(rows[0])
    for i, row in enumerate(rows):
        change(i, row)
    with dst.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as fh:
        w = csv.DictWriter(fh, header, lineterminator="\r\n")
        w.writeheader()
        w.writerows(rows)
    return dst


# --- real samples -----------------------------------------------------------------------------


def test_ea_actual_cost_sample_matches_index_to_the_last_digit(store, settings):
    assert EA_ACTUAL.read_bytes().startswith(BOM)  # the real file has a BOM, and MM/DD/YYYY dates
    assert oracle(EA_ACTUAL, "Cost", "BillingCurrency") == {"USD": Decimal("8.5450077867419368")}
    result = import_file(store, settings, EA_ACTUAL)
    assert (result.format, result.rows_loaded, result.rows_rejected) == ("azure", 11, 0)
    assert totals(store) == {"USD": Decimal("8.5450077867419368")}
    assert store.query("SELECT sum(cost_usd) FROM ledger")[0][0] == Decimal("8.5450077867419368")
    assert dict(store.query("SELECT charge_category, count(*) FROM ledger GROUP BY 1")) == {"usage": 10, "purchase": 1}
    first = store.query("SELECT min(period_start), max(period_end), min(billing_period) FROM ledger")[0]
    assert first == (datetime(2023, 9, 4), datetime(2023, 9, 22), "2023-09")
    # EA tags are written without their braces; they come back as an object.
    tags = store.query("SELECT tags FROM ledger WHERE sku = 'GRS List and Create Container Operations'")[0][0]
    assert json.loads(tags) == {"CostCenter": "1234", "env": "prod", "org": "trey", "application": "databricks",
                                "databricks-environment": "true"}
    assert store.query("SELECT count(*) FROM ledger WHERE provider <> 'azure' OR source_type <> 'azure'")[0][0] == 0


def test_ea_amortized_cost_sample_matches_index_at_18_decimals(store, settings):
    # INDEX.md: 16.29693213663664462748541900. Three rows carry up to 28 decimals; the ledger's
    # DECIMAL(38, 18) rounds each to 18 (half away from zero), so the total is compared there.
    index_total = Decimal("16.29693213663664462748541900")
    rows = read_rows(EA_AMORTIZED)
    assert sum(Decimal(r["Cost"]) for r in rows) == index_total
    assert max(len(r["Cost"].split(".")[-1]) for r in rows) > 18
    per_row_rounded = sum(Decimal(r["Cost"]).quantize(Q18, ROUND_HALF_UP) for r in rows)
    import_file(store, settings, EA_AMORTIZED)
    assert totals(store) == {"USD": per_row_rounded}
    assert per_row_rounded == index_total.quantize(Q18, ROUND_HALF_UP) == Decimal("16.296932136636644627")
    # Microsoft's own mapping puts Azure ML compute under AI and Machine Learning.
    ml = store.query("SELECT DISTINCT service_category FROM ledger WHERE sku = 'Disk Operations'")
    assert ml == [("AI and Machine Learning",)]
    # Not a model meter: "Data Transfer Out" of an ML workspace has no tokens.
    assert store.query("SELECT count(*) FROM ledger WHERE model IS NOT NULL OR output_tokens IS NOT NULL")[0][0] == 0


def test_cad_ea_sample_keeps_its_currency_and_m_d_yyyy_dates(store, settings):
    assert not EA_CAD.read_bytes().startswith(BOM)
    assert oracle(EA_CAD, "CostInBillingCurrency", "BillingCurrencyCode") == {"CAD": Decimal("1.26136926505726")}
    import_file(store, settings, EA_CAD)
    assert totals(store) == {"CAD": Decimal("1.26136926505726")}
    # 9/2/2023 is 2 September; scientific notation (5.64902E-05) is exact.
    assert store.query("SELECT DISTINCT period_start FROM ledger") == [(datetime(2023, 9, 2),)]
    assert store.query("SELECT billed_cost FROM ledger WHERE sku = 'Class 2 Operations'")[0][0] == Decimal("0.0000564902")
    # No CAD rate configured: the USD figure is unknown, never the CAD amount relabelled.
    assert store.query("SELECT count(*) FROM ledger WHERE cost_usd IS NOT NULL")[0][0] == 0


def test_aoai_daily_meter_costs_sample(store, settings):
    assert sum(Decimal(r["DailyCost"]) for r in read_rows(AOAI_DAILY)) == Decimal("27.47090885")
    result = import_file(store, settings, AOAI_DAILY)
    assert (result.format, result.rows_loaded) == ("azure", 18)
    assert totals(store) == {"USD": Decimal("27.47090885")}
    meters = dict(store.query("SELECT DISTINCT sku, model_raw || '|' || model || '|' || publisher FROM ledger WHERE model_raw IS NOT NULL"))
    assert meters == {
        "gpt 4o 0513 Input global Tokens": "gpt-4o-2024-05-13|gpt-4o-2024-05-13|openai",
        "gpt 4o 0513 Output global Tokens": "gpt-4o-2024-05-13|gpt-4o-2024-05-13|openai",
        "gpt-4o-mini-0718-Inp-glbl Tokens": "gpt-4o-mini-2024-07-18|gpt-4o-mini|openai",
        "gpt-4o-mini-0718-Outp-glbl Tokens": "gpt-4o-mini-2024-07-18|gpt-4o-mini|openai",
        "R1 Inp glbl Tokens": "deepseek-r1|deepseek-reasoner|deepseek",
        "R1 Outp glbl Tokens": "deepseek-r1|deepseek-reasoner|deepseek",
    }
    assert store.query("SELECT count(*) FROM ledger WHERE sku = 'Standard Text Records' AND model IS NULL")[0][0] == 2
    assert store.query("SELECT DISTINCT service_category FROM ledger") == [("AI and Machine Learning",)]
    # No quantities in a cost summary: no invented token counts.
    assert store.query("SELECT count(*) FROM ledger WHERE input_tokens IS NOT NULL OR output_tokens IS NOT NULL")[0][0] == 0
    by_day = store.query("SELECT sum(billed_cost) FROM ledger WHERE period_start = '2025-03-31'")[0][0]
    assert by_day == Decimal("1.869315") + Decimal("8.301505")


# --- MCA fixture: Azure OpenAI meters in EUR ----------------------------------------------------

# meterName -> (input, output, cache_read, service_tier, deployment type, canonical model)
EXPECTED_MCA = {
    "gpt 4o 1120 Inp glbl": (1_523_456, None, None, "standard", "global", "gpt-4o"),  # 1523.456 x 1K
    "gpt 4o 1120 cached Inp glbl": (640_500, None, 640_500, "standard", "global", "gpt-4o"),
    "gpt 4o 1120 Outp glbl": (None, 210_250, None, "standard", "global", "gpt-4o"),
    "gpt-4o-mini-0718-Inp-glbl Tokens": (3_250_000, None, None, "standard", "global", "gpt-4o-mini"),  # 3.25 x 1M
    "gpt-4o-mini-0718-Outp-glbl Tokens": (None, 412_000, None, "standard", "global", "gpt-4o-mini"),
    "gpt-4o-mini-0718-Batch-Inp-glbl Tokens": (800_000, None, None, "batch", "global", "gpt-4o-mini"),
    "gpt 4.5 0227 cached Inp DZone": (12_500, None, 12_500, "standard", "data zone", "gpt-4.5-preview"),
    "R1 Outp glbl Tokens": (None, 45_200, None, "standard", "global", "deepseek-reasoner"),
    "Hot LRS Write Operations": (None, None, None, None, None, None),
}


def test_mca_fixture_totals_and_token_counts(store, settings):
    assert MCA.read_bytes().startswith(BOM)
    expected_total = oracle(MCA, "costInBillingCurrency", "billingCurrency")
    assert expected_total == {"EUR": Decimal("7.56246418")}
    result = import_file(store, settings, MCA)
    assert (result.format, result.rows_loaded) == ("azure", 9)
    assert totals(store) == expected_total
    got = store.query(
        "SELECT sku, input_tokens, output_tokens, cache_read_tokens, service_tier, "
        "json_extract_string(tags, '$.\"azure.deployment_type\"'), model FROM ledger"
    )
    assert {r[0]: tuple(r[1:]) for r in got} == EXPECTED_MCA
    # Cached input is inside input_tokens once: the uncached meter counts the rest.
    sums = store.query("SELECT sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens) FROM ledger")[0]
    assert sums == (1_523_456 + 640_500 + 3_250_000 + 800_000 + 12_500, 210_250 + 412_000 + 45_200, 653_000, None)
    # The vendor's quantity and unit are kept as billed.
    assert store.query("SELECT quantity, unit FROM ledger WHERE sku = 'gpt-4o-mini-0718-Inp-glbl Tokens'")[0] == (Decimal("3.25"), "1M")
    ai = store.query("SELECT count(*) FROM ledger WHERE service_category = 'AI and Machine Learning' AND pricing_status = 'priced'")
    assert ai[0][0] == 8
    assert store.query("SELECT service_category, pricing_status, list_cost_usd FROM ledger WHERE model IS NULL")[0] == (
        "Storage", "none", Decimal("0.00068"))
    row = store.query("SELECT account_id, project, region, publisher, billing_period, json_extract_string(tags, '$.team') "
                      "FROM ledger WHERE sku = 'R1 Outp glbl Tokens'")[0]
    assert row == ("3f2a9c1e-5b7d-4e21-9a6c-000000000001", "rg-ai-prod", "swedencentral", "deepseek", "2026-01", "search")


def test_a_block_read_as_one_token_would_be_caught(store, settings, workdir):
    # The same file with the unit of measure dropped to "1": the counts must shrink 1000-fold,
    # so the 1K/1M expectations above really depend on the block size.
    plain = rewrite(MCA, workdir / "plain.csv", lambda i, r: r.update(unitOfMeasure="1" if r["unitOfMeasure"] in ("1K", "1M") else r["unitOfMeasure"]))
    import_file(store, settings, plain)
    assert store.query("SELECT input_tokens FROM ledger WHERE sku = 'gpt 4o 1120 Inp glbl'")[0][0] == 1523
    assert store.query("SELECT input_tokens FROM ledger WHERE sku = 'gpt-4o-mini-0718-Inp-glbl Tokens'")[0][0] == 3


@pytest.mark.parametrize("bom", [True, False])
def test_both_date_formats_and_bom_give_the_same_ledger(store, settings, workdir, bom):
    def us_date(_i, row):
        y, m, d = row["date"].split("-")
        row["date"] = f"{m}/{d}/{y}"
        row["billingPeriodStartDate"] = "01/01/2026"

    import_file(store, settings, MCA, source="iso")
    import_file(store, settings, rewrite(MCA, workdir / "us.csv", us_date, bom=bom), source="us")
    cols = "sku, period_start, period_end, billing_period, billed_cost, input_tokens, output_tokens, cache_read_tokens, tags"
    iso = store.query(f"SELECT {cols} FROM ledger WHERE source = 'iso' ORDER BY sku")
    us = store.query(f"SELECT {cols} FROM ledger WHERE source = 'us' ORDER BY sku")
    assert iso == us
    assert {r[1] for r in iso} == {datetime(2026, 1, 5), datetime(2026, 1, 6)}


@pytest.mark.parametrize("path", [EA_ACTUAL, EA_CAD, MCA, AOAI_DAILY], ids=["ea", "ea-cad", "mca", "meter-daily"])
def test_each_layout_is_detected_without_format(settings, path):
    assert detect(path, settings).kind == "azure"


def test_detection_via_cli_and_report_by_model(workdir):
    imported = run_cli("import", str(MCA), cwd=workdir)
    assert imported.returncode == 0, imported.stderr
    assert "as azure" in imported.stderr
    report = run_cli("report", "--by", "model,billing_currency", "--format", "json", cwd=workdir)
    assert report.returncode == 0, report.stderr
    rows = {r["model"]: r for r in json.loads(report.stdout)}
    assert rows["gpt-4o-mini"]["input_tokens"] == 4_050_000


def test_a_later_export_of_the_same_days_restates_them(store, settings, workdir):
    import_file(store, settings, MCA)
    # The month-to-date export of the next run: the same days, one cost corrected.
    def later(i, row):
        if row["meterName"] == "gpt 4o 1120 Outp glbl":
            row["costInBillingCurrency"] = "2.0343"

    (workdir / "run2").mkdir()
    newer = rewrite(MCA, workdir / "run2" / "part_0_0001.csv", later)
    result = import_file(store, settings, newer)
    assert result.replaced_rows == 9
    assert totals(store) == {"EUR": Decimal("7.56246418") + Decimal("0.1")}
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 9


def test_a_bad_row_is_reported_with_its_line(store, settings, workdir):
    bad = rewrite(MCA, workdir / "bad.csv", lambda i, r: r.update(costInBillingCurrency="12,5") if i == 2 else None)
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, bad)
    err = info.value.errors[0]
    assert (err.line, err.column, err.reason, err.value) == (4, "costInBillingCurrency", "not a decimal number", "12,5")
    bad = rewrite(MCA, workdir / "bad2.csv", lambda i, r: r.update(date="31/31/2026") if i == 0 else None)
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, bad)
    assert (info.value.errors[0].line, info.value.errors[0].column) == (2, "date")
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 0


# --- meter names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("meter", "unit", "token_type", "model", "canonical", "deployment", "batch", "block"),
    [
        ("gpt-4o-0806-Inp-glbl Tokens", "1K", "input", "gpt-4o-2024-08-06", "gpt-4o", "global", False, 1000),
        ("gpt-4o-0806-Outp-glbl Tokens", "1M", "output", "gpt-4o-2024-08-06", "gpt-4o", "global", False, 1_000_000),
        ("gpt-4o-mini-0718-Inp-glbl Tokens", "1K", "input", "gpt-4o-mini-2024-07-18", "gpt-4o-mini", "global", False, 1000),
        ("gpt 4o 0513 Input global Tokens", "1K", "input", "gpt-4o-2024-05-13", "gpt-4o-2024-05-13", "global", False, 1000),
        ("gpt 4o 1120 cached Inp glbl", "1K", "cached_input", "gpt-4o-2024-11-20", "gpt-4o", "global", False, 1000),
        ("gpt 4.5 0227 cached Inp DZone", "1K", "cached_input", "gpt-4.5-preview-2025-02-27", "gpt-4.5-preview", "data zone", False, 1000),
        ("gpt-35-turbo-4k-Input-regional", "1K", "input", "gpt-35-turbo", "gpt-3.5-turbo", "regional", False, 1000),
        ("GPT 5 Inpt Glbl", "1M", "input", "gpt-5", "gpt-5", "global", False, 1_000_000),
        ("gpt-4o-mini-0718-Batch-Inp-glbl Tokens", "1K", "input", "gpt-4o-mini-2024-07-18", "gpt-4o-mini", "global", True, 1000),
        ("gpt-4-8K PTU Inp Gl Tokens", "1K", "input", "gpt-4", "gpt-4", "global provisioned", False, 1000),
        ("gpt-4o-transcribe-aud-inp-glbl Tokens", "1 Tokens", "input", "gpt-4o-transcribe", "gpt-4o-transcribe", "global", False, 1),
        ("R1 Inp glbl Tokens", "1K", "input", "deepseek-r1", "deepseek-reasoner", "global", False, 1000),
        ("R1 Outp glbl Tokens", "1K", "output", "deepseek-r1", "deepseek-reasoner", "global", False, 1000),
        ("o3 mini 0131 Inp regnl Tokens", "1K", "input", "o3-mini-2025-01-31", "o3-mini", "regional", False, 1000),
        ("Standard Text Records", "1K", None, None, None, None, False, 1000),
        ("Intra Continent Data Transfer Out", "1 GB", None, None, None, None, False, 1),
    ],
)
def test_meter_names(meter, unit, token_type, model, canonical, deployment, batch, block):
    parsed, _ = azure.layered("(SELECT ? AS r_meter, ? AS r_unit)", azure.meter_sql("r_meter", "r_unit", "true"))
    got = duckdb.execute(f"SELECT m_token_type, m_model, m_deployment, m_batch, m_block, m_publisher FROM {parsed}",
                         [meter, unit]).fetchone()
    assert got[:5] == (token_type, model, deployment, batch, block)
    if model:
        assert PriceBook().resolve("azure", got[5], model)[1] == canonical
