"""aispend's own event shape: one JSON object a line, for gateways and apps without OTel.

Only ``id``, ``time``, ``provider`` and ``model`` are required::

    {"id": "req-8f2c", "time": "2026-11-03T14:07:21.250Z", "provider": "openai", "model": "gpt-4o-mini",
     "input_tokens": 1200, "cache_read_tokens": 1024, "output_tokens": 180, "duration_ms": 840,
     "customer": "acme", "feature": "summarize", "environment": "prod", "project": "proj_abc",
     "attributes": {"branch": "main", "region": "eu"}}

Token counts follow the ledger's semantics and are checked: cache reads and writes are part of
``input_tokens`` (their sum may not exceed it), reasoning is part of ``output_tokens``. A field
that is not listed here is an error (a typo such as ``custmer`` would silently lose attribution);
free-form values go in ``attributes``. docs/events.md lists every field.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, ValidationError, model_validator

from ..schema import SERVICE_TIERS
from .mapping import RowProblem, event_provider, safe_key_id, utc
from .schema import EVENT_TOKENS

Tier = Literal[SERVICE_TIERS]  # type: ignore[valid-type]


class GenericEvent(BaseModel):
    """One event of the generic JSONL shape."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(min_length=1, description="Unique per request; a re-import replaces the event with this id.")
    time: datetime = Field(description="Request start: ISO 8601 (no offset means UTC) or Unix seconds.")
    provider: str = Field(min_length=1, description="Who bills the call: openai, anthropic, aws, azure, gcp, ...")
    model: str = Field(min_length=1, description="Model as the provider names it.")
    input_tokens: NonNegativeInt = 0
    output_tokens: NonNegativeInt = 0
    cache_read_tokens: NonNegativeInt = 0
    cache_write_tokens: NonNegativeInt = 0
    reasoning_tokens: NonNegativeInt = 0
    duration_ms: NonNegativeInt | None = None
    status: Literal["ok", "error", "cache_hit"] = "ok"
    operation: str | None = None
    service_tier: Tier | None = None
    trace_id: str | None = None
    service: str | None = None
    environment: str | None = None
    project: str | None = None
    api_key_id: str | None = None
    customer: str | None = None
    feature: str | None = None
    experiment: str | None = None
    branch: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _subsets(self) -> GenericEvent:
        if self.cache_read_tokens + self.cache_write_tokens > self.input_tokens:
            raise ValueError("cache_read_tokens + cache_write_tokens exceed input_tokens (input includes cached tokens)")
        if self.reasoning_tokens > self.output_tokens:
            raise ValueError("reasoning_tokens exceed output_tokens (output includes reasoning tokens)")
        return self


def jsonl_event(rec: Any, source: str) -> dict[str, Any]:
    """One generic record as an event row; :class:`RowProblem` names the field and the reason."""
    try:
        ev = GenericEvent.model_validate(rec)
    except ValidationError as exc:
        first = exc.errors()[0]
        column = ".".join(str(p) for p in first["loc"]) or None
        raise RowProblem(column, first["msg"]) from None
    cache_hit = ev.status == "cache_hit"
    extra = {**ev.attributes, **({"branch": ev.branch} if ev.branch else {})}
    tokens = {c: getattr(ev, c) for c in EVENT_TOKENS}
    if cache_hit:  # answered from the gateway's cache: the provider billed nothing
        if any(tokens.values()):
            extra["cached_response_tokens"] = {k: v for k, v in tokens.items() if v}
        tokens = dict.fromkeys(tokens, 0)
    return {
        "event_id": ev.id,
        "trace_id": ev.trace_id,
        "time": utc(ev.time),
        "provider": event_provider(ev.provider),
        "model_raw": ev.model,
        "operation": ev.operation,
        "service_tier": ev.service_tier,
        **tokens,
        "requests": 0 if cache_hit else 1,
        "duration_ms": ev.duration_ms,
        "status": ev.status,
        "service": ev.service,
        "environment": ev.environment,
        "project": ev.project,
        "api_key_id": safe_key_id(ev.api_key_id),
        "customer": ev.customer,
        "feature": ev.feature,
        "experiment": ev.experiment,
        "attributes": json.dumps(extra, sort_keys=True, default=str) if extra else None,
        "source": source,
    }
