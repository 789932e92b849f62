"""Per-request events: OpenTelemetry GenAI spans and gateway logs, for attribution.

Vendor bills stop at the project or API key; applications know the customer, feature and
experiment. Events carry both, one row per LLM call, joinable to ledger rows by
``(day, provider, model, project, api_key_id)``; a daily rollup keeps the totals once raw events
are pruned. docs/events.md is the user's guide.

    otel.py     OTLP protobuf / JSON -> rows      litellm.py  LiteLLM spend logs -> rows
    jsonl.py    aispend's generic JSONL -> rows    mapping.py  attribute names, providers, token rules
    store.py    idempotent load + rollup, prune    files.py    `aispend events import`
    query.py    list and summary                   schema.py   the tables' columns
"""

from __future__ import annotations

from .files import FORMATS, EventsImport, EventsValidationError, detect_format, import_events
from .mapping import DEFAULT_ATTRIBUTES, AttributeMap
from .otel import PayloadError, SpanBatch, decode_json, decode_protobuf, spans_to_events
from .query import events_summary, list_events
from .schema import EVENT_COLUMNS, ROLLUP_KEYS
from .store import LoadResult, PruneResult, append_events, priced_events, prune_events, store_events

__all__ = [
    "DEFAULT_ATTRIBUTES",
    "EVENT_COLUMNS",
    "FORMATS",
    "ROLLUP_KEYS",
    "AttributeMap",
    "EventsImport",
    "EventsValidationError",
    "LoadResult",
    "PayloadError",
    "PruneResult",
    "SpanBatch",
    "append_events",
    "decode_json",
    "decode_protobuf",
    "detect_format",
    "events_summary",
    "import_events",
    "list_events",
    "priced_events",
    "prune_events",
    "spans_to_events",
    "store_events",
]
