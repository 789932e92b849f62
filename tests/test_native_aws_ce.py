"""Saved AWS Cost Explorer GetCostAndUsage responses (format ``aws-ce``).

The one real response is the aws-cli documentation's example (shared/samples INDEX.md §2); the
Bedrock responses below are built to vendors.md §3.1 with invented values. Oracles are ``json``
and ``Decimal``, nothing of aispend.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest

from aispend.errors import ValidationError
from aispend.ingest import detect, import_file

from .conftest import SAMPLES, run_cli

CLI_EXAMPLE = SAMPLES / "aws-cli" / "awscli" / "examples" / "ce" / "get-cost-and-usage.output.json"


def amounts(doc, metric="UnblendedCost"):
    docs = doc if isinstance(doc, list) else [doc]
    return [Decimal(g["Metrics"][metric]["Amount"]) for d in docs for p in d["ResultsByTime"] for g in p["Groups"]]


def bedrock_page(day: str, end: str, groups: list[tuple[str, str, str, str]], token: str | None = None,
                 estimated: bool = False) -> dict:
    page = {
        "GroupDefinitions": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
        "ResultsByTime": [{
            "TimePeriod": {"Start": day, "End": end}, "Total": {}, "Estimated": estimated,
            "Groups": [{"Keys": [svc, ut], "Metrics": {"UnblendedCost": {"Amount": cost, "Unit": "USD"},
                                                       "UsageQuantity": {"Amount": qty, "Unit": "N/A"}}}
                       for svc, ut, cost, qty in groups],
        }],
        "DimensionValueAttributes": [],
    }
    if token:
        page["NextPageToken"] = token
    return page


PAGES = [
    bedrock_page("2026-01-01", "2026-01-02", [
        ("Amazon Bedrock", "USE1-Claude4.6Sonnet-input-tokens", "0.4213500000", "140.45"),
        ("Amazon Bedrock", "USE1-Claude4.6Sonnet-output-tokens", "1.8750000000", "125"),
    ], token="AAMA-EFRSURBSGg"),
    bedrock_page("2026-01-01", "2026-01-02", [
        ("Claude 3 Haiku (Amazon Bedrock Edition)", "USW2-MP:USW2_InputTokenCount-Units", "0.0000000001", "0.0004"),
        ("Amazon Bedrock", "USE1-NovaLite-cache-write-input-token-count", "-0.0100000000", "3.3"),
    ], estimated=True),
]


def test_the_aws_cli_example_imports_with_its_amounts_exact(store, settings):
    doc = json.loads(CLI_EXAMPLE.read_text())
    want = sum(amounts(doc), Decimal(0))
    assert want == Decimal("40.6226137778")
    assert detect(CLI_EXAMPLE, settings).kind == "aws-ce"
    result = import_file(store, settings, CLI_EXAMPLE)
    assert (result.format, result.source, result.rows_loaded) == ("aws-ce", "aws-ce", 2)
    assert store.query("SELECT sum(billed_cost), sum(cost_usd) FROM ledger")[0] == (want, want)
    rows = store.query("SELECT billed_cost, quantity, tags, service, period_start, period_end, billing_period, "
                       "billing_currency, provider, cost_source, service_category, charge_category, sku, model_raw "
                       "FROM ledger ORDER BY billed_cost")
    assert rows[0][:2] == (Decimal("0.2682364644"), Decimal("22403.4395271182"))  # blended cost is not used
    assert rows[1][:2] == (Decimal("40.3543773134"), Decimal("9312771.098461578"))
    assert json.loads(rows[0][2]) == {"Environment": "Dev"} and rows[1][2] is None  # "Environment$" is untagged
    assert rows[1][3:] == ("Amazon Simple Storage Service", datetime(2017, 9, 1), datetime(2017, 10, 1), "2017-09",
                           "USD", "aws", "billed", "Other", "usage", None, None)


def test_bedrock_pages_parse_models_and_thousands_of_tokens(store, settings, workdir):
    path = workdir / "ce-pages.json"
    path.write_text(json.dumps(PAGES))
    result = import_file(store, settings, path)
    assert (result.format, result.rows_loaded) == ("aws-ce", 4)
    assert store.query("SELECT sum(billed_cost) FROM ledger")[0][0] == sum(amounts(PAGES), Decimal(0))
    rows = {r[0]: r[1:] for r in store.query(
        "SELECT sku, model_raw, publisher, input_tokens, output_tokens, cache_write_tokens, unit, charge_category, tags, "
        "region FROM ledger")}
    # vendors.md §3.1: 140.45 input at $3/M costs 0.42135, so UsageQuantity counts thousands of tokens
    assert rows["USE1-Claude4.6Sonnet-input-tokens"][:6] == (
        "anthropic.claude-sonnet-4-6", "anthropic", 140450, None, None, "1K tokens")
    assert rows["USE1-Claude4.6Sonnet-output-tokens"][2:4] == (None, 125000)
    assert rows["USW2-MP:USW2_InputTokenCount-Units"][:3] == ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic",
                                                              None)  # Marketplace units: no token scale
    nova = rows["USE1-NovaLite-cache-write-input-token-count"]
    assert nova[:5] == ("amazon.nova-lite-v1:0", "amazon", 3300, None, 3300) and nova[6] == "credit"
    assert json.loads(nova[7]) == {"estimated": "true"} and rows["USE1-Claude4.6Sonnet-input-tokens"][7] is None
    assert rows["USW2-MP:USW2_InputTokenCount-Units"][8] == "us-west-2"
    assert store.query("SELECT billed_cost FROM ledger WHERE sku LIKE '%MP:%'")[0][0] == Decimal("0.0000000001")


def test_a_response_without_group_by_reads_the_total(store, settings, workdir):
    doc = {"ResultsByTime": [
        {"TimePeriod": {"Start": d, "End": e}, "Groups": [], "Estimated": False,
         "Total": {"UnblendedCost": {"Amount": a, "Unit": "USD"}, "UsageQuantity": {"Amount": "1", "Unit": "N/A"}}}
        for d, e, a in (("2026-01-01", "2026-01-02", "1.5000000001"), ("2026-01-02", "2026-01-03", "2.25"))]}
    path = workdir / "total.json"
    path.write_text(json.dumps(doc))
    assert import_file(store, settings, path).rows_loaded == 2
    assert store.query("SELECT sum(billed_cost) FROM ledger")[0][0] == Decimal("3.7500000001")


@pytest.mark.parametrize(("change", "column", "reason"), [
    (lambda p: p[1]["ResultsByTime"][0]["Groups"][1]["Metrics"]["UnblendedCost"].update(Amount="1,25"),
     ".[1].ResultsByTime[0].Groups[1].Metrics.UnblendedCost.Amount", "not a decimal string"),
    (lambda p: p[0]["ResultsByTime"][0]["TimePeriod"].update(Start="01/01/2026"),
     ".[0].ResultsByTime[0].TimePeriod.Start", "not a date (YYYY-MM-DD) or date/time"),
    (lambda p: p[0]["ResultsByTime"][0]["Groups"][0]["Metrics"].pop("UnblendedCost"),
     ".[0].ResultsByTime[0].Groups[0]", "malformed record"),
])
def test_a_bad_value_is_named_by_its_json_path(store, settings, workdir, change, column, reason):
    pages = json.loads(json.dumps(PAGES))
    change(pages)
    path = workdir / "bad.json"
    path.write_text(json.dumps(pages))
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, path)
    err = info.value.errors[0]
    assert err.column == column and err.reason == reason, (err.column, err.reason, err.value)
    if reason == "malformed record":
        assert "no UnblendedCost metric" in err.value
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 0


def test_the_cli_detects_and_imports_the_example(workdir):
    out = run_cli("import", str(CLI_EXAMPLE), "--format", "aws-ce", cwd=workdir)
    assert out.returncode == 0, out.stderr
    assert "2" in out.stdout + out.stderr


def test_other_json_is_not_taken_for_a_ce_response(workdir):
    from aispend.ingest.detect import probe_file
    from aispend.ingest.native.aws_ce import FORMAT

    for name, doc in [("openai.json", {"object": "page", "data": [], "has_more": False}),
                      ("error.json", {"__type": "ThrottlingException", "message": "Rate exceeded"}),
                      ("manifest.json", {"reportKeys": ["a.csv.gz"], "billingPeriod": {}})]:
        path = workdir / name
        path.write_text(json.dumps(doc))
        assert not FORMAT.matches(probe_file(path)), name
    path = workdir / "pages.json"
    path.write_text(json.dumps(PAGES))
    assert FORMAT.matches(probe_file(path))
