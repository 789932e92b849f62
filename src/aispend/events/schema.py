"""The ``events`` table (one row per LLM call) and its ``events_daily`` rollup.

An event is what an application or gateway saw of one request: when, which provider and model,
how many tokens, for whom (customer, feature, experiment) and through which project or API key.
Token columns follow the ledger's semantics (``aispend.schema``): ``input_tokens`` includes cached
tokens, cache reads/writes are subsets of it, reasoning tokens a subset of ``output_tokens``.

``(day, provider, model, project, api_key_id)`` is the key that joins events to billed ledger
rows: ``model`` is canonicalised by the same price book as the ledger's, ``day`` is the UTC date.
The rollup keeps those keys plus customer, feature, experiment and environment, so raw events can
be pruned without losing what allocation needs.
"""

from __future__ import annotations

import pyarrow as pa

from ..schema import MONEY_ARROW

EVENT_FIELDS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("event_id", pa.string(), "The source's own id (trace_id:span_id, request_id): re-delivery replaces it."),
    ("trace_id", pa.string(), "OTel trace id (hex), when known."),
    ("time", pa.timestamp("us"), "Request start, UTC."),
    ("day", pa.date32(), "UTC date of `time`: the join key with the ledger's daily rows."),
    ("provider", pa.string(), "Who bills the call (openai, anthropic, aws, azure, gcp, ...)."),
    ("model", pa.string(), "Canonical model id (the price book's), else model_raw."),
    ("model_raw", pa.string(), "Model as the source wrote it (response model first)."),
    ("operation", pa.string(), "chat, embeddings, text_completion, ... (gen_ai.operation.name)."),
    ("service_tier", pa.string(), "standard, batch, priority or flex, when the source says."),
    ("input_tokens", pa.int64(), "All input tokens, cached included."),
    ("output_tokens", pa.int64(), "All output tokens, reasoning included."),
    ("cache_read_tokens", pa.int64(), "Input tokens read from cache (subset of input)."),
    ("cache_write_tokens", pa.int64(), "Input tokens written to cache (subset of input)."),
    ("reasoning_tokens", pa.int64(), "Reasoning tokens (subset of output)."),
    ("requests", pa.int64(), "1, or 0 for a gateway cache hit (the provider never saw it)."),
    ("duration_ms", pa.int64(), "End minus start, milliseconds."),
    ("status", pa.string(), "ok, error or cache_hit."),
    ("service", pa.string(), "The calling application (service.name)."),
    ("environment", pa.string(), "prod, staging, dev, ..."),
    ("project", pa.string(), "Vendor project or workspace the call used."),
    ("api_key_id", pa.string(), "API key id or hash: never a raw key."),
    ("customer", pa.string(), "End customer the call served."),
    ("feature", pa.string(), "Product feature that made the call."),
    ("experiment", pa.string(), "Experiment arm."),
    ("attributes", pa.string(), "JSON object: branch and other kept attributes."),
    ("source", pa.string(), "otlp (receiver) or FORMAT:FILE (import)."),
    ("ingested_at", pa.timestamp("us"), "When aispend stored the event, UTC."),
    ("estimated_cost_usd", MONEY_ARROW, "List price from the book at load time, less [pricing] discounts; NULL if unpriced."),
    ("pricing_status", pa.string(), "priced, override, unpriced (model unknown) or none (no tokens)."),
)

EVENT_COLUMNS = tuple(name for name, _, _ in EVENT_FIELDS)
EVENT_SCHEMA = pa.schema([(name, typ) for name, typ, _ in EVENT_FIELDS])
EVENT_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")

# What the parsers fill; load fills day, model, estimated cost, pricing status and ingested_at.
PARSED_COLUMNS = tuple(c for c in EVENT_COLUMNS if c not in {"day", "model", "ingested_at", "estimated_cost_usd",
                                                             "pricing_status"})

ROLLUP_KEYS = ("day", "provider", "model", "project", "api_key_id", "customer", "feature", "experiment", "environment")
ROLLUP_MEASURES = ("events", "requests", "error_events", *EVENT_TOKENS, "estimated_cost_usd", "unpriced_events")
# Dimensions `aispend events list|summary` filter and group by.
EVENT_DIMENSIONS = ("provider", "model", "model_raw", "project", "api_key_id", "customer", "feature", "experiment",
                    "environment", "service", "status", "source", "operation")
STATUSES = ("ok", "error", "cache_hit")
