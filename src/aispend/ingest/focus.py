"""FOCUS 1.0 to 1.3 cost-and-usage rows -> ledger rows (pure: header in, SQL out).

Mandatory FOCUS columns are checked row by row; columns a version adds (1.3's
ServiceProviderName, HostProviderName, allocation columns) are tolerated. aispend's own ``x_``
columns (tokens, model, attribution) round-trip a FOCUS export back into the ledger, and the
community pattern of one row per token type (``x_TokenType`` + ``ConsumedQuantity``) is read too.
"""

from __future__ import annotations

from ..schema import CHARGE_CATEGORIES
from ..vendors import provider_sql_case
from . import sqlparts as s

# Presence of these headers identifies a FOCUS cost-and-usage file.
SIGNATURE = ("BilledCost", "ChargePeriodStart", "ChargePeriodEnd", "BillingCurrency")

# x_ columns of aispend's FOCUS export that map straight back onto ledger columns.
X_TEXT = {
    "x_Model": "model_raw",
    "x_ServiceTier": "service_tier",
    "x_Project": "project",
    "x_ApiKeyId": "api_key_id",
    "x_Environment": "environment",
    "x_Owner": "owner",
    "x_Feature": "feature",
    "x_Customer": "customer",
    "x_Experiment": "experiment",
}
X_TOKENS = {
    "x_InputTokens": "input_tokens",
    "x_OutputTokens": "output_tokens",
    "x_CacheReadTokens": "cache_read_tokens",
    "x_CacheWriteTokens": "cache_write_tokens",
    "x_ReasoningTokens": "reasoning_tokens",
    "x_Requests": "requests",
}
# x_TokenType values (community pattern), and the ledger columns whose totals include each.
TOKEN_TYPES = ("input", "output", "cache_read", "cache_write", "reasoning")
TOKEN_TYPE_COLUMNS = {
    "input_tokens": ("input", "cache_read", "cache_write"),
    "output_tokens": ("output", "reasoning"),
    "cache_read_tokens": ("cache_read",),
    "cache_write_tokens": ("cache_write",),
    "reasoning_tokens": ("reasoning",),
}


def matches(headers: list[str]) -> bool:
    have = set(headers)
    return all(h in have for h in SIGNATURE) and bool({"ProviderName", "ServiceProviderName"} & have)


def normalize_sql(headers: list[str], from_sql: str, *, source: str, batch_id: str, ingested_at: str) -> str:
    have = set(headers)

    def raw_of(name: str) -> str:
        return s.blank(s.q(name)) if name in have else "CAST(NULL AS VARCHAR)"

    names = set(SIGNATURE) | {"ProviderName", "ServiceProviderName", "PublisherName", "BillingPeriodStart",
                              "ChargeCategory", "ChargeDescription", "ServiceName", "ServiceCategory", "SkuId",
                              "RegionId", "ConsumedQuantity", "ConsumedUnit", "ListCost", "SubAccountId",
                              "SubAccountName", "BillingAccountId", "Tags", "x_TokenType", "x_CostSource", "InvoiceId"}
    names |= set(X_TEXT) | set(X_TOKENS)
    raw = {f"r_{n}": raw_of(n) for n in sorted(names)}

    parsed = {
        "p_start": s.timestamp("r_ChargePeriodStart"),
        "p_end": s.timestamp("r_ChargePeriodEnd"),
        "p_billing_start": s.timestamp("r_BillingPeriodStart"),
        "p_billed": s.decimal("r_BilledCost"),
        "p_list": s.decimal("r_ListCost"),
        "p_quantity": s.decimal("r_ConsumedQuantity"),
        "p_category": "lower(r_ChargeCategory)",
        "p_provider": provider_sql_case("coalesce(r_ProviderName, r_ServiceProviderName)"),
        "p_tags": "try_cast(r_Tags AS JSON)",
        "p_token_type": "lower(r_x_TokenType)",
        # aispend's own export marks estimated rows (BilledCost 0): they come back as estimates.
        "p_estimated": "coalesce(lower(r_x_CostSource) = 'estimated', false)",
        **{f"p_{col}": s.integer(f"r_{x}") for x, col in X_TOKENS.items()},
    }

    checks: list[s.Check] = []
    checks += s.required("ChargePeriodStart", "r_ChargePeriodStart", "p_start", "a date/time")
    checks += s.required("ChargePeriodEnd", "r_ChargePeriodEnd", "p_end", "a date/time")
    checks.append(s.Check("ChargePeriodEnd", "p_end < p_start", "ends before ChargePeriodStart", "r_ChargePeriodEnd"))
    checks += s.required("BilledCost", "r_BilledCost", "p_billed", "a decimal number")
    checks += s.required("BillingCurrency", "r_BillingCurrency", "r_BillingCurrency", "a currency")
    provider_col = "ProviderName" if "ProviderName" in have else "ServiceProviderName"
    checks += s.required(provider_col, "coalesce(r_ProviderName, r_ServiceProviderName)", "p_provider", "a name")
    allowed = ", ".join(s.lit(c) for c in CHARGE_CATEGORIES)
    checks += s.required("ChargeCategory", "r_ChargeCategory", f"CASE WHEN p_category IN ({allowed}) THEN 1 END",
                         "one of Usage, Purchase, Tax, Credit, Adjustment")
    checks += s.optional("ListCost", "r_ListCost", "p_list", "a decimal number")
    checks += s.optional("ConsumedQuantity", "r_ConsumedQuantity", "p_quantity", "a decimal number")
    checks += s.optional("Tags", "r_Tags", "CASE WHEN json_type(p_tags) = 'OBJECT' THEN 1 END", "a JSON object")
    for x, col in X_TOKENS.items():
        checks += s.optional(x, f"r_{x}", f"p_{col}", "a whole number")
    if "x_TokenType" in have:
        known = ", ".join(s.lit(t) for t in TOKEN_TYPES)
        checks += s.optional("x_TokenType", "r_x_TokenType", f"CASE WHEN p_token_type IN ({known}) THEN 1 END",
                             "one of " + ", ".join(TOKEN_TYPES))

    values = {
        "source": s.lit(source),
        "source_type": "'focus'",
        "ingested_at": f"CAST({s.lit(ingested_at)} AS TIMESTAMP)",
        "batch_id": s.lit(batch_id),
        "period_start": "p_start",
        "period_end": "p_end",
        "billing_period": "strftime(coalesce(p_billing_start, p_start), '%Y-%m')",
        "provider": "p_provider",
        "publisher": provider_sql_case("r_PublisherName"),
        "service": "r_ServiceName",
        "service_category": "r_ServiceCategory",
        "sku": "r_SkuId",
        "region": "r_RegionId",
        "charge_category": "p_category",
        "description": "r_ChargeDescription",
        "quantity": "p_quantity",
        "unit": "r_ConsumedUnit",
        "billed_cost": "CASE WHEN NOT p_estimated THEN p_billed END",
        "billing_currency": "upper(r_BillingCurrency)",
        # The vendor's list cost is kept where the price book has nothing better (USD only).
        "list_cost_usd": "CASE WHEN upper(r_BillingCurrency) = 'USD' THEN p_list END",
        "cost_source": "CASE WHEN p_estimated THEN 'estimated' ELSE 'billed' END",
        "account_id": "coalesce(r_SubAccountId, r_BillingAccountId)",
        "project": "coalesce(r_x_Project, r_SubAccountName)",
        "tags": "CASE WHEN json_type(p_tags) = 'OBJECT' THEN p_tags END",
        "invoice_id": "r_InvoiceId",
    }
    values.update({col: f"r_{x}" for x, col in X_TEXT.items()})
    values["model"] = "r_x_Model"
    for x, col in X_TOKENS.items():
        values[col] = f"p_{col}"
    if "x_TokenType" in have:
        # One row per token type, the types disjoint; the ledger's input and output totals
        # include the cache and reasoning subsets, so those rows count there too.
        for col, types in TOKEN_TYPE_COLUMNS.items():
            listed = ", ".join(s.lit(t) for t in types)
            values[col] = f"coalesce(p_{col}, CASE WHEN p_token_type IN ({listed}) THEN CAST(p_quantity AS BIGINT) END)"
    return s.ledger_select(raw, parsed, values, checks, from_sql)
