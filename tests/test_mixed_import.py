"""One ledger from every vendor's real sample (and fixtures where no real sample exists):
`aispend report --by provider,publisher,model --format json` gives exact totals per vendor."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from .conftest import FOCUS_SAMPLE, SAMPLES, run_cli

FIXTURES = Path(__file__).parent / "fixtures"
AZURE = SAMPLES / "finops-toolkit" / "src" / "powershell" / "Tests" / "Unit" / "assets"

# Real samples: totals recomputed with Decimal in shared/samples/INDEX.md (provider code, currency).
REAL = {
    FOCUS_SAMPLE: {("aws", "USD"): Decimal("18.00663861840"), ("azure", "USD"): Decimal("1.97651418586"),
                   ("oracle", "USD"): Decimal("0.53707392473")},
    SAMPLES / "focus_converters/focus_converter_base/tests/provider_config_tests/aws/sample-anonymous-aws-export-dataset.csv":
        {("aws", "USD"): Decimal("1.68230869740")},
    AZURE / "EA_ActualCost_Small.csv": {("azure", "USD"): Decimal("8.5450077867419368")},
    SAMPLES / "finops-toolkit/src/finley/archive/multiagent_finley_aifoundrysdk/examplequestions_prompts/"
              "adxqueries.followup1.aoai_daily_meter_costs.csv": {("azure", "USD"): Decimal("27.47090885")},
    SAMPLES / "focus_converters/focus_converter_base/tests/provider_config_tests/oci/reports_cost-csv_0000000030000269.csv":
        {("oracle", "USD"): Decimal("2.523589325400648027")},
    SAMPLES / "openai-openapi/openapi.json.x-oaiMeta.examples/organization__costs.response.json":
        {("openai", "USD"): Decimal("0.06")},
}
# The CAD export stays in CAD: without a rate its cost_usd is unknown, and the footer says so.
CAD = SAMPLES / "focus_converters/focus_converter_base/tests/provider_config_tests/azure/sample-anonymous-ea-export-dataset.csv"


def test_every_real_sample_lands_exactly_and_reports_per_vendor(workdir):
    files = [str(p) for p in REAL] + [str(CAD), str(FIXTURES / "anthropic" / "cost_report_page1.json")]
    imported = run_cli("import", "--json", *files, cwd=workdir)
    assert imported.returncode == 0, imported.stderr
    formats = {Path(r["path"]).name: r["format"] for r in json.loads(imported.stdout)}
    assert formats["reports_cost-csv_0000000030000269.csv"] == "csv:oci-cost-report"
    assert formats["sample-anonymous-aws-export-dataset.csv"] == "aws-cur"
    assert formats["organization__costs.response.json"] == "openai"

    expected: dict[str, Decimal] = defaultdict(Decimal)
    for totals in REAL.values():
        for (provider, _), amount in totals.items():
            expected[provider] += amount
    report = run_cli("report", "--by", "provider,publisher,model", "--format", "json",
                     "--where", "cost_source=billed", cwd=workdir)
    assert report.returncode == 0, report.stderr
    got: dict[str, Decimal] = defaultdict(Decimal)
    for row in json.loads(report.stdout):
        assert set(row) >= {"provider", "publisher", "model", "cost_usd"}
        got[row["provider"]] += Decimal(row["cost_usd"] or 0)
    page = json.loads((FIXTURES / "anthropic" / "cost_report_page1.json").read_text())
    cents = sum(Decimal(r["amount"]) for bucket in page["data"] for r in bucket["results"])
    assert got.pop("anthropic") == cents / 100  # cost_report amounts are decimal strings in cents
    assert dict(got) == dict(expected)
    assert "without a USD rate (1.26136926505726 CAD)" in report.stderr
