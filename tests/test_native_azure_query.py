"""Azure Cost Management Query results (``azure-query``): the real spec examples, exact amounts,
positional rows, dates, meters and the errors of a bad result."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from aispend.errors import ImportError_, ValidationError
from aispend.ingest import import_file
from aispend.ingest.detect import detect
from aispend.ingest.native import azure_query

from .conftest import SAMPLES

EXAMPLES = (SAMPLES / "azure-rest-api-specs" / "specification" / "cost-management" / "resource-manager"
            / "Microsoft.CostManagement" / "stable" / "2023-03-01" / "examples")
GROUPING = EXAMPLES / "BillingAccountQueryGrouping.json"
SUBSCRIPTION = EXAMPLES / "SubscriptionQuery.json"


def body_of(example: Path) -> dict:
    return json.loads(example.read_text(), parse_float=Decimal)["responses"]["200"]["body"]


def oracle(example: Path) -> dict[tuple, Decimal]:
    """(date, resource group) -> cost straight from the JSON text, with Decimal: nothing of aispend."""
    props = body_of(example)["properties"]
    names = [c["name"] for c in props["columns"]]
    out = {}
    for row in props["rows"]:
        cell = dict(zip(names, row, strict=True))
        out[(cell.get("UsageDate"), cell["ResourceGroup"])] = cell["PreTaxCost"]
    return out


def rows(store) -> list[tuple]:
    return store.query("SELECT period_start, period_end, project, billed_cost, billing_currency, cost_source, "
                       "charge_category FROM ledger ORDER BY period_start, project")


def test_the_subscription_query_example_imports_exactly(store, settings):
    result = import_file(store, settings, SUBSCRIPTION)
    assert result.format == "azure-query" and result.rows_loaded == 4
    want = oracle(SUBSCRIPTION)
    got = rows(store)
    assert {(int(r[0].strftime("%Y%m%d")), r[2]): r[3] for r in got} == want  # UsageDate is an int yyyymmdd
    by_group = {r[2]: r[3] for r in got}
    assert by_group["ScreenSharingTest-peer"] == Decimal("2.10333307059661")
    assert by_group["ict_stratandplan_goldsprova_prod"] == Decimal("0.009865586851323632")  # 18 places, exact
    assert all(r[1] - r[0] == timedelta(days=1) and r[4:] == ("USD", "billed", "usage") for r in got)
    total = store.query("SELECT sum(billed_cost) FROM ledger")[0][0]
    assert total == sum(want.values()) == Decimal("220.945005212619364152")


def test_the_billing_account_grouping_example_without_dates_takes_its_requests_timeframe(store, settings):
    # granularity None, timeframe TheLastMonth: totals of the month before the import
    result = import_file(store, settings, GROUPING)
    assert result.format == "azure-query" and result.rows_loaded == 3
    first = datetime.now(UTC).date().replace(day=1)
    last_month = (first - timedelta(days=1)).replace(day=1)
    got = rows(store)
    assert {(r[0].date(), r[1].date()) for r in got} == {(last_month, first)}
    assert {r[2]: r[3] for r in got} == {k[1]: v for k, v in oracle(GROUPING).items()}
    assert store.query("SELECT sum(billed_cost) FROM ledger")[0][0] == Decimal("213.324572647805194")


def test_a_result_without_dates_and_without_its_request_is_refused_clearly(store, settings, workdir):
    path = workdir / "grouping.json"
    path.write_text(json.dumps(json.loads(GROUPING.read_text())["responses"]["200"]["body"]))
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, path, fmt="azure-query")
    err = info.value.errors[0]
    assert err.column == ".properties.columns" and "no UsageDate or BillingMonth column" in err.value


def test_a_saved_body_and_the_sync_landing_shape_import_identically(store, settings, workdir):
    body = json.loads(SUBSCRIPTION.read_text())["responses"]["200"]["body"]
    one, many = workdir / "one.json", workdir / "pages.json"
    one.write_text(json.dumps(body))
    many.write_text("[" + json.dumps(body) + ",\n" + json.dumps({**body, "properties": {**body["properties"], "rows": []}}) + "]")
    a = import_file(store, settings, one, source="a")
    b = import_file(store, settings, many, source="b")
    assert a.format == b.format == "azure-query" and a.rows_loaded == b.rows_loaded == 4
    sums = dict(store.query("SELECT source, sum(billed_cost) FROM ledger GROUP BY 1"))
    assert sums["a"] == sums["b"] == Decimal("220.945005212619364152")


def test_meters_models_tags_and_monthly_results(store, settings, workdir):
    # the vendors.md §5.1 shape (Daily, grouped by MeterSubCategory and Meter) and a Monthly result
    daily = {"properties": {"nextLink": None, "columns": [
        {"name": "Cost", "type": "Number"}, {"name": "UsageDate", "type": "Number"},
        {"name": "MeterSubCategory", "type": "String"}, {"name": "Meter", "type": "String"},
        {"name": "ServiceTier", "type": "String"}, {"name": "Currency", "type": "String"}], "rows": [
        [12.5531, 20260105, "Azure OpenAI", "gpt-4o-0806-Inp-glbl Tokens", "S0", "USD"],
        [48.0025, 20260105, "Azure OpenAI", "gpt-4o-0806-Outp-glbl Tokens", "S0", "USD"],
        [1E-7, 20260105, "Azure OpenAI", "gpt-4o-mini-0718-Batch-Inp-glbl Tokens", "S0", "usd"]]}}
    monthly = {"properties": {"nextLink": None, "columns": [
        {"name": "PreTaxCost", "type": "Number"}, {"name": "BillingMonth", "type": "Datetime"},
        {"name": "ServiceName", "type": "String"}, {"name": "Currency", "type": "String"}],
        "rows": [[7, "2026-01-01T00:00:00", "Foundry Models", "EUR"]]}}
    path = workdir / "q.json"
    path.write_text(json.dumps(daily))
    import_file(store, settings, path)
    got = store.query("SELECT sku, model_raw, service_category, service_tier, tags, billed_cost, billing_currency, "
                      "input_tokens FROM ledger ORDER BY billed_cost")
    assert [g[1] for g in got] == ["gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "gpt-4o-2024-08-06"]
    assert {g[2] for g in got} == {"AI and Machine Learning"} and got[0][3] == "batch" and got[1][3] == "standard"
    assert json.loads(got[1][4]) == {"azure.ServiceTier": "S0", "azure.deployment_type": "global"}
    assert [g[5] for g in got] == [Decimal("1E-7"), Decimal("12.5531"), Decimal("48.0025")]
    assert got[0][6] == "USD" and got[0][7] is None  # the Query API has no unit: no token counts
    path.write_text(json.dumps(monthly))
    import_file(store, settings, path, source="monthly")
    [m] = store.query("SELECT period_start, period_end, service, service_category, billed_cost, billing_currency "
                      "FROM ledger WHERE source = 'monthly'")
    assert m == (datetime(2026, 1, 1), datetime(2026, 2, 1), "Foundry Models", "AI and Machine Learning",
                 Decimal(7), "EUR")


@pytest.mark.parametrize(("change", "column", "reason", "value"), [
    (lambda r: r.__setitem__(0, "12,5"), ".properties.rows[1][0] (PreTaxCost)", "not a decimal number", "12,5"),
    (lambda r: r.__setitem__(2, 20181331), ".properties.rows[1][2] (UsageDate)", "not a date", "20181331"),
    (lambda r: r.__setitem__(3, None), ".properties.rows[1][3] (Currency)", "required value is missing", None),
    (lambda r: r.pop(), ".properties.rows[1]", "not a row of 4 values", None),
])
def test_a_bad_cell_is_reported_at_its_row_and_column(store, settings, workdir, change, column, reason, value):
    body = json.loads(SUBSCRIPTION.read_text())["responses"]["200"]["body"]
    change(body["properties"]["rows"][1])
    path = workdir / "bad.json"
    path.write_text(json.dumps(body))
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, path)
    err = info.value.errors[0]
    assert err.column == column and reason in f"{err.reason} {err.value}" and (value is None or err.value == value)
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 0


def test_an_error_response_among_results_and_a_foreign_file(store, settings, workdir):
    body = json.loads(SUBSCRIPTION.read_text())["responses"]["200"]["body"]
    path = workdir / "err.json"
    path.write_text(json.dumps([body, {"error": {"code": "AuthorizationFailed", "message": "no role"}}]))
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, path)
    assert (info.value.errors[0].column, info.value.errors[0].value) == (".[1]", "an error response, not a result: no role")
    other = workdir / "other.json"
    other.write_text(json.dumps({"object": "page", "data": []}))
    with pytest.raises(ImportError_, match="no known format"):
        detect(other, settings)
    with pytest.raises(ImportError_, match="does not look like a azure-query file"):
        import_file(store, settings, other, fmt="azure-query")


def test_relative_timeframes():
    now = datetime(2026, 3, 18, 9, tzinfo=UTC)
    assert azure_query._period({"timeframe": "TheLastMonth"}, now) == ("2026-02-01", "2026-03-01")
    assert azure_query._period({"timeframe": "MonthToDate"}, now) == ("2026-03-01", "2026-03-19")
    assert azure_query._period({"timeframe": "TheCurrentMonth"}, now) == ("2026-03-01", "2026-04-01")
    assert azure_query._period({"timeframe": "WeekToDate"}, now) == ("2026-03-16", "2026-03-19")
    custom = {"timeframe": "Custom", "timePeriod": {"from": "2026-01-01T00:00:00Z", "to": "2026-01-31T23:59:59Z"}}
    assert azure_query._period(custom, now) == ("2026-01-01", "2026-02-01")
    assert azure_query._period({"timeframe": "Custom"}, now) is None and azure_query._period(None, now) is None
