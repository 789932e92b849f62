"""Pure generation of the demo's vendor files: one fictional company's AI bill, from a seed.

Brightwave, a B2B SaaS company, pays six vendors:

* OpenAI, Anthropic, AWS Bedrock (Claude billed by AWS), Azure OpenAI and Vertex AI, each as a
  FOCUS 1.2 cost-and-usage CSV per month, one row per (day, model, feature, customer, environment),
  carrying aispend's ``x_`` token and attribution columns;
* VectorBase, a fictional vector database billed a monthly plan fee plus read units, write units
  and storage, as its own CSV read through the ``[csv_mappings.vectorbase]`` table below.

Volumes follow weekdays and weekends and grow ~6% a month. Two events are planted: a runaway
prompt (``kb-answers`` sends 10x its usual input tokens per request for one day) and a model
migration (``support-chat`` moves from gpt-4o to gpt-4.1-mini on a given day).

Every billed cost is the genai-prices list price of that row on that day, so the ledger's
``list_cost_usd`` matches ``billed_cost``. Tokens are ``requests x per-request tokens``, and each
request is priced on its own, so a long-context tier is chosen the way the pricer chooses it.

Pure: a date and a seed in, file texts out. No clock, no I/O. A day's numbers depend on the seed,
that day and ``today`` (volumes are anchored on today's level); the two event days on the window.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache

from genai_prices import Usage, data_snapshot
from genai_prices import types as gp

from ..errors import PricingError
from ..pricing import PriceBook

MONEY_PLACES = Decimal("1e-10")  # billed costs: exact decimal strings, at most 10 places
MONTHLY_GROWTH = 1.06
MAPPING_NAME = "vectorbase"

# (name, relative size): the end customers the product serves.
CUSTOMERS = (
    ("Acme Logistics", 1.0),
    ("Globex Retail", 0.8),
    ("Initech Finance", 0.6),
    ("Umbrella Health", 0.5),
    ("Stark Freight", 0.35),
    ("Wayne Media", 0.3),
    ("Hooli Cloud", 0.2),
    ("Vandelay Imports", 0.12),
)
# environment: (share of prod volume, weekend factor)
ENVIRONMENTS = {"prod": (1.0, 0.45), "staging": (0.04, 0.15), "dev": (0.025, 0.08)}


@dataclass(frozen=True)
class Vendor:
    key: str  # file prefix; the import's source is ``demo-<key>``
    provider: str  # ledger provider code (who bills)
    publisher: str  # ledger publisher code (who made the model)
    provider_name: str  # FOCUS ProviderName, as the vendor writes it
    publisher_name: str
    invoice_issuer: str
    service_name: str
    billing_account_id: str
    billing_account_name: str
    region_id: str
    region_name: str
    cloud: bool  # cloud billers: sub-account per environment, resource tags, no API keys


VENDORS = (
    Vendor("openai", "openai", "openai", "OpenAI", "OpenAI", "OpenAI, L.L.C.", "OpenAI API",
           "org-BrightwaveDemo01", "Brightwave", "global", "Global", cloud=False),
    Vendor("anthropic", "anthropic", "anthropic", "Anthropic", "Anthropic", "Anthropic, PBC", "Claude API",
           "org-7f3b2c1d-brightwave", "Brightwave", "global", "Global", cloud=False),
    Vendor("aws-bedrock", "aws", "anthropic", "Amazon Web Services", "Anthropic", "Amazon Web Services, Inc.",
           "Amazon Bedrock", "111122223333", "Brightwave Payer", "us-east-1", "US East (N. Virginia)", cloud=True),
    Vendor("azure-openai", "azure", "openai", "Microsoft", "OpenAI", "Microsoft Corporation", "Azure OpenAI",
           "84736251", "Brightwave EA", "swedencentral", "Sweden Central", cloud=True),
    Vendor("gcp-vertex", "gcp", "google", "Google Cloud", "Google", "Google LLC", "Vertex AI",
           "01A2B3-C4D5E6-F7A8B9", "Brightwave Billing", "us-central1", "Iowa", cloud=True),
)
VENDOR_BY_KEY = {v.key: v for v in VENDORS}


@dataclass(frozen=True)
class Workload:
    """One feature calling one model at one vendor."""

    vendor: str
    feature: str
    owner: str  # team
    project: str
    model: str  # as the vendor writes it
    requests: int  # prod requests on a weekday, at today's volume
    input: int  # input tokens per request, cached included
    output: int  # output tokens per request, reasoning included
    cache_read: float = 0.0  # share of input read from the prompt cache
    cache_write: float = 0.0  # share of input written to it
    reasoning: float = 0.0  # share of output spent thinking
    customer_facing: bool = True  # prod rows split by customer; else one prod row, no customer
    migrate_to: str | None = None  # the model it moves to on the migration day
    runaway: bool = False  # the feature whose prompt runs away for a day


WORKLOADS = (
    # OpenAI
    Workload("openai", "support-chat", "support-eng", "Support Assistant", "gpt-4o-2024-08-06", 12_000, 3_000, 350,
             cache_read=0.4, migrate_to="gpt-4.1-mini-2025-04-14"),
    Workload("openai", "kb-answers", "search", "Knowledge Base", "gpt-4.1-2025-04-14", 8_000, 4_000, 450,
             cache_read=0.25, runaway=True),
    Workload("openai", "email-drafts", "growth", "Growth Automations", "gpt-4o-mini-2024-07-18", 30_000, 900, 300),
    Workload("openai", "sales-briefs", "growth", "Growth Automations", "gpt-4o-2024-08-06", 1_500, 6_000, 800,
             customer_facing=False),
    Workload("openai", "doc-indexing", "search", "Knowledge Base", "text-embedding-3-small", 200_000, 700, 0),
    # Anthropic, with prompt caching
    Workload("anthropic", "code-review", "platform", "Dev Productivity", "claude-sonnet-4-5-20250929", 2_500, 14_000,
             900, cache_read=0.71, cache_write=0.085, customer_facing=False),
    Workload("anthropic", "ticket-triage", "support-eng", "Support Assistant", "claude-haiku-4-5-20251001", 20_000,
             2_200, 150, cache_read=0.68, cache_write=0.07),
    Workload("anthropic", "doc-insights", "insights", "Doc Insights", "claude-sonnet-4-5-20250929", 4_000, 9_000, 700,
             cache_read=0.55, cache_write=0.09),
    # Claude on AWS Bedrock, model ids as Bedrock writes them
    Workload("aws-bedrock", "risk-summaries", "risk", "risk-engine", "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
             3_000, 7_000, 600, cache_read=0.43, cache_write=0.07),
    Workload("aws-bedrock", "contract-extract", "risk", "risk-engine", "anthropic.claude-3-5-haiku-20241022-v1:0",
             4_000, 5_000, 400),
    # Azure OpenAI
    Workload("azure-openai", "product-tagging", "catalog", "rg-catalog-ai", "gpt-4o-mini", 60_000, 1_200, 80),
    # Vertex AI (Gemini thinks: part of its output is reasoning)
    Workload("gcp-vertex", "review-moderation", "trust-safety", "bw-trust", "gemini-2.5-flash", 40_000, 1_500, 260,
             cache_read=0.2, reasoning=0.75),
)

FOCUS_COLUMNS = (
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
    "ChargePeriodEnd", "ChargePeriodStart", "ConsumedQuantity", "ConsumedUnit", "ContractedCost",
    "EffectiveCost", "InvoiceIssuerName", "ListCost", "PricingCategory", "PricingQuantity", "PricingUnit",
    "ProviderName", "PublisherName", "RegionId", "RegionName", "ServiceCategory", "ServiceName",
    "ServiceSubcategory", "SkuId", "SubAccountId", "SubAccountName", "Tags",
    "x_Model", "x_ServiceTier", "x_Project", "x_ApiKeyId", "x_Environment", "x_Owner", "x_Feature",
    "x_Customer", "x_Experiment", "x_InputTokens", "x_OutputTokens", "x_CacheReadTokens",
    "x_CacheWriteTokens", "x_ReasoningTokens", "x_Requests",
)

# A monthly promotional credit on the OpenAI invoice (FOCUS ChargeCategory Credit, no tokens).
OPENAI_MONTHLY_CREDIT = Decimal("-250.00")

# --- VectorBase: fictional prices, its CSV header, and the mapping that reads it -------------------

VB_READ_PER_MILLION = Decimal("16.00")
VB_WRITE_PER_MILLION = Decimal("4.00")
VB_STORAGE_PER_GB_MONTH = Decimal("0.33")
VB_PLAN_MONTHLY = Decimal("50.00")
VB_ORG = "vb-org-5521"


@dataclass(frozen=True)
class VectorIndex:
    name: str
    owner: str
    feature: str
    reads: int  # prod read units on a weekday, today
    writes: int
    storage_gb: int  # today
    staging: bool


VECTOR_INDEXES = (
    VectorIndex("kb-articles", "search", "kb-answers", 1_100_000, 350_000, 140, staging=True),
    VectorIndex("support-history", "support-eng", "support-chat", 450_000, 120_000, 60, staging=False),
    VectorIndex("product-catalog", "catalog", "product-tagging", 300_000, 500_000, 35, staging=False),
)

VB_COLUMNS = (
    "Invoice Month", "Start Date", "End Date", "Organization ID", "Project", "Index", "Region", "Line Item",
    "Meter", "Quantity", "Unit", "Unit Price (USD)", "Amount (USD)", "Charge Type", "Tag: env", "Tag: team",
    "Tag: feature",
)
VB_MAPPING_COLUMNS = {
    "period_start": "Start Date",
    "period_end": "End Date",
    "account_id": "Organization ID",
    "project": "Project",
    "region": "Region",
    "description": "Line Item",
    "sku": "Meter",
    "quantity": "Quantity",
    "unit": "Unit",
    "billed_cost": "Amount (USD)",
    "charge_category": "Charge Type",
    "environment": "Tag: env",
    "owner": "Tag: team",
    "feature": "Tag: feature",
}
VB_MAPPING_CONSTANTS = {
    "provider": "VectorBase",
    "publisher": "VectorBase",
    "service": "VectorBase Serverless",
    "service_category": "Databases",
    "billing_currency": "USD",
}
VB_MAPPING_DETECT = ["Organization ID", "Meter", "Amount (USD)"]
CONFIG_MARKER = "# Written by `aispend demo`; rewritten on every run."


def config_toml() -> str:
    """The aispend.toml the demo writes: the ``[csv_mappings.vectorbase]`` table, commented."""

    def table(values: dict[str, str]) -> str:
        return "\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items())

    return (
        f"{CONFIG_MARKER}\n"
        "# It declares how VectorBase's usage CSV (vectorbase-YYYY-MM.csv, a fictional vector database)\n"
        "# maps onto the ledger; copy the table into your own aispend.toml to import such files with\n"
        "# `aispend import`. The FOCUS files next to it need no mapping.\n\n"
        f"[csv_mappings.{MAPPING_NAME}]\n"
        f"detect = {json.dumps(VB_MAPPING_DETECT)}\n"
        'period = "day"\n\n'
        f"[csv_mappings.{MAPPING_NAME}.columns]\n{table(VB_MAPPING_COLUMNS)}\n\n"
        f"[csv_mappings.{MAPPING_NAME}.constants]\n{table(VB_MAPPING_CONSTANTS)}\n"
    )


# --- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoFile:
    name: str  # file name inside the demo's work directory
    vendor: str  # Vendor.key, or "vectorbase"
    month: str  # YYYY-MM
    source: str  # the import's source name
    format: str  # "focus", or "csv" with ``mapping``
    mapping: str | None
    text: str
    rows: int


@dataclass(frozen=True)
class DemoPlan:
    start: date  # first day, inclusive
    end: date  # last day, inclusive (today)
    runaway_day: date
    migration_day: date
    files: tuple[DemoFile, ...]
    revenue: str = ""  # the customers' subscription revenue, a revenue CSV (docs/unit-economics.md)


def window(today: date, months: int) -> tuple[date, date]:
    """The first day of the month ``months - 1`` before today's, and today."""
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    index = today.year * 12 + today.month - 1 - (months - 1)
    return date(index // 12, index % 12 + 1, 1), today


def event_days(start: date, end: date) -> tuple[date, date]:
    """(runaway day, migration day), both inside the window.

    The runaway lands on a weekday about a week and a half before today, with at least a week of
    normal days before it; the migration a little before the middle of the window.
    """
    span = (end - start).days
    runaway = end - timedelta(days=9) if span >= 19 else start + timedelta(days=span // 2)
    while runaway.weekday() >= 5 and runaway > start:
        runaway -= timedelta(days=1)
    migration = start + timedelta(days=max(1, int(span * 0.45))) if span >= 2 else end
    return runaway, migration


def build_plan(today: date, seed: int = 7, months: int = 4) -> DemoPlan:
    start, end = window(today, months)
    runaway, migration = event_days(start, end)
    world = _World(seed, today, runaway, migration)
    files: list[DemoFile] = []
    for month_start in _months(start, end):
        days = [d for d in _days(month_start, _next_month(month_start)) if d <= end]
        label = month_start.strftime("%Y-%m")
        for vendor in VENDORS:
            rows = list(world.focus_rows(vendor, month_start, days))
            files.append(DemoFile(f"{vendor.key}-{label}.focus.csv", vendor.key, label, f"demo-{vendor.key}",
                                  "focus", None, _csv_text(FOCUS_COLUMNS, rows), len(rows)))
        rows = list(world.vectorbase_rows(month_start, days))
        files.append(DemoFile(f"{MAPPING_NAME}-{label}.csv", MAPPING_NAME, label, f"demo-{MAPPING_NAME}",
                              "csv", MAPPING_NAME, _csv_text(VB_COLUMNS, rows), len(rows)))
    return DemoPlan(start, end, runaway, migration, tuple(files), revenue_csv(start, end, seed))


# Monthly subscription of the biggest customer; the others pay in proportion to their size.
REVENUE_BASE = Decimal(9000)


def revenue_csv(start: date, end: date, seed: int) -> str:
    """What each customer pays per month (a flat plan, wobbling a little with the seed)."""
    rng = random.Random(f"revenue|{seed}")
    plans = {name: (REVENUE_BASE * Decimal(str(size)) * Decimal(str(round(rng.uniform(0.9, 1.1), 3))))
             .quantize(Decimal("0.01")) for name, size in CUSTOMERS}
    rows = [{"customer": name, "month": m.strftime("%Y-%m"), "amount": str(amount), "currency": "USD",
             "id": f"inv-{m:%Y%m}-{i:02d}"}
            for m in _months(start, end) for i, (name, amount) in enumerate(plans.items(), 1)]
    return _csv_text(("customer", "month", "amount", "currency", "id"), rows)


# --- the world behind the numbers ---------------------------------------------------------------


class _World:
    def __init__(self, seed: int, today: date, runaway: date, migration: date):
        self.seed, self.today, self.runaway, self.migration = seed, today, runaway, migration
        rng = random.Random(f"{seed}:world")
        # Customer sizes wobble with the seed, and not every customer uses every feature.
        self.customers = [(name, size * rng.uniform(0.8, 1.25)) for name, size in CUSTOMERS]
        self.uses: dict[tuple[str, str], bool] = {}
        for wl in WORKLOADS:
            for name, _ in CUSTOMERS:
                self.uses[(wl.feature, name)] = name == CUSTOMERS[0][0] or rng.random() < 0.85

    def _rng(self, *parts: object) -> random.Random:
        return random.Random(":".join(str(p) for p in (self.seed, *parts)))

    def _level(self, day: date, env: str) -> float:
        """Seasonality and growth of an environment's volume on a day, 1.0 = a weekday today."""
        share, weekend = ENVIRONMENTS[env]
        growth = MONTHLY_GROWTH ** ((day - self.today).days / 30.44)
        return share * growth * (weekend if day.weekday() >= 5 else 1.0)

    def focus_rows(self, vendor: Vendor, month_start: date, days: list[date]) -> Iterator[dict[str, str]]:
        if vendor.key == "openai":
            yield self._credit_row(vendor, month_start)
        for day in days:
            for wl in WORKLOADS:
                if wl.vendor == vendor.key:
                    yield from self._workload_rows(vendor, wl, day)

    def _workload_rows(self, vendor: Vendor, wl: Workload, day: date) -> Iterator[dict[str, str]]:
        rng = self._rng(wl.vendor, wl.feature, wl.model, day.isoformat())
        model = wl.migrate_to if wl.migrate_to and day >= self.migration else wl.model
        # The prompt's shape for the day: every request that day costs the same.
        n_in = max(1, round(wl.input * rng.lognormvariate(0, 0.04)))
        n_out = round(wl.output * rng.lognormvariate(0, 0.06))
        n_cr = int(n_in * wl.cache_read)
        n_cw = int(n_in * wl.cache_write)
        if wl.runaway and day == self.runaway:
            n_in *= 10  # retrieval stuffed 10x the context into the prompt, all of it uncached
        n_rs = int(n_out * wl.reasoning)
        per_request = _cost_per_request(vendor.provider, vendor.publisher, model, day, n_in, n_cr, n_cw, n_out)

        for env in ENVIRONMENTS:
            volume = wl.requests * self._level(day, env) * rng.lognormvariate(0, 0.08)
            if env == "prod" and wl.customer_facing:
                total = sum(size for name, size in self.customers if self.uses[(wl.feature, name)])
                targets = [(name, volume * size / total) for name, size in self.customers
                           if self.uses[(wl.feature, name)]]
            else:
                targets = [(None, volume)]
            for customer, expected in targets:
                requests = round(expected * rng.lognormvariate(0, 0.15))
                if requests <= 0:
                    continue
                cost = (per_request * requests).quantize(MONEY_PLACES)
                yield self._usage_row(vendor, wl, model, day, env, customer, requests, cost,
                                      n_in * requests, n_out * requests, n_cr * requests, n_cw * requests,
                                      n_rs * requests)

    def _usage_row(self, vendor: Vendor, wl: Workload, model: str, day: date, env: str, customer: str | None,
                   requests: int, cost: Decimal, n_in: int, n_out: int, n_cr: int, n_cw: int,
                   n_rs: int) -> dict[str, str]:
        sub_id, sub_name, project = _sub_account(vendor, wl, env)
        tags = {"team": wl.owner, "app": wl.feature, "env": env} if vendor.cloud else None
        money = _money(cost)
        tokens = n_in + n_out
        return {
            **_billing(vendor, day),
            "BilledCost": money, "ListCost": money, "ContractedCost": money, "EffectiveCost": money,
            "ChargeCategory": "Usage", "ChargeClass": "", "ChargeFrequency": "Usage-Based",
            "ChargeDescription": f"{model} tokens",
            "ChargePeriodStart": _ts(day), "ChargePeriodEnd": _ts(day + timedelta(days=1)),
            "ConsumedQuantity": str(tokens), "ConsumedUnit": "Tokens",
            "PricingCategory": "Standard", "PricingQuantity": _money(Decimal(tokens) / 1_000_000),
            "PricingUnit": "1000000 Tokens",
            "ServiceCategory": "AI and Machine Learning", "ServiceSubcategory": "Generative AI",
            "SkuId": model, "SubAccountId": sub_id, "SubAccountName": sub_name,
            "Tags": json.dumps(tags, sort_keys=True) if tags else "",
            "x_Model": model, "x_ServiceTier": "standard", "x_Project": project,
            "x_ApiKeyId": "" if vendor.cloud else _api_key(vendor, wl.project, env),
            "x_Environment": env, "x_Owner": wl.owner, "x_Feature": wl.feature, "x_Customer": customer or "",
            "x_Experiment": "", "x_InputTokens": str(n_in), "x_OutputTokens": str(n_out),
            "x_CacheReadTokens": str(n_cr), "x_CacheWriteTokens": str(n_cw), "x_ReasoningTokens": str(n_rs),
            "x_Requests": str(requests),
        }

    def _credit_row(self, vendor: Vendor, month_start: date) -> dict[str, str]:
        money = _money(OPENAI_MONTHLY_CREDIT)
        row = {c: "" for c in FOCUS_COLUMNS}
        row.update(_billing(vendor, month_start))
        row.update({
            "BilledCost": money, "ListCost": "0", "ContractedCost": money, "EffectiveCost": money,
            "ChargeCategory": "Credit", "ChargeFrequency": "Recurring",
            "ChargeDescription": "Startup program credit (demo)",
            "ChargePeriodStart": _ts(month_start), "ChargePeriodEnd": _ts(_next_month(month_start)),
            "ServiceCategory": "AI and Machine Learning", "ServiceSubcategory": "Generative AI",
        })
        return row

    def vectorbase_rows(self, month_start: date, days: list[date]) -> Iterator[dict[str, str]]:
        label = month_start.strftime("%Y-%m")
        base = {"Invoice Month": label, "Organization ID": VB_ORG, "Project": "brightwave", "Region": "us-east-1"}
        yield {
            **base, "Start Date": month_start.isoformat(), "End Date": _next_month(month_start).isoformat(),
            "Index": "", "Line Item": "Standard plan, monthly fee", "Meter": "plan-standard", "Quantity": "1",
            "Unit": "Months", "Unit Price (USD)": _money(VB_PLAN_MONTHLY), "Amount (USD)": _money(VB_PLAN_MONTHLY),
            "Charge Type": "Purchase", "Tag: env": "prod", "Tag: team": "platform", "Tag: feature": "",
        }
        month_days = (_next_month(month_start) - month_start).days
        for day in days:
            for ix in VECTOR_INDEXES:
                for env in ("prod", "staging") if ix.staging else ("prod",):
                    rng = self._rng(MAPPING_NAME, ix.name, env, day.isoformat())
                    level = self._level(day, env) if env == "prod" else 0.05 * self._level(day, "prod")
                    spike = 3 if ix.feature == "kb-answers" and day == self.runaway and env == "prod" else 1
                    reads = round(ix.reads * level * spike * rng.lognormvariate(0, 0.1))
                    writes = round(ix.writes * level * rng.lognormvariate(0, 0.2))
                    growth = MONTHLY_GROWTH ** ((day - self.today).days / 30.44)
                    gb_months = (Decimal(ix.storage_gb * growth * (1 if env == "prod" else 0.1))
                                 / month_days).quantize(Decimal("1e-6"))
                    row = {**base, "Start Date": day.isoformat(), "End Date": (day + timedelta(days=1)).isoformat(),
                           "Index": ix.name, "Charge Type": "Usage", "Tag: env": env, "Tag: team": ix.owner,
                           "Tag: feature": ix.feature}
                    for meter, item, qty, unit, unit_price, divisor in (
                        ("read-units", "Read units", Decimal(reads), "Read Units", VB_READ_PER_MILLION, 1_000_000),
                        ("write-units", "Write units", Decimal(writes), "Write Units", VB_WRITE_PER_MILLION,
                         1_000_000),
                        ("storage", "Storage", gb_months, "GB-Months", VB_STORAGE_PER_GB_MONTH, 1),
                    ):
                        amount = (qty * unit_price / divisor).quantize(Decimal("1e-6"))
                        yield {**row, "Line Item": f"{item}, index {ix.name}", "Meter": meter,
                               "Quantity": _money(qty), "Unit": unit,
                               "Unit Price (USD)": _money(unit_price / divisor), "Amount (USD)": _money(amount)}


# --- pricing: genai-prices itself, per request ----------------------------------------------------


@cache
def _book() -> PriceBook:
    return PriceBook()


@cache
def _model_info(provider: str, publisher: str, model_raw: str) -> gp.ModelInfo:
    """The genai-prices model the ledger's pricer will resolve this row to."""
    hit = _book().resolve(provider, publisher, model_raw)
    if hit is None:
        raise PricingError(f"demo model {model_raw!r} ({provider}) is not in the genai-prices book")
    book_provider, model_id = hit
    for p in data_snapshot.get_snapshot().providers:
        if p.id == book_provider:
            for m in p.models:
                if m.id == model_id:
                    return m
    raise PricingError(f"genai-prices has no model {model_id!r} under {book_provider!r}")


def _cost_per_request(provider: str, publisher: str, model: str, day: date,
                      n_in: int, n_cr: int, n_cw: int, n_out: int) -> Decimal:
    # Noon UTC: the instant the pricer evaluates a day's prices at.
    prices = _model_info(provider, publisher, model).get_prices(datetime.combine(day, time(12), tzinfo=UTC))
    usage = Usage(input_tokens=n_in, cache_read_tokens=n_cr, cache_write_tokens=n_cw, output_tokens=n_out)
    return Decimal(prices.calc_price(usage)["total_price"])


# --- small helpers ----------------------------------------------------------------------------------


def _billing(vendor: Vendor, day: date) -> dict[str, str]:
    month_start = day.replace(day=1)
    return {
        "BillingAccountId": vendor.billing_account_id, "BillingAccountName": vendor.billing_account_name,
        "BillingCurrency": "USD", "BillingPeriodStart": _ts(month_start),
        "BillingPeriodEnd": _ts(_next_month(month_start)), "InvoiceIssuerName": vendor.invoice_issuer,
        "ProviderName": vendor.provider_name, "PublisherName": vendor.publisher_name,
        "RegionId": vendor.region_id, "RegionName": vendor.region_name, "ServiceName": vendor.service_name,
    }


def _sub_account(vendor: Vendor, wl: Workload, env: str) -> tuple[str, str, str]:
    """(SubAccountId, SubAccountName, x_Project) as each vendor structures its accounts."""
    if vendor.key == "openai":
        return "proj_" + _digest("openai", wl.project)[:24], wl.project, wl.project
    if vendor.key == "anthropic":
        return "wrkspc_01" + _digest("anthropic", wl.project)[:22], wl.project, wl.project
    if vendor.key == "aws-bedrock":
        account = {"prod": "210987654321", "staging": "309876543210", "dev": "408765432109"}[env]
        return account, f"brightwave-{env}", wl.project
    if vendor.key == "azure-openai":
        h = _digest("azure", env)
        subscription = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        return subscription, f"Brightwave {env.title()}", f"{wl.project}-{env}"
    return f"{wl.project}-{env}", f"{wl.project}-{env}", f"{wl.project}-{env}"


def _api_key(vendor: Vendor, project: str, env: str) -> str:
    h = _digest(vendor.key, project, env)
    return f"key_{h[:16]}" if vendor.key == "openai" else f"apikey_01{h[:22]}"


def _digest(*parts: str) -> str:
    return hashlib.sha256(":".join(parts).encode()).hexdigest()


def _money(value: Decimal) -> str:
    """A plain decimal string (no exponent), at most 10 places, trailing zeros kept short."""
    text = format(value.quantize(MONEY_PLACES), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _ts(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _months(start: date, end: date) -> Iterator[date]:
    month = start.replace(day=1)
    while month <= end:
        yield month
        month = _next_month(month)


def _days(start: date, stop: date) -> Iterator[date]:
    day = start
    while day < stop:
        yield day
        day += timedelta(days=1)


def _csv_text(columns: tuple[str, ...], rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
