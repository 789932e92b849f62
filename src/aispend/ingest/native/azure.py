"""Azure cost details (EA and MCA exports) and meter cost summaries -> ledger rows.

One format, ``azure``, reads every Azure file whose header names a meter, a date, a cost and a
currency, whatever the casing (EA writes ``CostInBillingCurrency``/``MeterName``/``Date``, MCA
``costInBillingCurrency``/``meterName``/``date``; columns are matched case-insensitively):

* cost-details exports and Cost Details API reports (EA, MCA, PAYG; CSV with or without a UTF-8
  BOM, gzip, or Parquet); dates as ``MM/DD/YYYY`` (also ``M/D/YYYY``), ISO 8601 or ``yyyymmdd``;
* meter cost summaries, such as FinOps hub queries (``BillingCurrency, DailyCost, Day,
  x_SkuMeterName``) or Cost Management Query results saved as CSV (``Cost, UsageDate, Meter,
  Currency``).

Azure OpenAI / Foundry meters (``gpt-4o-mini-0718-Inp-glbl Tokens``, ``gpt 4o 0513 Input global
Tokens``, ``gpt 4o 1120 cached Inp glbl``, ``R1 Outp glbl Tokens``, ...) are parsed into a model id
the price book knows, a token type and a deployment type. ``quantity`` is in the blocks of
``unitOfMeasure`` (``1K``, ``1M``, ``1 Tokens``): tokens = quantity x block, exact. Cached input
counts in ``input_tokens`` and ``cache_read_tokens`` (the uncached input is its own meter, so
each input token is counted once). Batch meters get ``service_tier = 'batch'``; the deployment type
(global, data zone, regional, provisioned) goes to ``tags['azure.deployment_type']``.

An export re-delivered for the same days (month-to-date exports overwrite their month) restates
those days: ``restates_by = 'period_start'``.
"""

from __future__ import annotations

from ...vendors import provider_sql_case
from .. import sqlparts as s
from . import Context, NativeFormat, Probe

# Logical field -> candidate headers (lower case), the first present wins.
FIELDS: dict[str, tuple[str, ...]] = {
    "date": ("date", "usagedatetime", "usagedate", "day", "billingmonth"),
    "cost": ("costinbillingcurrency", "cost", "pretaxcost", "dailycost", "costusd", "pretaxcostusd"),
    "currency": ("billingcurrency", "billingcurrencycode", "currency"),
    "meter": ("metername", "meter", "x_skumetername"),
    "meter_category": ("metercategory", "servicename"),
    "meter_subcategory": ("metersubcategory",),
    "consumed_service": ("consumedservice",),
    "product": ("productname", "product"),
    "unit": ("unitofmeasure",),
    "quantity": ("quantity", "usagequantity"),
    "region": ("resourcelocation", "location", "meterregion"),
    "subscription": ("subscriptionid", "subscriptionguid"),
    "billing_account": ("billingaccountid",),
    "resource_group": ("resourcegroup", "resourcegroupname"),
    "charge_type": ("chargetype",),
    "tags": ("tags",),
    "invoice": ("invoiceid",),
    "billing_period_start": ("billingperiodstartdate",),
    "publisher": ("publishername",),
    "payg_usd": ("paygcostinusd",),
}
REQUIRED = ("date", "cost", "currency", "meter")

AI_CATEGORY = "AI and Machine Learning"

# Words of a meter name, by meaning (the name is lower-cased, '-', '_', '/' turned to spaces).
_CACHE_WRITE = r"\b(cached|cache|cchd)\s+(write|wr|wrt)\b"
_CACHED = r"\b(cached|cache|cchd)\b"
_OUTPUT = r"\b(outp|output|outpt|out|opt)\b"
_INPUT = r"\b(inp|input|inpt|in)\b"
_DZONE = r"\b(dzone|dzn|dz|datazone|data zone)\b"
_GLOBAL = r"\b(glbl|global|gl|glb|gbl)\b"
_REGIONAL = r"\b(regnl|regional|rgnl|regn|reg|rgn)\b"
_BATCH = r"\bbatch\b"
_PTU = r"\b(ptu|provisioned)\b"
_TOKENS = r"\btokens?\b"
_TEXT_RECORDS = r"\btext records\b"  # Azure AI Language meters
_UNIT_K = r"^[0-9]*\s*(k|thousand)\b"
_UNIT_M = r"^[0-9]*\s*(m|mm|million)\b"
_UNIT_BLOCK = r"^[0-9]*\s*(k|m|thousand|million)\s*(tokens?)?$"
# Everything that is not part of the model's name.
_NOT_MODEL = (
    r"\b(tokens?|tkns?|cached|cache|cchd|write|wr|wrt|outp|output|outpt|out|opt|inp|input|inpt|in"
    r"|dzone|dzn|dz|datazone|data zone|glbl|global|gl|glb|gbl|regnl|regional|rgnl|regn|reg|rgn"
    r"|batch|ptu|provisioned|aud|txt)\b"
)
# OpenAI model families whose ids carry a full date; Azure meters write only MMDD.
_DATED_FAMILY = r"^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-realtime|o[1-9])"
MMDD_DATES = {
    "0513": "2024-05-13", "0718": "2024-07-18", "0806": "2024-08-06", "0912": "2024-09-12",
    "1001": "2024-10-01", "1120": "2024-11-20", "1217": "2024-12-17", "0131": "2025-01-31",
    "0227": "2025-02-27", "0320": "2025-03-20", "0414": "2025-04-14", "0416": "2025-04-16",
    "0603": "2025-06-03", "0807": "2025-08-07", "0828": "2025-08-28",
}
_PUBLISHERS = (
    (r"^(gpt|chatgpt|o[1-9]|text-embedding|dall-?e|whisper|tts|davinci|babbage|ada|codex|sora|computer-use)", "openai"),
    (r"^(deepseek|r1\b)", "deepseek"),
    (r"^(phi|mai)", "microsoft"),
    (r"^(llama|meta)", "meta"),
    (r"^(mistral|codestral|ministral|pixtral)", "mistral"),
    (r"^grok", "x-ai"),
    (r"^claude", "anthropic"),
    (r"^(cohere|command|embed)", "cohere"),
)
# Meter categories, sub-categories or consumed services of AI services.
_AI_SERVICE = r"(cognitive ?services|foundry|openai|azure ai|machine ?learning|botservice|videoindexer)"
# Resource provider (ConsumedService) -> FOCUS ServiceCategory, from Microsoft's FinOps toolkit
# open data (Services.csv); the most common providers only, anything else is 'Other'.
CONSUMED_SERVICE_CATEGORY = {
    "Compute": ("microsoft.compute", "microsoft.classiccompute", "microsoft.containerservice", "microsoft.containerinstance",
                "microsoft.containerregistry", "microsoft.app", "microsoft.batch", "microsoft.avs",
                "microsoft.desktopvirtualization", "microsoft.billingbenefits", "microsoft.capacity"),
    "Storage": ("microsoft.storage", "microsoft.classicstorage", "microsoft.datalakestore", "microsoft.netapp",
                "microsoft.dataprotection", "microsoft.elasticsan", "microsoft.storagecache"),
    "Networking": ("microsoft.network", "microsoft.classicnetwork", "microsoft.cdn", "microsoft.peering"),
    "Databases": ("microsoft.sql", "microsoft.dbformysql", "microsoft.dbforpostgresql", "microsoft.dbformariadb",
                  "microsoft.documentdb", "microsoft.cache"),
    "Analytics": ("microsoft.databricks", "microsoft.synapse", "microsoft.kusto", "microsoft.hdinsight",
                  "microsoft.streamanalytics", "microsoft.fabric", "microsoft.powerbidedicated", "microsoft.search"),
    "Integration": ("microsoft.datafactory", "microsoft.eventhub", "microsoft.servicebus", "microsoft.logic",
                    "microsoft.apimanagement", "microsoft.relay", "microsoft.communication"),
    "Web": ("microsoft.web", "microsoft.signalrservice", "microsoft.appconfiguration", "microsoft.maps"),
    "Security": ("microsoft.keyvault", "microsoft.security"),
    "Management and Governance": ("microsoft.operationalinsights", "microsoft.insights", "microsoft.monitor",
                                  "microsoft.recoveryservices", "microsoft.automation", "microsoft.purview"),
    "Identity": ("microsoft.aad", "microsoft.azureactivedirectory"),
    AI_CATEGORY: ("microsoft.cognitiveservices", "microsoft.machinelearningservices", "microsoft.machinelearning",
                  "microsoft.botservice", "microsoft.videoindexer", "microsoft.healthbot", "microsoft.syntex"),
}

# Meter categories that say more than the resource provider (a disk bought through
# Microsoft.Compute is storage); checked before CONSUMED_SERVICE_CATEGORY.
METER_CATEGORY = {
    "Compute": ("virtual machines", "virtual machines licenses", "container instances", "functions", "azure kubernetes service"),
    "Storage": ("storage", "backup"),
    "Networking": ("bandwidth", "virtual network", "load balancer", "networking", "vpn gateway", "application gateway",
                   "azure dns", "azure front door service", "content delivery network", "azure firewall", "nat gateway"),
    "Databases": ("sql database", "sql managed instance", "azure database for mysql", "azure database for postgresql",
                  "azure cosmos db", "redis cache", "azure cache for redis"),
    "Management and Governance": ("log analytics", "azure monitor", "insight and analytics"),
    "Integration": ("event hubs", "service bus", "logic apps", "api management", "azure data factory v2"),
    "Web": ("azure app service",),
    "Security": ("key vault", "advanced threat protection", "microsoft defender for cloud"),
}

# Azure ChargeType -> ledger charge_category (FOCUS: a refund is a negative purchase).
CHARGE_TYPES = {
    "usage": "usage", "unusedreservation": "usage", "unusedsavingsplan": "usage",
    "purchase": "purchase", "refund": "purchase", "tax": "tax", "credit": "credit",
    "adjustment": "adjustment", "roundingadjustment": "adjustment",
}


def _regex(expr: str, pattern: str) -> str:
    return f"regexp_matches({expr}, {s.lit(pattern)})"


def _case(expr: str, mapping: dict[str, str], default: str) -> str:
    whens = " ".join(f"WHEN {s.lit(k)} THEN {s.lit(v)}" for k, v in mapping.items())
    return f"(CASE {expr} {whens} ELSE {default} END)"


def meter_sql(meter: str, unit: str, ai_service: str) -> list[dict[str, str]]:
    """Layers of aliases that parse an Azure meter name (each layer may use the ones before).

    ``meter`` and ``unit`` are SQL over the raw meter name and unit of measure; ``ai_service`` is
    SQL, true when the row's category says it is an AI service. The last layer yields
    ``m_token_type`` (input, cached_input, cache_write, output or NULL), ``m_model``,
    ``m_publisher``, ``m_deployment``, ``m_batch`` and ``m_block`` (tokens per unit of quantity).
    Layers, not one flat list: an alias used twice in one SELECT is inlined twice, and the
    nested regexes would multiply.
    """
    words = f"trim(regexp_replace(regexp_replace(lower({meter}), '[-_/,()]+', ' ', 'g'), '\\s+', ' ', 'g'))"
    stripped = f"regexp_replace(m_words, {s.lit(_NOT_MODEL)}, ' ', 'g')"
    base = f"nullif(regexp_replace(trim(regexp_replace({stripped}, '\\s+', ' ', 'g')), ' ', '-', 'g'), '')"
    # 4K/8K context variants price as the base model; R1 is DeepSeek's.
    base = f"regexp_replace(regexp_replace({base}, '-(4k|8k)(-|$)', '\\2'), '^r1($|-)', 'deepseek-r1\\1')"
    dates = _case("m_mmdd", MMDD_DATES, "NULL")
    model = (
        f"CASE WHEN {_regex('m_base', _DATED_FAMILY)} AND m_mmdd <> '' THEN "
        f"regexp_replace(m_base, '-' || m_mmdd || '(-|$)', coalesce('-' || {dates}, '') || '\\1') "
        "ELSE m_base END"
    )
    model = f"regexp_replace({model}, '^gpt-4\\.5($|-)', 'gpt-4.5-preview\\1')"
    token_type = (
        f"CASE WHEN {_regex('m_words', _CACHE_WRITE)} THEN 'cache_write' "
        f"WHEN {_regex('m_words', _CACHED)} THEN 'cached_input' "
        f"WHEN {_regex('m_words', _OUTPUT)} THEN 'output' "
        f"WHEN {_regex('m_words', _INPUT)} THEN 'input' END"
    )
    publisher = "CASE " + " ".join(f"WHEN {_regex('m_model0', p)} THEN {s.lit(v)}" for p, v in _PUBLISHERS) + " END"
    place = (
        f"CASE WHEN {_regex('m_words', _DZONE)} THEN 'data zone' WHEN {_regex('m_words', _GLOBAL)} THEN 'global' "
        f"WHEN {_regex('m_words', _REGIONAL)} THEN 'regional' END"
    )
    block = (
        "CAST(coalesce(try_cast(nullif(regexp_extract(m_lunit, '^([0-9]+)', 1), '') AS BIGINT), 1) * "
        f"CASE WHEN {_regex('m_lunit', _UNIT_K)} THEN 1000 "
        f"WHEN {_regex('m_lunit', _UNIT_M)} THEN 1000000 ELSE 1 END AS BIGINT)"
    )
    # A model meter: a token type and a model, and the name says Tokens, or the model is a known
    # maker's, or an AI service bills it in plain 1K/1M blocks ("Data Transfer Out" of an AI
    # workspace is not a model meter: its unit is GB).
    is_model = (
        "(m_type IS NOT NULL AND m_model0 IS NOT NULL AND "
        "(m_tokens_word OR m_publisher0 IS NOT NULL OR (m_ai_service AND m_unit_is_block)))"
    )
    return [
        {"m_words": words, "m_lunit": f"lower(trim({unit}))", "m_ai_service": f"coalesce({ai_service}, false)"},
        {
            "m_type": token_type,
            "m_base": base,
            "m_place": place,
            "m_ptu": _regex("m_words", _PTU),
            "m_batch0": _regex("m_words", _BATCH),
            "m_tokens_word": _regex("m_words", _TOKENS),
            "m_unit_is_block": f"coalesce({_regex('m_lunit', _UNIT_BLOCK)}, false)",
            "m_block": f"CASE WHEN m_lunit IS NULL THEN NULL ELSE {block} END",
        },
        {"m_mmdd": "regexp_extract(m_base, '-([01][0-9][0-3][0-9])(-|$)', 1)"},
        {"m_model0": model},
        {"m_publisher0": publisher},
        {"m_is_model": f"coalesce({is_model}, false)"},
        {
            "m_model": "CASE WHEN m_is_model THEN m_model0 END",
            "m_token_type": "CASE WHEN m_is_model THEN m_type END",
            "m_publisher": "CASE WHEN m_is_model THEN m_publisher0 END",
            "m_deployment": "CASE WHEN m_is_model THEN CASE WHEN m_ptu THEN concat_ws(' ', m_place, 'provisioned') "
                            "ELSE m_place END END",
            "m_batch": "(m_is_model AND m_batch0)",
        },
    ]


def layered(from_sql: str, layers: list[dict[str, str]]) -> tuple[str, list[str]]:
    """``SELECT *, <layer> FROM (...)`` for each layer in turn; and the names the layers add."""
    names: list[str] = []
    for layer in layers:
        cols = ", ".join(f"{expr} AS {alias}" for alias, expr in layer.items())
        from_sql = f"(SELECT *, {cols} FROM {from_sql})"
        names += layer
    return from_sql, names


def _columns(headers: tuple[str, ...]) -> dict[str, str]:
    """Logical field -> the file's header for it (case-insensitive; the first candidate present)."""
    by_lower: dict[str, str] = {}
    for h in headers:
        by_lower.setdefault(h.strip().lower(), h)
    found = {}
    for field, candidates in FIELDS.items():
        hit = next((by_lower[c] for c in candidates if c in by_lower), None)
        if hit is not None:
            found[field] = hit
    return found


class AzureFormat(NativeFormat):
    name = "azure"
    priority = 60
    restates_by = "period_start"
    header_lines = 1

    def matches(self, probe: Probe) -> bool:
        if probe.container not in ("csv", "parquet"):
            return False
        return all(f in _columns(probe.headers) for f in REQUIRED)

    def normalize_sql(self, probe: Probe, ctx: Context) -> str:
        cols = _columns(probe.headers)
        raw = {f"r_{f}": (s.blank(s.q(cols[f])) if f in cols else "CAST(NULL AS VARCHAR)") for f in FIELDS}

        category = "coalesce(r_meter_category, '') || ' ' || coalesce(r_meter_subcategory, '') || ' ' || coalesce(r_consumed_service, '')"
        ai_service = _regex(f"lower({category})", _AI_SERVICE)
        date_formats = ("%m/%d/%Y", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%Y%m%d")
        parsed: dict[str, str] = {
            "p_date": "coalesce(" + ", ".join(s.timestamp("r_date", f) for f in date_formats) + f", {s.timestamp('r_date')})",
            "p_period_start": "date_trunc('day', p_date)",
            "p_bp_start": "coalesce(" + ", ".join(s.timestamp("r_billing_period_start", f) for f in date_formats)
                          + f", {s.timestamp('r_billing_period_start')})",
            "p_cost": s.decimal("r_cost"),
            "p_quantity": s.decimal("r_quantity"),
            "p_payg_usd": s.decimal("r_payg_usd"),
            "p_charge_type": "lower(replace(r_charge_type, ' ', ''))",
            # Tokens are used on usage rows only (a PTU purchase or refund row bills no tokens).
            "p_tokens": "CASE WHEN m_token_type IS NOT NULL AND coalesce(p_charge_type, 'usage') = 'usage' "
                        "THEN CAST(round(p_quantity * m_block) AS BIGINT) END",
            "p_tags_raw": "CASE WHEN r_tags IS NULL OR r_tags = '{}' THEN NULL WHEN starts_with(r_tags, '{') "
                          "THEN try_cast(r_tags AS JSON) ELSE try_cast('{' || r_tags || '}' AS JSON) END",
            "p_tags_vendor": "CASE WHEN json_type(p_tags_raw) = 'OBJECT' THEN p_tags_raw "
                             "WHEN r_tags IS NOT NULL AND r_tags <> '{}' THEN json_object('azure.tags_raw', r_tags) END",
            "p_tags": "json_merge_patch(coalesce(p_tags_vendor, '{}'), json_object('azure.deployment_type', m_deployment))",
        }

        checks: list[s.Check] = []
        checks += s.required(cols["date"], "r_date", "p_date", "a date (MM/DD/YYYY, ISO 8601 or yyyymmdd)")
        checks += s.required(cols["cost"], "r_cost", "p_cost", "a decimal number")
        checks += s.required(cols["currency"], "r_currency", "r_currency", "a currency")
        if "quantity" in cols:
            checks += s.optional(cols["quantity"], "r_quantity", "p_quantity", "a decimal number")
        if "billing_period_start" in cols:
            checks += s.optional(cols["billing_period_start"], "r_billing_period_start", "p_bp_start", "a date")

        service_category = " ".join(
            f"WHEN lower({column}) IN ({', '.join(s.lit(v) for v in names)}) THEN {s.lit(cat)}"
            for column, table in (("r_meter_category", METER_CATEGORY), ("r_consumed_service", CONSUMED_SERVICE_CATEGORY))
            for cat, names in table.items()
        )
        values = {
            "source": s.lit(ctx.source),
            "source_type": "'azure'",
            "ingested_at": f"CAST({s.lit(ctx.ingested_at)} AS TIMESTAMP)",
            "batch_id": s.lit(ctx.batch_id),
            "period_start": "p_period_start",
            # Rows are daily; a Query API result at Monthly granularity has a BillingMonth column.
            "period_end": f"p_period_start + INTERVAL 1 {'MONTH' if cols['date'].lower() == 'billingmonth' else 'DAY'}",
            "billing_period": "strftime(coalesce(p_bp_start, p_period_start), '%Y-%m')",
            "provider": "'azure'",
            "publisher": f"coalesce(m_publisher, {provider_sql_case('r_publisher')})",
            "service": "coalesce(r_meter_category, r_consumed_service, CASE WHEN m_is_model THEN 'Azure OpenAI' END)",
            "service_category": (
                f"CASE WHEN m_is_model OR m_ai_service OR {_regex('lower(r_meter)', _TEXT_RECORDS)} "
                f"THEN {s.lit(AI_CATEGORY)} {service_category} ELSE 'Other' END"
            ),
            "model": "m_model",
            "model_raw": "m_model",
            "sku": "r_meter",
            "region": "r_region",
            "service_tier": "CASE WHEN m_batch THEN 'batch' WHEN m_is_model THEN 'standard' END",
            "charge_category": _case("p_charge_type", CHARGE_TYPES, "CASE WHEN p_charge_type IS NULL THEN 'usage' ELSE 'adjustment' END"),
            "description": "coalesce(r_product, r_meter)",
            "input_tokens": "CASE WHEN m_token_type IN ('input', 'cached_input', 'cache_write') THEN p_tokens END",
            "output_tokens": "CASE WHEN m_token_type = 'output' THEN p_tokens END",
            "cache_read_tokens": "CASE WHEN m_token_type = 'cached_input' THEN p_tokens END",
            "cache_write_tokens": "CASE WHEN m_token_type = 'cache_write' THEN p_tokens END",
            "quantity": "p_quantity",
            "unit": "r_unit",
            "billed_cost": "p_cost",
            "billing_currency": "upper(r_currency)",
            "list_cost_usd": "p_payg_usd",
            "cost_source": "'billed'",
            "account_id": "coalesce(r_subscription, r_billing_account)",
            "project": "r_resource_group",
            "tags": "CASE WHEN p_tags <> '{}' THEN p_tags END",
            "invoice_id": "r_invoice",
        }
        file_sql = s.file_sql(str(probe.path), probe.container, probe.headers)
        raw_sql = "(SELECT " + ", ".join(f"{expr} AS {alias}" for alias, expr in raw.items()) + f" FROM {file_sql})"
        from_sql, names = layered(raw_sql, meter_sql("r_meter", "r_unit", ai_service))
        passthrough = {name: name for name in [*raw, *names]}
        return s.ledger_select(passthrough, parsed, values, checks, from_sql)


FORMAT = AzureFormat()
