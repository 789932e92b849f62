"""Google Cloud Billing export rows (standard usage cost schema) -> ledger rows.

One format, ``gcp``, for the rows of a billing export (``gcp_billing_export_v1_*``, or the
detailed ``gcp_billing_export_resource_v1_*``) saved from BigQuery as:

* CSV, nested fields flattened to ``service.description`` (or ``service_description``), and the
  repeated fields (``credits``, ``labels``, ``project.labels``) as JSON text;
* JSON lines (or one JSON array), fields nested as BigQuery writes them: ``service{id,description}``,
  ``labels[{key,value}]``, ``credits[{name,amount,type,...}]``, ``usage{amount,unit,...}``;
* Parquet, nested (struct/list columns) or flattened.

``cost`` is gross: ``billed_cost = cost + sum(credits.amount)``, the credits netted once on their
own row; the credit detail and the gross cost stay in ``tags`` (``gcp.credits``,
``gcp.gross_cost``). ``labels`` (and ``project.labels``, resource labels winning) become ``tags``,
``project.id`` the project. Vertex AI and Gemini API SKUs (``Gemini 2.5 Flash GA Text Input -
Predictions``, ``Generate content input token count gemini 2.5 flash lite``, cached and thinking
SKUs, batch/flex/priority variants) are parsed into a model and a token type; ``usage.amount`` of a
token SKU is its token count. Character-billed SKUs (PaLM, Gemini 1.x) keep their characters in
``quantity``/``unit`` and no tokens; like every row they stay priced by the bill.

A later export of the same hours restates them (late rows keep arriving for earlier days):
``restates_by = 'period_start'``.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from ...vendors import canonical_provider
from .. import sqlparts as s
from . import Context, NativeFormat, Probe

# Logical field -> its path in the export schema.
FIELDS: dict[str, tuple[str, ...]] = {
    "billing_account_id": ("billing_account_id",),
    "service_id": ("service", "id"),
    "service_description": ("service", "description"),
    "sku_id": ("sku", "id"),
    "sku_description": ("sku", "description"),
    "usage_start_time": ("usage_start_time",),
    "usage_end_time": ("usage_end_time",),
    "project_id": ("project", "id"),
    "project_name": ("project", "name"),
    "project_labels": ("project", "labels"),
    "labels": ("labels",),
    "location_region": ("location", "region"),
    "location_location": ("location", "location"),
    "cost": ("cost",),
    "currency": ("currency",),
    "cost_at_list": ("cost_at_list",),
    "usage_amount": ("usage", "amount"),
    "usage_unit": ("usage", "unit"),
    "usage_amount_in_pricing_units": ("usage", "amount_in_pricing_units"),
    "usage_pricing_unit": ("usage", "pricing_unit"),
    "credits": ("credits",),
    "invoice_month": ("invoice", "month"),
    "cost_type": ("cost_type",),
    "seller_name": ("seller_name",),
}
JSON_FIELDS = ("labels", "project_labels", "credits")  # repeated records, carried as JSON text
SIGNATURE = ("cost", "currency", "usage_start_time", "sku_description", "service_description")

AI_CATEGORY = "AI and Machine Learning"
GOOGLE = canonical_provider("google")

AI_SERVICES = (
    r"(vertex ai|gemini api|generative language|ai platform|cloud natural language|cloud vision|speech|"
    r"translat|dialogflow|document ai|automl|video intelligence|claude|anthropic)"
)
SERVICE_CATEGORY = (
    (r"^(compute engine|kubernetes engine|cloud run|cloud functions|app engine|batch)", "Compute"),
    (r"^(cloud storage|filestore|persistent disk)", "Storage"),
    (r"^(cloud sql|cloud spanner|firestore|cloud bigtable|memorystore|alloydb|datastore)", "Databases"),
    (r"^(bigquery|dataflow|dataproc|looker|pub/sub|cloud composer)", "Analytics"),
    (r"(network|cloud dns|cloud cdn|load balancing|cloud nat|cloud armor|vpn|interconnect)", "Networking"),
    (r"^(cloud logging|cloud monitoring|stackdriver|cloud trace)", "Management and Governance"),
    (r"^(secret manager|cloud key management|security command center|identity)", "Security"),
)
COST_TYPES = {"regular": "usage", "tax": "tax", "adjustment": "adjustment", "rounding error": "adjustment"}

# Model names inside SKU descriptions (lower case), and who makes them.
_GEMINI = r"gemini(?:[ -](?:[0-9]+(?:\.[0-9]+)?|pro|flash|lite|ultra|nano|embedding|preview|exp|tts|vision|live))+"
_CLAUDE = r"claude(?:[ -](?:[0-9]+(?:\.[0-9]+)?|sonnet|haiku|opus|instant))+"
_PALM = r"(?:text|chat|code|codechat)[ -]bison"
_STORAGE = r"(\bstorage\b|token[ -]?hours?)"
_CACHED = r"\bcach(ed|ing|e)\b"
_THINKING = r"\b(thinking|reasoning)\b"
_OUTPUT = r"\boutput\b"
_INPUT = r"\binput\b"
_CHARACTERS = r"\bcharacters?\b"
_NOT_TOKEN_UNIT = r"(char|second|hour|byte|image|page|minute|month|day)"
_UNIT_K = r"^[0-9]*\s*(k|thousand)\b"
_UNIT_M = r"^[0-9]*\s*(m|mm|million)\b"

def _regex(expr: str, pattern: str) -> str:
    return f"regexp_matches({expr}, {s.lit(pattern)})"


def _block(unit: str) -> str:
    """Units per 1 of a quantity in ``unit``: '1000 tokens' or 'thousand' -> 1000, 'count' -> 1."""
    u = f"lower(trim({unit}))"
    return (
        f"(coalesce(try_cast(nullif(regexp_extract({u}, '^([0-9]+)', 1), '') AS BIGINT), 1) * "
        f"CASE WHEN {_regex(u, _UNIT_K)} THEN 1000 WHEN {_regex(u, _UNIT_M)} THEN 1000000 ELSE 1 END)"
    )


def sku_sql(sku: str, unit: str, pricing_unit: str) -> dict[str, str]:
    """Aliases (in order, each may use the ones before) that parse a SKU description.

    Yields ``k_model`` (a model id, or NULL), ``k_publisher``, ``k_token_type`` (input,
    cached_input, output, reasoning or NULL: not a token SKU), ``k_characters`` (billed per
    character) and ``k_tier``.
    """
    gemini = f"nullif(regexp_extract(k_text, {s.lit(_GEMINI)}, 0), '')"
    claude = f"nullif(regexp_extract(k_text, {s.lit(_CLAUDE)}, 0), '')"
    palm = f"nullif(trim(regexp_extract(k_text, {s.lit(_PALM)}, 0)), '')"
    units = f"lower(coalesce({unit}, '') || ' ' || coalesce({pricing_unit}, ''))"
    token_type = (
        f"CASE WHEN {_regex('k_text', _STORAGE)} THEN NULL "
        f"WHEN {_regex('k_text', _CACHED)} THEN 'cached_input' "
        f"WHEN {_regex('k_text', _THINKING)} AND {_regex('k_text', _OUTPUT)} THEN 'reasoning' "
        f"WHEN {_regex('k_text', _OUTPUT)} THEN 'output' "
        f"WHEN {_regex('k_text', _INPUT)} THEN 'input' END"
    )
    return {
        "k_text": f"lower({sku})",
        "k_model": (
            f"coalesce(regexp_replace({gemini}, '[ ]+', '-', 'g'), "
            f"regexp_replace({claude}, '[ .]+', '-', 'g'), regexp_replace({palm}, '[ ]+', '-', 'g'))"
        ),
        "k_publisher": (
            f"CASE WHEN k_model LIKE 'claude%' THEN 'anthropic' WHEN k_model IS NOT NULL THEN {s.lit(GOOGLE)} END"
        ),
        "k_characters": f"coalesce({_regex('k_text', _CHARACTERS)} OR {_regex(units, 'char')}, false)",
        "k_token_type": (
            f"CASE WHEN k_model IS NOT NULL AND NOT k_characters AND NOT {_regex(units, _NOT_TOKEN_UNIT)} "
            f"THEN {token_type} END"
        ),
        "k_tier": (
            "CASE WHEN k_model IS NULL THEN NULL WHEN regexp_matches(k_text, '\\bbatch\\b') THEN 'batch' "
            "WHEN regexp_matches(k_text, '\\bflex\\b') THEN 'flex' "
            "WHEN regexp_matches(k_text, '\\bpriority\\b') THEN 'priority' ELSE 'standard' END"
        ),
    }


def _key(name: str) -> str:
    return name.strip().lower().replace(".", "_")


def _flat_columns(headers: tuple[str, ...]) -> dict[str, str]:
    """Logical field -> a flattened header ('service.description' or 'service_description')."""
    by_key: dict[str, str] = {}
    for h in headers:
        by_key.setdefault(_key(h), h)
    return {f: by_key["_".join(path)] for f, path in FIELDS.items() if "_".join(path) in by_key}


def _parquet_fields(path: str, headers: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """Logical field -> (column label for errors, SQL yielding text) for a Parquet file."""
    schema = pq.read_schema(path)
    flat = _flat_columns(headers)
    top = {_key(n): n for n in schema.names}
    out: dict[str, tuple[str, str]] = {}
    for field, p in FIELDS.items():
        if field in flat:
            col, dtype = flat[field], schema.field(flat[field]).type
            expr = s.q(col)
        elif len(p) == 2 and p[0] in top and pa.types.is_struct(schema.field(top[p[0]]).type):
            struct = schema.field(top[p[0]]).type
            names = [struct.field(i).name for i in range(struct.num_fields)]
            if p[1] not in names:
                continue
            col, dtype = ".".join(p), struct.field(names.index(p[1])).type
            expr = f"struct_extract({s.q(top[p[0]])}, {s.lit(p[1])})"
        else:
            continue
        nested = pa.types.is_struct(dtype) or pa.types.is_list(dtype) or pa.types.is_map(dtype) or pa.types.is_large_list(dtype)
        out[field] = (col, f"to_json({expr})" if nested else expr)
    return out


def _fields(probe: Probe) -> tuple[dict[str, tuple[str, str]], str]:
    """Logical field -> (column label, SQL text expression), and the FROM clause."""
    path = str(probe.path)
    if probe.container == "json":
        return json_fields("json"), f"read_json_objects({s.lit(path)}, format = 'auto')"
    if probe.container == "parquet":
        return _parquet_fields(path, probe.headers), s.file_sql(path, "parquet", probe.headers)
    flat = _flat_columns(probe.headers)
    return {f: (h, s.q(h)) for f, h in flat.items()}, s.file_sql(path, "csv", probe.headers)


def json_fields(column: str) -> dict[str, tuple[str, str]]:
    """Logical field -> (its path, SQL text) for rows held as JSON objects in ``column``."""
    out = {}
    for field, p in FIELDS.items():
        fn = "json_extract" if field in JSON_FIELDS else "json_extract_string"
        out[field] = (".".join(p), f"CAST({fn}({column}, {s.lit('$.' + '.'.join(p))}) AS VARCHAR)")
    return out


def _labels_object(raw: str) -> str:
    """A JSON object from labels as BigQuery writes them ([{key, value}]) or already an object."""
    j = f"try_cast({raw} AS JSON)"
    pairs = (
        f"list_zip(CAST(json_extract_string({j}, '$[*].key') AS VARCHAR[]), "
        f"CAST(json_extract_string({j}, '$[*].value') AS VARCHAR[]))"
    )
    from_array = (
        f"list_reduce(list_transform({pairs}, lambda e: json_object(e[1], e[2])), "
        "lambda acc, o: json_merge_patch(acc, o), CAST('{}' AS JSON))"
    )
    return f"CASE json_type({j}) WHEN 'OBJECT' THEN {j} WHEN 'ARRAY' THEN {from_array} END"


class GcpFormat(NativeFormat):
    name = "gcp"
    priority = 60
    restates_by = "period_start"

    def matches(self, probe: Probe) -> bool:
        if probe.container in ("csv", "parquet"):
            keys = {_key(h) for h in probe.headers}
            flat = set(_flat_columns(probe.headers))
            nested = {f for f in SIGNATURE if FIELDS[f][0] in keys}  # Parquet structs
            return all(f in flat or (probe.container == "parquet" and f in nested) for f in SIGNATURE)
        if probe.container == "json":
            keys = set(probe.headers)
            return all(FIELDS[f][0] in keys for f in SIGNATURE)
        return False

    def normalize_sql(self, probe: Probe, ctx: Context) -> str:
        return billing_rows_sql(*_fields(probe), ctx)


def billing_rows_sql(fields: dict[str, tuple[str, str]], from_sql: str, ctx: Context,
                     positions: dict[str, str] | None = None) -> str:
    """The ledger SELECT over billing export rows, whatever carries them (a file, API pages).

    ``positions`` (raw alias -> SQL) adds a record's place in its pages: ``r_pos`` prefixes every
    failing field's path and ``r_problem`` reports a record of the wrong shape (see ``_pagesql``).
    """
    raw = {f"r_{f}": (s.blank(fields[f][1]) if f in fields else "CAST(NULL AS VARCHAR)") for f in FIELDS}
    raw.update(positions or {})

    def label(f: str) -> str:
        return fields[f][0] if f in fields else ".".join(FIELDS[f])

    parsed: dict[str, str] = {
        "p_start": s.timestamp("r_usage_start_time"),
        "p_end": s.timestamp("r_usage_end_time"),
        "p_cost": s.decimal("r_cost"),
        "p_amount": s.decimal("r_usage_amount"),
        "p_pricing_amount": s.decimal("r_usage_amount_in_pricing_units"),
        "p_credits": "try_cast(r_credits AS JSON)",
        "p_credit_raw": "CAST(json_extract_string(p_credits, '$[*].amount') AS VARCHAR[])",
        "p_credit_bad": (
            "json_type(p_credits) IS DISTINCT FROM 'ARRAY' OR len(list_filter(p_credit_raw, "
            f"lambda x: x IS NULL OR try_cast(x AS {s.MONEY_SQL}) IS NULL)) > 0"
        ),
        "p_credit_sum": (
            f"CAST(coalesce(list_sum(list_transform(p_credit_raw, lambda x: try_cast(x AS {s.MONEY_SQL}))), 0) "
            f"AS {s.MONEY_SQL})"
        ),
        "p_has_credits": "coalesce(json_array_length(p_credits) > 0, false)",
        "p_billed": f"CAST(p_cost + CASE WHEN p_credit_bad THEN 0 ELSE p_credit_sum END AS {s.MONEY_SQL})",
        "p_labels": _labels_object("r_labels"),
        "p_project_labels": _labels_object("r_project_labels"),
        "p_invoice_month": "CASE WHEN regexp_matches(r_invoice_month, '^[0-9]{6}$') THEN "
                           "substr(r_invoice_month, 1, 4) || '-' || substr(r_invoice_month, 5, 2) END",
        **sku_sql("r_sku_description", "r_usage_unit", "r_usage_pricing_unit"),
        "p_tokens": (
            "CASE WHEN k_token_type IS NOT NULL THEN CAST(round(coalesce("
            f"p_amount * {_block('r_usage_unit')}, p_pricing_amount * {_block('r_usage_pricing_unit')})) AS BIGINT) END"
        ),
        "p_tags": (
            "json_merge_patch(json_merge_patch(coalesce(p_project_labels, '{}'), coalesce(p_labels, '{}')), "
            "json_object('gcp.credits', CASE WHEN p_has_credits THEN CAST(p_credits AS VARCHAR) END, "
            "'gcp.gross_cost', CASE WHEN p_has_credits THEN r_cost END))"
        ),
        "p_service": "lower(r_service_description)",
    }

    checks: list[s.Check] = []
    checks += s.required(label("usage_start_time"), "r_usage_start_time", "p_start", "a timestamp")
    checks += s.optional(label("usage_end_time"), "r_usage_end_time", "p_end", "a timestamp")
    checks.append(s.Check(label("usage_end_time"), "p_end < p_start", "ends before usage_start_time", "r_usage_end_time"))
    checks += s.required(label("cost"), "r_cost", "p_cost", "a decimal number")
    checks += s.required(label("currency"), "r_currency", "r_currency", "a currency")
    checks.append(s.Check(label("credits"), "r_credits IS NOT NULL AND p_credit_bad",
                          "not a JSON array of credits with numeric amounts", "r_credits"))
    checks += s.optional(label("usage_amount"), "r_usage_amount", "p_amount", "a decimal number")
    checks += s.optional(label("labels"), "r_labels", "p_labels", "a JSON list of {key, value} (or an object)")
    checks += s.optional(label("project_labels"), "r_project_labels", "p_project_labels",
                         "a JSON list of {key, value} (or an object)")
    checks += s.optional(label("invoice_month"), "r_invoice_month", "p_invoice_month", "a month (YYYYMM)")

    category = " ".join(f"WHEN {_regex('p_service', p)} THEN {s.lit(c)}" for p, c in SERVICE_CATEGORY)
    cost_type = " ".join(f"WHEN {s.lit(k)} THEN {s.lit(v)}" for k, v in COST_TYPES.items())
    values = {
        "source": s.lit(ctx.source),
        "source_type": "'gcp'",
        "ingested_at": f"CAST({s.lit(ctx.ingested_at)} AS TIMESTAMP)",
        "batch_id": s.lit(ctx.batch_id),
        "period_start": "p_start",
        "period_end": "coalesce(p_end, p_start + INTERVAL 1 HOUR)",
        "billing_period": "coalesce(p_invoice_month, strftime(p_start, '%Y-%m'))",
        "provider": "'gcp'",
        "publisher": "k_publisher",
        "service": "r_service_description",
        "service_category": (
            f"CASE WHEN k_model IS NOT NULL OR {_regex('p_service', AI_SERVICES)} THEN {s.lit(AI_CATEGORY)} "
            f"{category} ELSE 'Other' END"
        ),
        "model": "k_model",
        "model_raw": "k_model",
        "sku": "r_sku_id",
        "region": "coalesce(r_location_region, r_location_location)",
        "service_tier": "k_tier",
        "charge_category": f"CASE lower(r_cost_type) {cost_type} ELSE 'usage' END",
        "description": "r_sku_description",
        "input_tokens": "CASE WHEN k_token_type IN ('input', 'cached_input') THEN p_tokens END",
        "output_tokens": "CASE WHEN k_token_type IN ('output', 'reasoning') THEN p_tokens END",
        "cache_read_tokens": "CASE WHEN k_token_type = 'cached_input' THEN p_tokens END",
        "reasoning_tokens": "CASE WHEN k_token_type = 'reasoning' THEN p_tokens END",
        "quantity": "p_amount",
        "unit": "r_usage_unit",
        "billed_cost": "p_billed",
        "billing_currency": "upper(r_currency)",
        "cost_source": "'billed'",
        "account_id": "r_billing_account_id",
        "project": "r_project_id",
        "tags": "CASE WHEN p_tags <> '{}' THEN p_tags END",
    }
    if positions:
        from ._pagesql import At

        checks = [At("", "r_problem IS NOT NULL", "malformed record", "r_problem"),
                  *(At("." + c.column, c.failed, c.reason, c.raw) for c in checks)]
    return s.ledger_select(raw, parsed, values, checks, from_sql)


FORMAT = GcpFormat()
