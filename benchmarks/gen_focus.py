"""Generate a large, realistic FOCUS 1.0 cost-and-usage file, deterministically, with DuckDB SQL.

The file has the 44 columns of the FOCUS-Sample-Data FOCUS 1.0 sample (same names, same order,
same conventions: strings quoted, ``NULL`` written as bare text, costs as plain decimals with 11
places, timestamps as ``"YYYY-MM-DD HH:MM:SS"``), plus aispend's token columns ``x_Model``,
``x_InputTokens``, ``x_OutputTokens``, ``x_CacheReadTokens`` and ``x_Requests`` on the AI rows.

About 40% of rows are AI usage (OpenAI, Anthropic, Amazon Bedrock, Azure OpenAI, Vertex AI, with
model names the genai-prices book knows); 90% of those carry token columns, the rest are AI rows
without tokens (provisioned throughput, fine-tuning hosting). The other 60% are ordinary cloud
charges (compute, storage, networking, ...). A small share of rows are credits, taxes or
adjustments, and ~0.5% of token rows name a model no price book knows (a fine-tune).

Every value is a function of (row number, seed) through DuckDB's ``hash``: the same N and seed
give the same file, whatever the thread count. No Python loop touches a row.

    python benchmarks/gen_focus.py --rows 1000000 --out benchmarks/out/focus_1m.csv
    python benchmarks/gen_focus.py --rows 1000000 --out benchmarks/out/focus_1m.parquet --format parquet
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb

# The FOCUS 1.0 sample's columns, in its order.
FOCUS_COLUMNS = (
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription",
    "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountCategory",
    "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountStatus", "CommitmentDiscountType",
    "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost",
    "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory", "PricingQuantity", "PricingUnit",
    "ProviderName", "PublisherName", "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType",
    "ServiceCategory", "Id", "ServiceName", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
)
X_COLUMNS = ("x_Model", "x_InputTokens", "x_OutputTokens", "x_CacheReadTokens", "x_Requests")
NUMERIC_COLUMNS = {
    "BilledCost", "ConsumedQuantity", "ContractedCost", "EffectiveCost", "ListCost", "PricingQuantity", "Id",
    "x_InputTokens", "x_OutputTokens", "x_CacheReadTokens", "x_Requests",
}

# AI offers: (ProviderName, PublisherName/InvoiceIssuer, ServiceName, x_Model, $/MTok in, out, cache read, weight).
# Prices are list prices, used only to make BilledCost plausible; aispend re-prices from its book.
AI_OFFERS = (
    ("OpenAI", "OpenAI", "OpenAI API", "gpt-4o", 2.5, 10, 1.25, 8),
    ("OpenAI", "OpenAI", "OpenAI API", "gpt-4o-mini", 0.15, 0.6, 0.075, 12),
    ("OpenAI", "OpenAI", "OpenAI API", "gpt-4.1", 2, 8, 0.5, 5),
    ("OpenAI", "OpenAI", "OpenAI API", "gpt-4.1-mini", 0.4, 1.6, 0.1, 6),
    ("OpenAI", "OpenAI", "OpenAI API", "o3-mini", 1.1, 4.4, 0.55, 3),
    ("Anthropic", "Anthropic", "Claude API", "claude-sonnet-4-5", 3, 15, 0.3, 10),
    ("Anthropic", "Anthropic", "Claude API", "claude-haiku-4-5", 1, 5, 0.1, 6),
    ("Anthropic", "Anthropic", "Claude API", "claude-opus-4-1", 15, 75, 1.5, 2),
    ("AWS", "Anthropic", "Amazon Bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", 3, 15, 0.3, 8),
    ("AWS", "Anthropic", "Amazon Bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0", 0.8, 4, 0.08, 3),
    ("AWS", "Amazon Web Services, Inc.", "Amazon Bedrock", "amazon.nova-lite-v1:0", 0.06, 0.24, 0.015, 4),
    ("AWS", "Meta", "Amazon Bedrock", "meta.llama3-3-70b-instruct-v1:0", 0.72, 0.72, 0, 2),
    ("Microsoft", "Microsoft", "Azure OpenAI", "gpt-4o", 2.5, 10, 1.25, 6),
    ("Microsoft", "Microsoft", "Azure OpenAI", "gpt-4o-mini", 0.15, 0.6, 0.075, 6),
    ("Microsoft", "Microsoft", "Azure OpenAI", "gpt-4.1-mini", 0.4, 1.6, 0.1, 3),
    ("Google", "Google", "Vertex AI", "gemini-2.5-flash", 0.3, 2.5, 0.03, 8),
    ("Google", "Google", "Vertex AI", "gemini-2.5-pro", 1.25, 10, 0.125, 4),
    ("Google", "Google", "Vertex AI", "gemini-2.0-flash", 0.1, 0.4, 0.025, 4),
)
UNKNOWN_MODEL = "ft:gpt-4o-mini:acme:support-v3"

# Non-AI cloud charges: (ProviderName, PublisherName, ServiceName, ServiceCategory, ConsumedUnit, $/unit, weight).
CLOUD_OFFERS = (
    ("AWS", "Amazon Web Services, Inc.", "Amazon Elastic Compute Cloud", "Compute", "Hours", 0.0416, 20),
    ("AWS", "Amazon Web Services, Inc.", "Amazon Simple Storage Service", "Storage", "GB-Months", 0.023, 10),
    ("AWS", "Amazon Web Services, Inc.", "Elastic Load Balancing", "Networking", "LCU-Hours", 0.008, 6),
    ("AWS", "Amazon Web Services, Inc.", "AmazonCloudWatch", "Management and Governance", "Metrics", 0.30, 4),
    ("AWS", "Amazon Web Services, Inc.", "Amazon Simple Queue Service", "Integration", "Requests", 0.0000004, 3),
    ("AWS", "Amazon Web Services, Inc.", "Amazon Relational Database Service", "Databases", "Hours", 0.17, 4),
    ("Microsoft", "Microsoft", "Virtual Machines", "Compute", "Hours", 0.096, 8),
    ("Microsoft", "Microsoft", "Storage Accounts", "Storage", "GB-Months", 0.0184, 5),
    ("Microsoft", "Microsoft", "Azure Monitor", "Management and Governance", "GB", 2.30, 2),
    ("Google", "Google", "Compute Engine", "Compute", "Hours", 0.0475, 6),
    ("Google", "Google", "Cloud Storage", "Storage", "GB-Months", 0.02, 4),
    ("Google", "Google", "BigQuery", "Databases", "TiB", 6.25, 2),
)
REGIONS = (
    ("us-east-1", "US East (N. Virginia)"), ("us-west-2", "US West (Oregon)"), ("eu-west-1", "Europe (Ireland)"),
    ("eastus", "East US"), ("westeurope", "West Europe"), ("us-central1", "Iowa"), ("europe-west4", "Netherlands"),
)
TEAMS = ("search", "support-bot", "growth", "data-platform", "checkout", "recsys", "ml-research", "internal-tools")
ENVIRONMENTS = ("prod", "prod", "prod", "staging", "dev")
ACCOUNTS = tuple((f"{100000000000 + 7919 * k}", name) for k, name in enumerate(
    ("Atlas Nimbus", "Zenith Eclipse", "Orion Forge", "Helix Harbor", "Nova Quarry", "Polaris Mesa",
     "Lumen Crest", "Vega Spire", "Cobalt Reach", "Sable Ridge", "Quartz Vale", "Ember Point")))
START = "2025-07-01"
HOURS = 184 * 24  # July to December 2025


def _lit(v: object) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return repr(v)


def _list(values) -> str:
    return "[" + ", ".join(_lit(v) for v in values) + "]"


def _weighted(weights) -> tuple[str, int]:
    """A list of offer indexes (1-based) repeated by weight: uniform pick in it = weighted pick."""
    out = []
    for i, w in enumerate(weights, start=1):
        out += [i] * w
    return "[" + ", ".join(map(str, out)) + "]", len(out)


def build_sql(rows: int, seed: int, ai_share: float = 0.40) -> str:
    ai_pick, ai_n = _weighted([o[7] for o in AI_OFFERS])
    cloud_pick, cloud_n = _weighted([o[6] for o in CLOUD_OFFERS])

    def ai(field: int) -> str:
        return f"({_list([o[field] for o in AI_OFFERS])})[offer]"

    def cloud(field: int) -> str:
        return f"({_list([o[field] for o in CLOUD_OFFERS])})[offer]"

    # u(k): a uniform draw in [0, 1) for this row and stream k.
    u = lambda k: f"((hash(i, {seed}, {k}) % 1000000) / 1000000.0)"  # noqa: E731
    pick = lambda k, n: f"CAST(1 + hash(i, {seed}, {k}) % {n} AS BIGINT)"  # noqa: E731
    ai_cut = int(ai_share * 1000)

    draws = f"""
    SELECT i,
      hash(i, {seed}, 1) % 1000 < {ai_cut} AS is_ai,
      {u(2)} < 0.90 AS has_tokens,
      {u(3)} < 0.005 AS unknown_model,
      {pick(4, HOURS)} - 1 AS hour,
      {pick(5, len(REGIONS))} AS region_i,
      {pick(6, len(ACCOUNTS))} AS account_i,
      {pick(7, len(TEAMS))} AS team_i,
      {pick(8, len(ENVIRONMENTS))} AS env_i,
      hash(i, {seed}, 9) % 1000 AS kind_draw,
      {u(10)} AS u_size, {u(11)} AS u_out, {u(12)} AS u_cache, {u(13)} AS u_req, {u(14)} AS u_tags,
      {pick(15, ai_n)} AS ai_slot, {pick(16, cloud_n)} AS cloud_slot,
      hash(i, {seed}, 17) AS h_res
    FROM range({rows}) r(i)
    """
    picked = f"""
    SELECT *,
      CASE WHEN is_ai THEN ({ai_pick})[ai_slot] ELSE ({cloud_pick})[cloud_slot] END AS offer,
      TIMESTAMP '{START}' + to_hours(hour) AS t0,
      -- requests in the hour: 1 .. ~5000, long-tailed; tokens per request 200 .. ~60k
      CAST(1 + floor(pow(u_req, 3) * 5000) AS BIGINT) AS req,
      CAST(200 + floor(pow(u_size, 2) * 60000) AS BIGINT) AS in_per_req,
      CAST(20 + floor(u_out * 1500) AS BIGINT) AS out_per_req
    FROM ({draws})
    """
    tokens = f"""
    SELECT *,
      is_ai AND has_tokens AND kind_draw >= 9 AS tok,
      -- each cloud's own regions; the AI labs' APIs have none
      CASE CASE WHEN is_ai THEN ({_list([o[0] for o in AI_OFFERS])})[offer] ELSE ({_list([o[0] for o in CLOUD_OFFERS])})[offer] END
        WHEN 'AWS' THEN 1 + region_i % 3 WHEN 'Microsoft' THEN 4 + region_i % 2 WHEN 'Google' THEN 6 + region_i % 2
      END AS region_k,
      req * in_per_req AS in_tok,
      req * out_per_req AS out_tok,
      CASE WHEN u_cache < 0.45 THEN CAST(floor(req * in_per_req * u_cache * 1.5) AS BIGINT) ELSE 0 END AS cache_tok,
      CASE WHEN kind_draw < 4 THEN 'Credit' WHEN kind_draw < 7 THEN 'Tax' WHEN kind_draw < 9 THEN 'Adjustment'
           ELSE 'Usage' END AS category
    FROM ({picked})
    """
    list_cost = (
        f"CASE WHEN tok THEN ((in_tok - cache_tok) * {ai(4)} + cache_tok * {ai(6)} + out_tok * {ai(5)}) / 1e6 "
        f"WHEN is_ai THEN 1.5 + u_size * 40 "  # provisioned throughput / hosting hours
        f"ELSE (1 + u_size * 200) * {cloud(5)} END"
    )
    quantity = (
        "CASE WHEN tok THEN in_tok + out_tok WHEN is_ai THEN 1 "
        "ELSE round(1 + u_size * 200, 6) END"
    )
    provider = f"CASE WHEN is_ai THEN {ai(0)} ELSE {cloud(0)} END"
    publisher = f"CASE WHEN is_ai THEN {ai(1)} ELSE {cloud(1)} END"
    service = f"CASE WHEN is_ai THEN {ai(2)} ELSE {cloud(2)} END"
    model = f"CASE WHEN unknown_model THEN {_lit(UNKNOWN_MODEL)} ELSE {ai(3)} END"
    region_id = f"({_list([r[0] for r in REGIONS])})[region_k]"
    team = f"({_list(TEAMS)})[team_i]"
    env = f"({_list(ENVIRONMENTS)})[env_i]"
    ts = "strftime({}, '%Y-%m-%d %H:%M:%S')"
    dec = "CAST({} AS DECIMAL(24, 11))"
    sign = "CASE category WHEN 'Credit' THEN -0.2 WHEN 'Tax' THEN 0.08 WHEN 'Adjustment' THEN -0.05 ELSE 1 END"

    cols = {
        "AvailabilityZone": f"CASE WHEN NOT is_ai AND h_res % 3 = 0 THEN {region_id} || 'a' END",
        "BilledCost": dec.format(f"({list_cost}) * {sign} * 0.97"),
        "BillingAccountId": "'1234567890123'",
        "BillingAccountName": "'SunBird'",
        "BillingCurrency": "'USD'",
        "BillingPeriodEnd": ts.format("date_trunc('month', t0) + INTERVAL 1 MONTH"),
        "BillingPeriodStart": ts.format("date_trunc('month', t0)"),
        "ChargeCategory": "category",
        "ChargeClass": "NULL",
        "ChargeDescription": (
            f"CASE WHEN tok THEN {ai(3)} || ' tokens via ' || {ai(2)} "
            f"WHEN is_ai THEN 'Provisioned throughput, ' || {ai(3)} "
            f"ELSE '$' || {cloud(5)} || ' per ' || {cloud(4)} || ' for ' || {cloud(2)} || ' in ' || {region_id} END"
        ),
        "ChargeFrequency": "CASE WHEN category = 'Usage' THEN 'Usage-Based' ELSE 'One-Time' END",
        "ChargePeriodEnd": ts.format("t0 + INTERVAL 1 HOUR"),
        "ChargePeriodStart": ts.format("t0"),
        "CommitmentDiscountCategory": "NULL",
        "CommitmentDiscountId": "NULL",
        "CommitmentDiscountName": "NULL",
        "CommitmentDiscountStatus": "NULL",
        "CommitmentDiscountType": "NULL",
        "ConsumedQuantity": f"CAST({quantity} AS DECIMAL(24, 15))",
        "ConsumedUnit": f"CASE WHEN tok THEN 'Tokens' WHEN is_ai THEN 'Hours' ELSE {cloud(4)} END",
        "ContractedCost": dec.format(f"({list_cost}) * {sign} * 0.97"),
        "ContractedUnitPrice": "NULL",
        "EffectiveCost": dec.format(f"({list_cost}) * {sign} * 0.97"),
        "InvoiceIssuerName": publisher,
        "ListCost": dec.format(f"({list_cost}) * {sign}"),
        "ListUnitPrice": (
            f"CAST(CAST(CASE WHEN tok THEN {ai(4)} / 1e6 WHEN NOT is_ai THEN {cloud(5)} END AS DECIMAL(20, 10)) AS VARCHAR)"
        ),
        "PricingCategory": "'Standard'",
        "PricingQuantity": dec.format(quantity),
        "PricingUnit": f"CASE WHEN tok THEN 'Tokens' WHEN is_ai THEN 'Hours' ELSE {cloud(4)} END",
        "ProviderName": provider,
        "PublisherName": publisher,
        "RegionId": region_id,
        "RegionName": f"({_list([r[1] for r in REGIONS])})[region_k]",
        "ResourceId": (
            f"CASE WHEN is_ai THEN 'ai/' || lower({provider}) || '/' || {team} || '/key-' || (h_res % 500) "
            f"ELSE 'arn:ats:' || lower(replace({service}, ' ', '')) || ':' || {region_id} || ':' "
            f"|| {_list([a[0] for a in ACCOUNTS])}[account_i] || ':res/' || printf('%016x', h_res) END"
        ),
        "ResourceName": f"CASE WHEN h_res % 2 = 0 THEN {team} || '-' || {env} || '-' || (h_res % 97) END",
        "ResourceType": f"CASE WHEN is_ai THEN 'API Key' WHEN h_res % 4 = 0 THEN 'Instance' END",
        "ServiceCategory": f"CASE WHEN is_ai THEN 'AI and Machine Learning' ELSE {cloud(3)} END",
        "Id": "i + 1",
        "ServiceName": service,
        "SkuId": f"upper(printf('%016x', hash(offer, is_ai, {seed})))",
        "SkuPriceId": f"upper(printf('%016x', hash(offer, is_ai, {seed}))) || '.' || upper(printf('%08x', region_i * 2654435761))",
        "SubAccountId": f"{_list([a[0] for a in ACCOUNTS])}[account_i]",
        "SubAccountName": f"{_list([a[1] for a in ACCOUNTS])}[account_i]",
        "Tags": (
            "CASE WHEN u_tags < 0.65 THEN "
            f"'{{\"team\": \"' || {team} || '\", \"environment\": \"' || {env} || '\", \"cost_center\": \"cc-' || (100 + team_i) || '\"}}' END"
        ),
        "x_Model": f"CASE WHEN tok THEN {model} END",
        "x_InputTokens": "CASE WHEN tok THEN in_tok END",
        "x_OutputTokens": "CASE WHEN tok THEN out_tok END",
        "x_CacheReadTokens": f"CASE WHEN tok AND {ai(6)} > 0 THEN cache_tok END",
        "x_Requests": "CASE WHEN tok THEN req END",
    }
    assert tuple(cols) == FOCUS_COLUMNS + X_COLUMNS
    select = ",\n      ".join(f'{expr} AS "{name}"' for name, expr in cols.items())
    return f"SELECT\n      {select}\n    FROM ({tokens})"


def generate(rows: int, out: Path, fmt: str = "csv", seed: int = 42, threads: int | None = None) -> float:
    out.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    if threads:
        con.execute(f"SET threads = {threads}")
    sql = build_sql(rows, seed)
    target = str(out).replace("'", "''")
    if fmt == "csv":
        quoted = ", ".join(f'"{c}"' for c in (*FOCUS_COLUMNS, *X_COLUMNS) if c not in NUMERIC_COLUMNS)
        options = f"HEADER, DELIMITER ',', QUOTE '\"', ESCAPE '\"', NULLSTR 'NULL', FORCE_QUOTE ({quoted})"
    else:
        options = "FORMAT PARQUET, COMPRESSION ZSTD, ROW_GROUP_SIZE 122880"
    t = time.perf_counter()
    con.execute(f"COPY ({sql}) TO '{target}' ({options})")
    elapsed = time.perf_counter() - t
    con.close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--format", choices=("csv", "parquet"), default=None, help="default: from --out's suffix")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--force", action="store_true", help="regenerate even if --out exists")
    ap.add_argument("--print-sql", action="store_true")
    args = ap.parse_args(argv)
    fmt = args.format or ("parquet" if args.out.suffix == ".parquet" else "csv")
    if args.print_sql:
        print(build_sql(args.rows, args.seed))
        return 0
    if args.out.exists() and not args.force:
        print(f"{args.out}: exists, kept (use --force to regenerate)", file=sys.stderr)
        return 0
    secs = generate(args.rows, args.out, fmt, args.seed)
    size = args.out.stat().st_size / 1e6
    print(f"{args.out}: {args.rows:,} rows, {size:,.0f} MB, {secs:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
