"""The unified ledger row: one charge over one charge period.

This module is the single source of truth for the ledger's columns. The store builds its tables
from it, the importers project onto it, and `docs/schema.md` is checked against it by the tests.

Token semantics (every normalizer converts to these):

* ``input_tokens`` counts every input token processed, cached or not.
* ``cache_read_tokens`` and ``cache_write_tokens`` are subsets of ``input_tokens``.
* ``reasoning_tokens`` is a subset of ``output_tokens``.

Money is exact: ``DECIMAL(38, 18)`` in the store, ``decimal128(38, 18)`` in Arrow, ``Decimal`` in
Python. Times are UTC; ``period_end`` is exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

SCHEMA_VERSION = 13

MONEY_PRECISION = 38
MONEY_SCALE = 18
MONEY_SQL = f"DECIMAL({MONEY_PRECISION}, {MONEY_SCALE})"
MONEY_ARROW = pa.decimal128(MONEY_PRECISION, MONEY_SCALE)


@dataclass(frozen=True)
class Column:
    name: str
    sql: str  # portable SQL type (DuckDB spelling; the store adapters translate)
    group: str
    doc: str

    @property
    def arrow(self) -> pa.DataType:
        return _ARROW_TYPES[self.sql]


_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "TIMESTAMP": pa.timestamp("us"),
    MONEY_SQL: MONEY_ARROW,
    "JSON": pa.string(),
}

LEDGER_COLUMNS: tuple[Column, ...] = (
    # lineage
    Column("row_id", "VARCHAR", "lineage", "Stable hash of source + natural key; the dedup key."),
    Column("source", "VARCHAR", "lineage", "Configured source name (or the import's --source)."),
    Column("source_type", "VARCHAR", "lineage", "Parser that produced the row: focus, csv, openai, ..."),
    Column("ingested_at", "TIMESTAMP", "lineage", "When the row was loaded (UTC)."),
    Column("batch_id", "VARCHAR", "lineage", "The import or sync batch that loaded the row."),
    # time
    Column("period_start", "TIMESTAMP", "time", "Charge period start, UTC, inclusive."),
    Column("period_end", "TIMESTAMP", "time", "Charge period end, UTC, exclusive."),
    Column("billing_period", "VARCHAR", "time", "Invoice month, YYYY-MM."),
    # who you pay / who made it
    Column("provider", "VARCHAR", "who", "Who bills you: aws, azure, gcp, openai, anthropic, ..."),
    Column("publisher", "VARCHAR", "who", "Who made the model or service (anthropic for Claude on Bedrock)."),
    Column("service", "VARCHAR", "who", "Vendor service name (Amazon Bedrock, Azure OpenAI, ...)."),
    Column("service_category", "VARCHAR", "who", "FOCUS ServiceCategory (AI and Machine Learning, ...)."),
    # what
    Column("model", "VARCHAR", "what", "Canonical model id (the price book's), else model_raw."),
    Column("model_raw", "VARCHAR", "what", "Model as the vendor wrote it."),
    Column("sku", "VARCHAR", "what", "Vendor SKU or meter."),
    Column("region", "VARCHAR", "what", "Vendor region id."),
    Column("service_tier", "VARCHAR", "what", "standard, batch, priority or flex."),
    # charge
    Column("charge_category", "VARCHAR", "charge", "usage, purchase, tax, credit or adjustment."),
    Column("description", "VARCHAR", "charge", "Vendor's charge description."),
    # quantities
    Column("input_tokens", "BIGINT", "quantities", "All input tokens processed, cached included."),
    Column("output_tokens", "BIGINT", "quantities", "All output tokens, reasoning included."),
    Column("cache_read_tokens", "BIGINT", "quantities", "Input tokens read from cache (subset of input)."),
    Column("cache_write_tokens", "BIGINT", "quantities", "Input tokens written to cache (subset of input)."),
    Column("reasoning_tokens", "BIGINT", "quantities", "Reasoning tokens (subset of output)."),
    Column("requests", "BIGINT", "quantities", "Number of requests, when known."),
    Column("quantity", MONEY_SQL, "quantities", "Vendor's consumed quantity, in `unit`."),
    Column("unit", "VARCHAR", "quantities", "Unit of `quantity` (Tokens, Hours, GB-Months, ...)."),
    # money
    Column("billed_cost", MONEY_SQL, "money", "Cost as billed, exact, in billing_currency."),
    Column("billing_currency", "VARCHAR", "money", "ISO 4217 code of billed_cost."),
    Column("cost_usd", MONEY_SQL, "money", "Billed cost in USD (dated FX), or the estimate when not billed."),
    Column("list_cost_usd", MONEY_SQL, "money", "Cost at the price book's list price, USD."),
    Column("cost_source", "VARCHAR", "money", "billed, estimated or allocated."),
    Column("pricing_status", "VARCHAR", "money", "priced, override, unpriced (model unknown) or none (no tokens)."),
    # attribution
    Column("account_id", "VARCHAR", "attribution", "Billing or sub-account (AWS account, subscription, org)."),
    Column("project", "VARCHAR", "attribution", "Vendor project, workspace or resource group."),
    Column("api_key_id", "VARCHAR", "attribution", "API key id (never the key itself)."),
    Column("environment", "VARCHAR", "attribution", "prod, staging, dev, ..."),
    Column("owner", "VARCHAR", "attribution", "Team or person accountable."),
    Column("feature", "VARCHAR", "attribution", "Product feature that caused the spend."),
    Column("customer", "VARCHAR", "attribution", "End customer the spend served."),
    Column("experiment", "VARCHAR", "attribution", "Experiment arm or branch."),
    Column("tags", "JSON", "attribution", "Vendor tags/labels as a JSON object of strings."),
    # added in schema version 2
    Column("invoice_id", "VARCHAR", "charge", "Vendor invoice number, when the source names it."),
    # added in schema version 9
    Column("attributed_by", "JSON", "attribution",
           "Which attribution rule set which field ({\"owner\": \"rule name\", \"tags.team\": ...}); NULL: none."),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in LEDGER_COLUMNS)
COLUMNS_BY_NAME: dict[str, Column] = {c.name: c for c in LEDGER_COLUMNS}
TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
MONEY_COLUMNS = tuple(c.name for c in LEDGER_COLUMNS if c.sql == MONEY_SQL)
# Dimensions a report can group or filter by.
DIMENSIONS = tuple(
    c.name
    for c in LEDGER_COLUMNS
    if c.sql == "VARCHAR" and c.group in {"lineage", "time", "who", "what", "charge", "money", "attribution"}
    and c.name not in {"row_id", "batch_id", "description"}
)

CHARGE_CATEGORIES = ("usage", "purchase", "tax", "credit", "adjustment")
COST_SOURCES = ("billed", "estimated", "allocated")
SERVICE_TIERS = ("standard", "batch", "priority", "flex")

ARROW_SCHEMA = pa.schema([pa.field(c.name, c.arrow) for c in LEDGER_COLUMNS])
