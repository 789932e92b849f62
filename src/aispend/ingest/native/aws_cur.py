"""AWS Cost and Usage Reports -> ledger rows: legacy CUR, CUR 2.0 (Data Exports) and their manifests.

Three shapes of one bill, read by one SELECT:

* **legacy CUR**: ``lineItem/UnblendedCost``-style slash headers (CSV, CSV.gz), or the same columns
  in snake_case with ``product_*``/``resource_tags_*`` flattened (the Athena Parquet flavour);
* **CUR 2.0 / Data Exports**: snake_case columns with ``product`` and ``resource_tags`` as maps
  (JSON object text in CSV, ``MAP`` in Parquet);
* **a delivery manifest** (``*-Manifest.json``): its ``reportKeys`` (legacy) or ``dataFiles``
  (Data Exports) are found next to it and read as one relation.

Money is ``line_item_unblended_cost`` as billed (discounts, credits and refunds are their own
negative line items; the net columns are not used, so nothing is netted twice). Amazon Bedrock
token lines (first-party ``USE1-NovaLite-input-tokens`` and Marketplace
``USW2-MP:USW2_InputTokenCount-Units`` grammars) become token counts: ``line_item_usage_amount``
is in ``pricing_unit`` (``1K tokens``, ``1M tokens``, ...), converted to tokens per row. A CUR
delivery restates its whole billing period, so ``restates_by = "billing_period"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ...errors import ImportError_
from ...vendors import provider_sql_case
from .. import sqlparts as s
from . import Context, NativeFormat, Probe

# Logical field -> (legacy header, snake_case header). Matched case-insensitively.
FIELDS: dict[str, tuple[str, str]] = {
    "bill_period_start": ("bill/BillingPeriodStartDate", "bill_billing_period_start_date"),
    "billing_entity": ("bill/BillingEntity", "bill_billing_entity"),
    "invoice_id": ("bill/InvoiceId", "bill_invoice_id"),
    "usage_account": ("lineItem/UsageAccountId", "line_item_usage_account_id"),
    "usage_account_name": ("lineItem/UsageAccountName", "line_item_usage_account_name"),
    "line_item_type": ("lineItem/LineItemType", "line_item_line_item_type"),
    "usage_start": ("lineItem/UsageStartDate", "line_item_usage_start_date"),
    "usage_end": ("lineItem/UsageEndDate", "line_item_usage_end_date"),
    "product_code": ("lineItem/ProductCode", "line_item_product_code"),
    "usage_type": ("lineItem/UsageType", "line_item_usage_type"),
    "usage_amount": ("lineItem/UsageAmount", "line_item_usage_amount"),
    "currency": ("lineItem/CurrencyCode", "line_item_currency_code"),
    "unblended_cost": ("lineItem/UnblendedCost", "line_item_unblended_cost"),
    "description": ("lineItem/LineItemDescription", "line_item_line_item_description"),
    "legal_entity": ("lineItem/LegalEntity", "line_item_legal_entity"),
    "iam_principal": ("lineItem/IamPrincipal", "line_item_iam_principal"),
    "public_cost": ("pricing/publicOnDemandCost", "pricing_public_on_demand_cost"),
    "pricing_unit": ("pricing/unit", "pricing_unit"),
    "product_pricing_unit": ("product/pricingUnit", "product_pricing_unit"),
    "product_name": ("product/ProductName", "product_product_name"),
    "region_code": ("product/regionCode", "product_region_code"),
    "region": ("product/region", "product_region"),
    "servicecode": ("product/servicecode", "product_servicecode"),
}
# Present in every CUR flavour: what detection looks for.
SIGNATURE = ("line_item_type", "usage_start", "usage_end", "unblended_cost", "currency")

BEDROCK_CODES = ("AmazonBedrock", "AmazonBedrockFoundationModels", "AmazonBedrockService", "AmazonBedrockAgentCore")
AI = "AI and Machine Learning"
# FOCUS ServiceCategory of common AWS product codes; anything else is "Other".
SERVICE_CATEGORIES: dict[str, str] = {
    **{c: AI for c in (*BEDROCK_CODES, "AmazonSageMaker", "AmazonComprehend", "AmazonRekognition", "AmazonTextract",
                       "AmazonTranscribe", "transcribe", "AmazonPolly", "translate", "AmazonTranslate", "AmazonLex",
                       "AmazonKendra", "AmazonQ", "AmazonPersonalize", "AmazonForecast", "AmazonLookoutMetrics",
                       "comprehendmedical", "AmazonFraudDetector", "AmazonQBusiness", "AmazonQDeveloper")},
    **{c: "Compute" for c in ("AmazonEC2", "AWSLambda", "AmazonECS", "AmazonEKS", "AmazonLightsail", "AWSBatch",
                              "AmazonAppStream", "AWSAppRunner")},
    **{c: "Storage" for c in ("AmazonS3", "AmazonEFS", "AmazonFSx", "AWSBackup", "AmazonS3GlacierDeepArchive",
                              "AmazonGlacier", "AmazonECR", "AWSStorageGateway")},
    **{c: "Databases" for c in ("AmazonRDS", "AmazonDynamoDB", "AmazonElastiCache", "AmazonDocDB", "AmazonNeptune",
                                "AmazonRedshift", "AmazonMemoryDB", "AmazonTimestream", "AmazonKeyspaces")},
    **{c: "Networking" for c in ("AmazonVPC", "AWSDataTransfer", "AmazonCloudFront", "AmazonRoute53", "AWSELB",
                                 "AWSDirectConnect", "AWSGlobalAccelerator", "AmazonApiGateway")},
    **{c: "Analytics" for c in ("AWSGlue", "AmazonAthena", "AmazonKinesis", "AmazonKinesisFirehose",
                                "AmazonES", "AmazonOpenSearchService", "AmazonEMR", "AmazonQuickSight", "AmazonMSK")},
    **{c: "Integration" for c in ("AWSQueueService", "AmazonSNS", "AmazonSES", "AWSEvents", "AmazonStates",
                                  "AmazonMQ", "AWSAppSync")},
    **{c: "Management and Governance" for c in ("AmazonCloudWatch", "AWSCloudTrail", "AWSConfig",
                                                "AWSSystemsManager", "AWSCloudFormation", "AWSCostExplorer",
                                                "AWSServiceCatalog")},
    **{c: "Security" for c in ("awskms", "AWSSecretsManager", "awswaf", "AmazonGuardDuty", "AWSSecurityHub",
                               "AmazonInspectorV2", "AWSShield", "AmazonCognito", "AWSCertificateManager")},
    **{c: "Developer Tools" for c in ("AWSCodeCommit", "AWSCodeBuild", "AWSCodePipeline", "AWSCodeArtifact",
                                      "AWSXRay")},
    "AWSSupportBusiness": "Support", "AWSSupportEnterprise": "Support", "AWSDeveloperSupport": "Support",
}

CHARGE_CATEGORIES = {
    "usage": ("Usage", "DiscountedUsage", "SavingsPlanCoveredUsage", "SavingsPlanNegation"),
    "tax": ("Tax",),
    "credit": ("Credit", "Refund", "BundledDiscount", "EdpDiscount", "PrivateRateDiscount", "SppDiscount",
               "DistributorDiscount", "Discount"),
    "purchase": ("Fee", "RIFee", "SavingsPlanRecurringFee", "SavingsPlanUpfrontFee"),
}
TOKEN_LINE_TYPES = ("Usage", "DiscountedUsage", "SavingsPlanCoveredUsage")  # where usage amounts are consumption

# Usage-type region prefix -> region id (the product's region columns win when present).
REGION_PREFIXES = {
    "USE1": "us-east-1", "USE2": "us-east-2", "USW1": "us-west-1", "USW2": "us-west-2", "CAN1": "ca-central-1",
    "CAN2": "ca-west-1", "SAE1": "sa-east-1", "EU": "eu-west-1", "EUW1": "eu-west-1", "EUW2": "eu-west-2",
    "EUW3": "eu-west-3", "EUC1": "eu-central-1", "EUC2": "eu-central-2", "EUN1": "eu-north-1", "EUS1": "eu-south-1",
    "EUS2": "eu-south-2", "APN1": "ap-northeast-1", "APN2": "ap-northeast-2", "APN3": "ap-northeast-3",
    "APS1": "ap-southeast-1", "APS2": "ap-southeast-2", "APS3": "ap-south-1", "APS4": "ap-southeast-3",
    "APS5": "ap-south-2", "APS6": "ap-southeast-4", "APS7": "ap-southeast-5", "APE1": "ap-east-1",
    "MES1": "me-south-1", "MEC1": "me-central-1", "AFS1": "af-south-1", "ILC1": "il-central-1",
    "UGW1": "us-gov-west-1", "UGE1": "us-gov-east-1",
}

# Bedrock billing names -> (publisher, Bedrock model id the price book resolves). Keys go through
# model_key(); the usage type says "Claude4.6Sonnet" or "NovaLite", a Marketplace product name
# says "Claude 3 Haiku (Amazon Bedrock Edition)" or "Claude Sonnet 4.5 (Amazon Bedrock Edition)".
_CLAUDE = {  # (family, version): model id; newer Claudes follow the generic rule in _claude_sql
    ("haiku", "3"): "anthropic.claude-3-haiku-20240307-v1:0",
    ("sonnet", "3"): "anthropic.claude-3-sonnet-20240229-v1:0",
    ("opus", "3"): "anthropic.claude-3-opus-20240229-v1:0",
    ("haiku", "3.5"): "anthropic.claude-3-5-haiku-20241022-v1:0",
    ("sonnet", "3.5"): "anthropic.claude-3-5-sonnet-20240620-v1:0",
    ("sonnet", "3.5v2"): "anthropic.claude-3-5-sonnet-20241022-v2:0",
    ("sonnet", "3.7"): "anthropic.claude-3-7-sonnet-20250219-v1:0",
    ("sonnet", "4"): "anthropic.claude-sonnet-4-20250514-v1:0",
    ("opus", "4"): "anthropic.claude-opus-4-20250514-v1:0",
    ("opus", "4.1"): "anthropic.claude-opus-4-1-20250805-v1:0",
    ("sonnet", "4.5"): "anthropic.claude-sonnet-4-5-20250929-v1:0",
    ("haiku", "4.5"): "anthropic.claude-haiku-4-5-20251001-v1:0",
    ("opus", "4.5"): "anthropic.claude-opus-4-5-20251101-v1:0",
}
_OTHERS: list[tuple[str, str, tuple[str, ...]]] = [
    ("amazon", "amazon.nova-micro-v1:0", ("NovaMicro",)),
    ("amazon", "amazon.nova-lite-v1:0", ("NovaLite",)),
    ("amazon", "amazon.nova-pro-v1:0", ("NovaPro",)),
    ("amazon", "amazon.nova-premier-v1:0", ("NovaPremier",)),
    ("amazon", "amazon.nova-sonic-v1:0", ("NovaSonic",)),
    ("amazon", "amazon.nova-2-sonic-v1:0", ("Nova2Sonic", "Nova2.0Sonic")),
    ("amazon", "amazon.nova-2-lite-v1:0", ("Nova2Lite", "Nova2.0Lite")),
    ("amazon", "amazon.titan-text-lite-v1", ("TitanTextLite", "TitanTextG1-Lite")),
    ("amazon", "amazon.titan-text-express-v1", ("TitanTextExpress", "TitanTextG1-Express")),
    ("amazon", "amazon.titan-embed-text-v1", ("TitanEmbeddingsG1-Text", "TitanEmbedText", "TitanTextEmbeddings")),
    ("amazon", "amazon.titan-embed-text-v2:0", ("TitanTextEmbeddingsV2", "TitanEmbedTextV2", "TitanEmbeddingsV2-Text")),
    ("meta", "meta.llama3-8b-instruct-v1:0", ("Llama3-8B", "Llama3-8B-Instruct")),
    ("meta", "meta.llama3-70b-instruct-v1:0", ("Llama3-70B", "Llama3-70B-Instruct")),
    ("meta", "meta.llama3-1-8b-instruct-v1:0", ("Llama3.1-8B", "Llama3-1-8B")),
    ("meta", "meta.llama3-1-70b-instruct-v1:0", ("Llama3.1-70B", "Llama3-1-70B")),
    ("meta", "meta.llama3-1-405b-instruct-v1:0", ("Llama3.1-405B", "Llama3-1-405B")),
    ("meta", "meta.llama3-2-1b-instruct-v1:0", ("Llama3.2-1B", "Llama3-2-1B")),
    ("meta", "meta.llama3-2-3b-instruct-v1:0", ("Llama3.2-3B", "Llama3-2-3B")),
    ("meta", "meta.llama3-2-11b-instruct-v1:0", ("Llama3.2-11B", "Llama3-2-11B")),
    ("meta", "meta.llama3-2-90b-instruct-v1:0", ("Llama3.2-90B", "Llama3-2-90B")),
    ("meta", "meta.llama3-3-70b-instruct-v1:0", ("Llama3.3-70B", "Llama3-3-70B")),
    ("meta", "meta.llama4-scout-17b-instruct-v1:0", ("Llama4Scout17B", "Llama4-Scout-17B")),
    ("meta", "meta.llama4-maverick-17b-instruct-v1:0", ("Llama4Maverick17B", "Llama4-Maverick-17B")),
    ("mistral", "mistral.mistral-7b-instruct-v0:2", ("Mistral7B", "Mistral-7B-Instruct")),
    ("mistral", "mistral.mixtral-8x7b-instruct-v0:1", ("Mixtral8x7B", "Mixtral-8x7B-Instruct")),
    ("mistral", "mistral.mistral-large-2402-v1:0", ("MistralLarge", "MistralLarge2402")),
    ("mistral", "mistral.mistral-small-2402-v1:0", ("MistralSmall", "MistralSmall2402")),
    ("mistral", "mistral.pixtral-large-2502-v1:0", ("PixtralLarge", "PixtralLarge2502")),
    ("deepseek", "deepseek.r1-v1:0", ("DeepSeekR1", "DeepSeek-R1", "deepseek.r1")),
    ("openai", "openai.gpt-oss-120b-1:0", ("gpt-oss-120b", "openai.gpt-oss-120b")),
    ("openai", "openai.gpt-oss-20b-1:0", ("gpt-oss-20b", "openai.gpt-oss-20b")),
    ("qwen", "qwen.qwen3-32b-v1:0", ("Qwen3-32B", "qwen.qwen3-32b")),
    ("qwen", "qwen.qwen3-coder-30b-a3b-v1:0", ("Qwen3-Coder-30B-A3B", "qwen.qwen3-coder-30b-a3b")),
    ("qwen", "qwen.qwen3-coder-480b-a35b-v1:0", ("Qwen3-Coder-480B-A35B", "qwen.qwen3-coder-480b-a35b")),
    ("writer", "writer.palmyra-x4-v1:0", ("PalmyraX4", "writer.palmyra-x4")),
    ("writer", "writer.palmyra-x5-v1:0", ("PalmyraX5", "writer.palmyra-x5")),
]
# Publisher of a billing name the table above does not know, by the name's start.
_PUBLISHER_PREFIXES = (
    ("claude", "anthropic"), ("nova", "amazon"), ("titan", "amazon"), ("llama", "meta"), ("mistral", "mistral"),
    ("mixtral", "mistral"), ("pixtral", "mistral"), ("ministral", "mistral"), ("magistral", "mistral"),
    ("devstral", "mistral"), ("voxtral", "mistral"), ("deepseek", "deepseek"), ("gpt", "openai"), ("qwen", "qwen"),
    ("gemma", "google"), ("command", "cohere"), ("cohere", "cohere"), ("embed", "cohere"), ("rerank", "cohere"),
    ("jamba", "ai21"), ("jurassic", "ai21"), ("ai21", "ai21"), ("palmyra", "writer"), ("writer", "writer"),
    ("stable", "stability"), ("sd3", "stability"), ("stability", "stability"), ("kimi", "moonshotai"),
    ("moonshot", "moonshotai"), ("glm", "zai"), ("zai", "zai"), ("nemotron", "nvidia"), ("nvidia", "nvidia"),
    ("minimax", "minimax"), ("marengo", "twelvelabs"), ("pegasus", "twelvelabs"), ("twelvelabs", "twelvelabs"),
    ("luma", "luma"),
)


# Words in a billing name that say how a model was called, not which model it is.
_NOISE = "(instruct|chat|crossregion|global|batch|flex|priority|standard|latencyoptimized)"


def model_key(name: str) -> str:
    """The lookup key of a billing name (mirrors _key_sql): lower alphanumerics, noise removed."""
    key = re.sub(r"[^a-z0-9]", "", re.sub(r"\(.*?\)", "", name.lower()))
    key = re.sub(_NOISE, "", key)
    return re.sub(r"^(anthropic|amazon|meta|openai)(.)", r"\2", key)


def _key_sql(name: str) -> str:
    key = f"regexp_replace(lower(regexp_replace({name}, '\\(.*?\\)', '', 'g')), '[^a-z0-9]', '', 'g')"
    key = f"regexp_replace({key}, '{_NOISE}', '', 'g')"
    return f"regexp_replace({key}, '^(anthropic|amazon|meta|openai)(.)', '\\2')"


def model_table() -> dict[str, tuple[str, str]]:
    """Every known billing-name key -> (publisher, model id)."""
    table: dict[str, tuple[str, str]] = {}
    for (family, version), model_id in _CLAUDE.items():
        digits = version.replace(".", "")
        for alias in (f"claude{digits}{family}", f"claude{family}{digits}"):
            table[alias] = ("anthropic", model_id)
        if version.endswith("v2"):  # "Claude 3.5 Sonnet v2"
            table[f"claude{digits[:-2]}{family}v2"] = ("anthropic", model_id)
    for publisher, model_id, aliases in _OTHERS:
        for alias in aliases:
            table[model_key(alias)] = (publisher, model_id)
    return table


def _claude_sql(key: str) -> str:
    """Claude 4 and later not in the table: anthropic.claude-<family>-<major>-<minor>."""
    a, b = "'^claude([0-9]+)([a-z]+)$'", "'^claude([a-z]+)([0-9]+)$'"
    family = f"coalesce(nullif(regexp_extract({key}, {a}, 2), ''), nullif(regexp_extract({key}, {b}, 1), ''))"
    version = f"coalesce(nullif(regexp_extract({key}, {a}, 1), ''), nullif(regexp_extract({key}, {b}, 2), ''))"
    dashed = f"regexp_replace({version}, '^([0-9])([0-9]+)$', '\\1-\\2')"
    return f"CASE WHEN left({version}, 1) >= '4' THEN 'anthropic.claude-' || {family} || '-' || {dashed} END"


@dataclass(frozen=True)
class Delivery:
    """The data file(s) to read: one file, or every file a manifest lists."""

    files: tuple[Path, ...]
    container: str
    headers: tuple[str, ...]


class AwsCur(NativeFormat):
    name = "aws-cur"
    priority = 50
    restates_by = "billing_period"
    header_lines = 1

    def matches(self, probe: Probe) -> bool:
        if probe.container == "json":
            return _manifest_keys(probe.json_sample) is not None
        if probe.container not in ("csv", "parquet"):
            return False
        have = _header_map(probe.headers)
        return all(_column(have, f) for f in SIGNATURE)

    def header_lines_for(self, probe: Probe) -> int:
        """A manifest's data files decide: CSV parts have a header line, Parquet parts none."""
        return 1 if _delivery(probe).container == "csv" else 0

    def normalize_sql(self, probe: Probe, ctx: Context) -> str:
        delivery = _delivery(probe)
        return build_sql(delivery, ctx)


FORMAT = AwsCur()


# --- delivery: one file or a manifest -------------------------------------------------------------


def _manifest_keys(doc: object) -> list | None:
    """A CUR/Data Exports manifest's list of data files, else None."""
    if not isinstance(doc, dict):
        return None
    keys = doc.get("reportKeys", doc.get("dataFiles"))
    marks = ("billingPeriod", "assemblyId", "exportArn", "executionId", "reportName", "exportName", "bucket")
    if not isinstance(keys, list) or not any(m in doc for m in marks):
        return None
    return keys


def _delivery(probe: Probe) -> Delivery:
    if probe.container != "json":
        return Delivery((probe.path,), probe.container, probe.headers)
    from ..detect import probe_file  # detect imports this package: import late

    keys = _manifest_keys(probe.json_sample) or []
    where = probe.path
    if not keys:
        raise ImportError_(f"{where}: the manifest lists no data files (reportKeys/dataFiles is empty); "
                           "nothing to import")
    files = []
    for key in keys:
        if not isinstance(key, str) or not key.strip():
            raise ImportError_(f"{where}: reportKeys/dataFiles must be a list of file keys, found {key!r}")
        files.append(_locate(key, probe.path.parent, where))
    probes = []
    for f in files:
        if f.name.lower().endswith(".zip"):
            raise ImportError_(f"{f}: ZIP-compressed CUR files are not supported; unzip it (or export with GZIP or "
                               "Parquet compression) and import the manifest again")
        probes.append(probe_file(f))
    first = probes[0]
    for p in probes[1:]:
        if p.container != first.container:
            raise ImportError_(f"{where}: the listed files mix {first.container} and {p.container} ({p.path.name})")
        if p.container == "csv" and p.headers != first.headers:
            raise ImportError_(f"{where}: {p.path.name} has a different header from {first.path.name}; "
                               "the files of one delivery must share their columns")
    headers = first.headers
    if first.container == "parquet":  # read by name: a column some files lack is NULL there
        headers = tuple(dict.fromkeys(h for p in probes for h in p.headers))
    if not all(_column(_header_map(headers), f) for f in SIGNATURE):
        wanted = ", ".join(FIELDS[f][1] for f in SIGNATURE)
        raise ImportError_(f"{where}: {first.path.name} is not a CUR data file (it lacks some of {wanted})")
    return Delivery(tuple(files), first.container, headers)


def _locate(key: str, folder: Path, manifest: Path) -> Path:
    """Find a listed S3 key (or s3:// URI) under the manifest's folder.

    The key's trailing path parts are tried in the manifest's folder (longest first, down to the
    bare file name), then in up to three folders above it with at least the last two parts (a
    Data Exports bucket keeps metadata/ and data/ side by side). Absolute local paths are kept.
    """
    if Path(key).is_absolute() and Path(key).is_file():
        return Path(key)
    rest = key.split("://", 1)[1].split("/", 1)[-1] if "://" in key else key
    parts = [p for p in rest.split("/") if p not in ("", ".", "..")]
    for depth, ancestor in enumerate([folder, *folder.parents][:4]):
        for i in range(len(parts)):
            if depth and len(parts) - i < 2:
                continue
            candidate = ancestor.joinpath(*parts[i:])
            if candidate.is_file():
                return candidate
    raise ImportError_(
        f"{manifest}: lists {key!r}, which is not there (looked for {parts[-1] if parts else key!r} in {folder} "
        "and the folders above it). Download every file of the delivery next to its manifest, keeping the "
        "S3 folder layout, then import the manifest again; nothing was imported"
    )


# --- the SELECT -------------------------------------------------------------------------------------


def _header_map(headers: tuple[str, ...] | list[str]) -> dict[str, str]:
    return {h.lower(): h for h in headers}


def _column(have: dict[str, str], field: str) -> str | None:
    for name in FIELDS[field]:
        if name.lower() in have:
            return have[name.lower()]
    return None


def _from_sql(delivery: Delivery) -> str:
    if len(delivery.files) == 1:
        return s.file_sql(str(delivery.files[0]), delivery.container, delivery.headers)
    paths = "[" + ", ".join(s.lit(str(f)) for f in delivery.files) + "]"
    relation = s.file_sql(paths, delivery.container, delivery.headers)
    assert relation.endswith(")")
    return relation[:-1] + ", filename = true)"  # which file a bad row is in


@dataclass(frozen=True)
class _FileCheck(s.Check):
    """A check whose column names the data file of a multi-file delivery."""

    def sql(self) -> str:
        label = f"{s.lit(self.column + ' (in ')} || parse_filename(r_filename) || ')'"
        return (f"CASE WHEN {self.failed} THEN {label} || {s.lit(s.SEP + self.reason + s.SEP)} "
                f"|| coalesce({self.raw}, '') END")


def _json_text(expr: str) -> str:
    """A map column as JSON object text: JSON text in CSV, MAP/STRUCT in Parquet; NULL when empty."""
    return f"nullif(nullif(trim(json_extract_string(to_json({expr}), '$')), ''), '{{}}')"


def _tags_sql(headers: tuple[str, ...], have: dict[str, str]) -> tuple[str | None, list[str]]:
    """(resource_tags map column, else None; legacy per-tag columns)."""
    if "resource_tags" in have:
        return have["resource_tags"], []
    cols = [h for h in headers if h.lower().startswith(("resourcetags/", "resource_tags_"))]
    return None, cols


def token_scale_whens(unit: str, single: str = "tokens?|token ?count") -> str:
    """SQL WHENs giving tokens per unit of quantity from a pricing unit: 1K, 1M or single tokens."""
    return (f"WHEN regexp_full_match({unit}, '(1\\s*)?(k|thousand|1,000)\\s*tokens?') THEN 1000 "
            f"WHEN regexp_full_match({unit}, '(1\\s*)?(m|million|1,000,000)\\s*tokens?') THEN 1000000 "
            f"WHEN regexp_full_match({unit}, '{single}') THEN 1")


def region_sql(usage_type: str) -> str:
    """The region a usage type's prefix names (``USE1-...`` -> us-east-1), else NULL."""
    prefix = f"regexp_extract(coalesce({usage_type}, ''), '^([A-Z]{{2,4}}[0-9]?)-', 1)"
    whens = " ".join(f"WHEN {s.lit(k)} THEN {s.lit(v)}" for k, v in REGION_PREFIXES.items())
    return f"CASE {prefix} {whens} END"


def build_sql(delivery: Delivery, ctx: Context) -> str:
    headers = delivery.headers
    have = _header_map(headers)
    multi = len(delivery.files) > 1
    check_type = _FileCheck if multi else s.Check

    def col(field: str) -> str:
        return _column(have, field) or FIELDS[field][1]

    raw: dict[str, str] = {}
    for field in FIELDS:
        header = _column(have, field)
        raw[f"r_{field}"] = s.blank(s.q(header)) if header else "CAST(NULL AS VARCHAR)"
    raw["r_product"] = _json_text(s.q(have["product"])) if "product" in have else "CAST(NULL AS VARCHAR)"
    tag_map, tag_cols = _tags_sql(headers, have)
    raw["r_tags"] = _json_text(s.q(tag_map)) if tag_map else "CAST(NULL AS VARCHAR)"
    if tag_cols:
        entries = ", ".join(
            f"{{'k': {s.lit(re.sub(r'^(resourcetags/|resource_tags_)', '', h, flags=re.IGNORECASE))}, 'v': {s.blank(s.q(h))}}}"
            for h in tag_cols)
        kept = f"list_filter([{entries}], lambda e: e.v IS NOT NULL)"
        raw["r_tags"] = f"nullif(CAST(to_json(map_from_entries({kept})) AS VARCHAR), '{{}}')"
    if multi:
        raw["r_filename"] = "filename"

    ut = "r_usage_type"
    letters = f"lower(regexp_replace(coalesce({ut}, ''), '[^A-Za-z]', '', 'g'))"
    product = "try_cast(r_product AS JSON)"
    product_name = f"coalesce(json_extract_string({product}, '$.product_name'), r_product_name)"
    bedrock = (f"(coalesce(r_product_code IN ({', '.join(s.lit(c) for c in BEDROCK_CODES)}), false) "
               f"OR coalesce({product_name} ILIKE '%bedrock%', false))")
    token_types = ", ".join(s.lit(t) for t in TOKEN_LINE_TYPES)
    kind = (f"CASE WHEN {bedrock} AND r_line_item_type IN ({token_types}) THEN CASE "
            f"WHEN {letters} LIKE '%cacheread%' THEN 'cache_read' "
            f"WHEN {letters} LIKE '%cachewrite%' THEN 'cache_write' "
            f"WHEN {letters} LIKE '%inputtoken%' THEN 'input' "
            f"WHEN {letters} LIKE '%outputtoken%' OR {letters} LIKE '%responsetoken%' THEN 'output' END END")
    token_suffix = ("input-tokens|output-tokens|cache-read-input-token-count|cache-write-input-token-count"
                    "|cache-read-input-tokens|cache-write-input-tokens")
    segment_ut = (f"CASE WHEN {ut} NOT LIKE '%MP:%' THEN nullif(regexp_extract({ut}, "
                  f"'^(?:[A-Z]{{2,4}}[0-9]?-)?(.+?)-(?i:mantle-)?(?i:{token_suffix})', 1), '') END")
    segment_pn = (f"CASE WHEN {product_name} ILIKE '%(Amazon Bedrock Edition)%' THEN "
                  f"trim(regexp_replace({product_name}, '\\(.*?\\)', '', 'g')) END")
    segment = (f"CASE WHEN {bedrock} THEN coalesce({segment_ut}, json_extract_string({product}, '$.model'), "
               f"{segment_pn}) END")
    unit = "lower(trim(coalesce(r_pricing_unit, r_product_pricing_unit)))"
    scale = f"CASE {token_scale_whens(unit, 'tokens?|token ?count|count')} END"

    parsed = {
        "p_start": s.timestamp("r_usage_start"),
        "p_end": s.timestamp("r_usage_end"),
        "p_bill_start": s.timestamp("r_bill_period_start"),
        "p_cost": s.decimal("r_unblended_cost"),
        "p_amount": s.decimal("r_usage_amount"),
        "p_public": s.decimal("r_public_cost"),
        "p_product": product,
        "p_product_name": product_name,
        "p_tags": "try_cast(r_tags AS JSON)",
        "p_bedrock": bedrock,
        "p_marketplace": "coalesce(r_billing_entity = 'AWS Marketplace', false)",
        "p_kind": kind,
        "p_segment": segment,
        "p_key": _key_sql(f"({segment})"),
        "p_scale": scale,
        "p_global": f"coalesce(lower({ut}) LIKE '%global%', false)",
        "p_region": (f"coalesce(r_region_code, json_extract_string({product}, '$.region_code'), "
                     f"json_extract_string({product}, '$.region'), r_region, {region_sql(ut)})"),
    }

    table = model_table()
    known_id = "CASE p_key " + " ".join(f"WHEN {s.lit(k)} THEN {s.lit(m)}" for k, (_, m) in sorted(table.items()))
    known_id += " END"
    known_pub = "CASE p_key " + " ".join(f"WHEN {s.lit(k)} THEN {s.lit(p)}" for k, (p, _) in sorted(table.items()))
    known_pub += " END"
    by_prefix = " ".join(f"WHEN p_key LIKE {s.lit(p + '%')} THEN {s.lit(v)}" for p, v in _PUBLISHER_PREFIXES)
    model_id = f"coalesce({known_id}, {_claude_sql('p_key')})"
    model_raw = (f"CASE WHEN p_segment IS NOT NULL THEN coalesce(CASE WHEN p_global THEN 'global.' || ({model_id}) "
                 f"ELSE {model_id} END, p_segment) END")
    publisher = (f"coalesce(CASE WHEN p_segment IS NOT NULL THEN coalesce({known_pub}, CASE {by_prefix} END, "
                 f"nullif(regexp_extract(lower(p_segment), '^([a-z0-9-]+)\\.[a-z]', 1), '')) END, "
                 f"CASE WHEN p_marketplace THEN {provider_sql_case('r_legal_entity')} END, 'aws')")

    category_case = " ".join(f"WHEN {s.lit(k)} THEN {s.lit(v)}" for k, v in SERVICE_CATEGORIES.items())
    charge_case = " ".join(
        f"WHEN r_line_item_type IN ({', '.join(s.lit(t) for t in types)}) THEN {s.lit(cat)}"
        for cat, types in CHARGE_CATEGORIES.items())
    tokens = "CAST(round(p_amount * p_scale) AS BIGINT)"

    values = {
        "source": s.lit(ctx.source),
        "source_type": s.lit(FORMAT.name),
        "ingested_at": f"CAST({s.lit(ctx.ingested_at)} AS TIMESTAMP)",
        "batch_id": s.lit(ctx.batch_id),
        "period_start": "p_start",
        "period_end": "p_end",
        "billing_period": "strftime(coalesce(p_bill_start, p_start), '%Y-%m')",
        "provider": "'aws'",
        "publisher": publisher,
        "service": "coalesce(p_product_name, r_servicecode, r_product_code)",
        "service_category": (f"CASE WHEN p_bedrock THEN {s.lit(AI)} "
                             f"ELSE coalesce(CASE r_product_code {category_case} END, 'Other') END"),
        "model_raw": model_raw,  # the pricer sets model to the book's id (else model_raw)
        "sku": "r_usage_type",
        "region": "p_region",
        "service_tier": ("CASE WHEN p_kind IS NOT NULL THEN CASE WHEN lower(r_usage_type) LIKE '%batch%' THEN 'batch' "
                         "WHEN lower(r_usage_type) LIKE '%flex%' THEN 'flex' "
                         "WHEN lower(r_usage_type) LIKE '%priority%' THEN 'priority' ELSE 'standard' END END"),
        "charge_category": f"CASE {charge_case} ELSE 'adjustment' END",
        "description": "r_description",
        # One CUR line per token type. Cache reads and writes are input too (ledger semantics), so
        # they count in input_tokens and in their own column, and the pricer takes them out again.
        "input_tokens": f"CASE WHEN p_kind IN ('input', 'cache_read', 'cache_write') THEN {tokens} END",
        "output_tokens": f"CASE WHEN p_kind = 'output' THEN {tokens} END",
        "cache_read_tokens": f"CASE WHEN p_kind = 'cache_read' THEN {tokens} END",
        "cache_write_tokens": f"CASE WHEN p_kind = 'cache_write' THEN {tokens} END",
        "quantity": "p_amount",
        "unit": "coalesce(r_pricing_unit, r_product_pricing_unit)",
        "billed_cost": "p_cost",
        "billing_currency": "upper(r_currency)",
        "list_cost_usd": "CASE WHEN upper(r_currency) = 'USD' THEN p_public END",
        "cost_source": "'billed'",
        "account_id": "r_usage_account",
        "project": "r_usage_account_name",
        "api_key_id": "r_iam_principal",
        "tags": "CASE WHEN json_type(p_tags) = 'OBJECT' THEN p_tags END",
        "invoice_id": "r_invoice_id",
    }

    def checks_for(field: str, parsed_name: str, what: str, required: bool) -> list[s.Check]:
        made = (s.required if required else s.optional)(col(field), f"r_{field}", parsed_name, what)
        return [check_type(c.column, c.failed, c.reason, c.raw) for c in made]

    checks: list[s.Check] = []
    checks += checks_for("usage_start", "p_start", "a date/time", True)
    checks += checks_for("usage_end", "p_end", "a date/time", True)
    checks.append(check_type(col("usage_end"), "p_end < p_start", f"ends before {col('usage_start')}", "r_usage_end"))
    checks += checks_for("bill_period_start", "p_bill_start", "a date/time", False)
    checks += checks_for("unblended_cost", "p_cost", "a decimal number", True)
    checks += checks_for("currency", "r_currency", "a currency", True)
    checks += checks_for("line_item_type", "r_line_item_type", "a line item type", True)
    checks += checks_for("usage_amount", "p_amount", "a decimal number", False)
    checks += checks_for("public_cost", "p_public", "a decimal number", False)
    if "product" in have:
        checks.append(check_type(have["product"], "r_product IS NOT NULL AND json_type(p_product) "
                                 "IS DISTINCT FROM 'OBJECT'", "not a JSON object", "r_product"))
    if tag_map:
        checks.append(check_type(tag_map, "r_tags IS NOT NULL AND json_type(p_tags) IS DISTINCT FROM 'OBJECT'",
                                 "not a JSON object", "r_tags"))
    return s.ledger_select(raw, parsed, values, checks, _from_sql(delivery))
