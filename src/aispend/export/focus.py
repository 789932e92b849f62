"""Ledger -> FOCUS 1.2 CostAndUsage, as one SQL projection that streams.

The ledger is FOCUS-aligned, so the export is a SELECT over it: no row passes through Python.
Every Mandatory column is written, plus the Recommended and Conditional ones the ledger can fill;
aispend's own columns follow, ``x_``-prefixed, with exactly the names ``ingest/focus.py`` reads, so
an export re-imports into an equal ledger. docs/focus-export.md holds the mapping table and the
reasons behind each choice (why estimated rows carry BilledCost 0, why ContractedCost equals
EffectiveCost, ...).

CSV and Parquet differ only in the physical types: CSV gets money as plain decimal text and times
as ``YYYY-MM-DDTHH:mm:ssZ``; Parquet keeps ``decimal128(38, 18)`` and UTC timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..ingest.sqlparts import lit
from ..schema import MONEY_SQL, TOKEN_COLUMNS
from .focus_check import AI_CATEGORY, DATETIME, DATETIME_FORMAT, DECIMAL, FOCUS_12_BY_NAME, SERVICE_CATEGORIES

Container = Literal["csv", "parquet"]

_AI_ROW = " OR ".join(f"{c} IS NOT NULL" for c in ("model", "model_raw", *TOKEN_COLUMNS))
_ANY_TOKENS = " OR ".join(f"{c} IS NOT NULL" for c in TOKEN_COLUMNS)
_CHARGE_CATEGORY = "CASE lower(coalesce(charge_category, 'usage')) " + " ".join(
    f"WHEN {lit(c.lower())} THEN {lit(c)}" for c in ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
) + " ELSE charge_category END"
_SERVICE_CATEGORY = "CASE lower(service_category) " + " ".join(
    f"WHEN {lit(c.lower())} THEN {lit(c)}" for c in SERVICE_CATEGORIES
) + " ELSE 'Other' END"

# Tags: a JSON object whose values are all strings (nested values become their JSON text, null stays).
_TAG_VALUE = ("CASE json_type(e.value) WHEN 'VARCHAR' THEN json_extract_string(e.value, '$') "
              "WHEN 'NULL' THEN NULL ELSE CAST(e.value AS VARCHAR) END")
_TAG_ENTRIES = "map_entries(try_cast(CAST(tags AS JSON) AS MAP(VARCHAR, JSON)))"
_TAGS = (f"CAST(to_json(map_from_entries(list_transform({_TAG_ENTRIES}, "
         f"lambda e: struct_pack(k := e.key, v := {_TAG_VALUE})))) AS VARCHAR)")

# Derived once per row from ledger columns, used by several FOCUS columns below.
_DERIVED = {
    "_ai": f"({_AI_ROW})",
    # Estimated rows (no bill yet) are expressed in USD: their estimate is cost_usd.
    "_currency": "CASE WHEN billed_cost IS NULL THEN 'USD' ELSE upper(billing_currency) END",
    "_effective": f"CAST(coalesce(billed_cost, cost_usd, 0) AS {MONEY_SQL})",
    "_billing_start": "coalesce(try_strptime(billing_period || '-01', '%Y-%m-%d'), date_trunc('month', period_start))",
    "_quantity": f"coalesce(quantity, CASE WHEN {_ANY_TOKENS} THEN "
                 f"CAST(coalesce(input_tokens, 0) + coalesce(output_tokens, 0) AS {MONEY_SQL}) END)",
    "_unit": f"CASE WHEN quantity IS NOT NULL THEN unit WHEN {_ANY_TOKENS} THEN 'Tokens' END",
    "_charge_category": _CHARGE_CATEGORY,
    "_service_category": _SERVICE_CATEGORY,
    "_tags": _TAGS,
}
# Derived from the above.
_DERIVED_2 = {
    "_category": f"CASE WHEN _ai THEN {lit(AI_CATEGORY)} ELSE _service_category END",
}


@dataclass(frozen=True)
class Out:
    """One output column: its name and the SQL computing it from a ledger row (plus _DERIVED)."""

    name: str
    sql: str


# FOCUS columns in the spec's (alphabetical) order, then aispend's x_ columns.
FOCUS_COLUMNS: tuple[Out, ...] = (
    Out("BilledCost", f"CAST(coalesce(billed_cost, 0) AS {MONEY_SQL})"),
    Out("BillingAccountId", "coalesce(account_id, source)"),
    Out("BillingAccountName", "CAST(NULL AS VARCHAR)"),
    Out("BillingCurrency", "_currency"),
    Out("BillingPeriodEnd", "_billing_start + INTERVAL 1 MONTH"),
    Out("BillingPeriodStart", "_billing_start"),
    Out("ChargeCategory", "_charge_category"),
    Out("ChargeClass", "CAST(NULL AS VARCHAR)"),
    Out("ChargeDescription", "description"),
    Out("ChargeFrequency", "CASE WHEN _charge_category = 'Usage' THEN 'Usage-Based' ELSE 'One-Time' END"),
    Out("ChargePeriodEnd", "period_end"),
    Out("ChargePeriodStart", "period_start"),
    Out("ConsumedQuantity", "_quantity"),
    Out("ConsumedUnit", "_unit"),
    Out("ContractedCost", "_effective"),
    Out("EffectiveCost", "_effective"),
    Out("InvoiceId", "invoice_id"),
    Out("InvoiceIssuerName", "provider"),
    Out("ListCost", f"CAST(CASE WHEN _currency = 'USD' AND list_cost_usd IS NOT NULL THEN list_cost_usd "
                    f"ELSE _effective END AS {MONEY_SQL})"),
    Out("PricingQuantity", "_quantity"),
    Out("PricingUnit", "_unit"),
    Out("ProviderName", "provider"),
    Out("PublisherName", "coalesce(publisher, provider)"),
    Out("RegionId", "region"),
    Out("ServiceCategory", "_category"),
    Out("ServiceName", "coalesce(service, provider)"),
    Out("ServiceSubcategory", "CASE WHEN _ai THEN 'Generative AI' ELSE 'Other (' || _category || ')' END"),
    Out("SkuId", "sku"),
    Out("SubAccountId", "account_id"),
    Out("SubAccountName", "project"),
    Out("Tags", "_tags"),
)

# Exactly the names ingest/focus.py reads back (X_TEXT, X_TOKENS), plus cost source and status.
CUSTOM_COLUMNS: tuple[Out, ...] = (
    Out("x_Model", "coalesce(model, model_raw)"),
    Out("x_ServiceTier", "service_tier"),
    Out("x_Project", "project"),
    Out("x_ApiKeyId", "api_key_id"),
    Out("x_Environment", "environment"),
    Out("x_Owner", "owner"),
    Out("x_Feature", "feature"),
    Out("x_Customer", "customer"),
    Out("x_Experiment", "experiment"),
    Out("x_InputTokens", "input_tokens"),
    Out("x_OutputTokens", "output_tokens"),
    Out("x_CacheReadTokens", "cache_read_tokens"),
    Out("x_CacheWriteTokens", "cache_write_tokens"),
    Out("x_ReasoningTokens", "reasoning_tokens"),
    Out("x_Requests", "requests"),
    Out("x_CostSource", "cost_source"),
    Out("x_PricingStatus", "pricing_status"),
)

OUTPUT_COLUMNS = FOCUS_COLUMNS + CUSTOM_COLUMNS


def plain_decimal(expr: str) -> str:
    """Exact decimal text: no exponent, trailing fractional zeros trimmed ('1.500' -> '1.5', '0.000' -> '0').

    Cast to DECIMAL(38, 18) first, so the text always has a decimal point and trimming zeros
    (then the point) can only touch the fraction. rtrim is several times faster than a regex here.
    """
    return f"rtrim(rtrim(CAST(CAST({expr} AS {MONEY_SQL}) AS VARCHAR), '0'), '.')"


def _physical(col: Out, container: Container) -> str:
    spec = FOCUS_12_BY_NAME.get(col.name)
    if spec is None:
        return col.sql
    if spec.type == DECIMAL:
        return plain_decimal(col.sql) if container == "csv" else f"CAST({col.sql} AS {MONEY_SQL})"
    if spec.type == DATETIME:
        ts = f"CAST({col.sql} AS TIMESTAMP)"
        # Parquet: naive UTC here; the writer labels the Arrow field UTC.
        return f"strftime({ts}, {lit(DATETIME_FORMAT)})" if container == "csv" else ts
    return f"CAST({col.sql} AS VARCHAR)"


def focus_select_sql(where_sql: str = "TRUE", container: Container = "csv", dialect: str = "duckdb") -> str:
    """The SELECT turning the ledger rows matching ``where_sql`` into FOCUS 1.2 rows, in three layers."""
    derived = _DERIVED if dialect == "duckdb" else {**_DERIVED, "_tags": "focus_tags(tags)"}  # pg_sql.COMPAT_FUNCTIONS
    first = ", ".join(f"{expr} AS {alias}" for alias, expr in derived.items())
    second = ", ".join(f"{expr} AS {alias}" for alias, expr in _DERIVED_2.items())
    outer = ", ".join(f"{_physical(c, container)} AS {c.name}" for c in OUTPUT_COLUMNS)
    return (f"SELECT {outer} FROM (SELECT *, {second} FROM "
            f"(SELECT *, {first} FROM ledger WHERE ({where_sql})))")
