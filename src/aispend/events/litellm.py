"""LiteLLM proxy spend logs (``LiteLLM_SpendLogs`` rows, one JSON object a line) -> event rows.

Export them with LiteLLM's ``/spend/logs`` API or straight from its database; a JSON array of rows
is read too. Fields read (anything else is ignored, tolerant of older and newer LiteLLM versions):

================================  =========================================================
LiteLLM field                     event
================================  =========================================================
``request_id``                    ``event_id`` (required)
``startTime``, ``endTime``        ``time`` (required; ISO 8601 or Unix seconds), ``duration_ms``
``custom_llm_provider``           ``provider`` (bedrock -> aws, vertex_ai/gemini -> gcp, ...);
                                  else the ``provider/`` prefix of ``model``, else ``api_base``'s host
``model``                         ``model_raw`` (required; a ``provider/`` prefix is dropped)
``prompt_tokens``                 ``input_tokens`` (LiteLLM counts cached tokens in it)
``completion_tokens``             ``output_tokens``
``metadata.usage_object``         cache and reasoning tokens: ``prompt_tokens_details.cached_tokens``
 (or ``additional_usage_values``) or ``cache_read_input_tokens``; ``cache_creation_input_tokens``;
                                  ``completion_tokens_details.reasoning_tokens``
``call_type``                     ``operation`` (completion -> chat, embedding -> embeddings)
``status`` / ``metadata.status``  ``status``: success -> ok, failure -> error
``cache_hit``                     true -> status ``cache_hit``: 0 requests and 0 tokens (LiteLLM
                                  answered from its cache; the provider never billed it)
``api_key``                       ``api_key_id``: LiteLLM's SHA-256 of the virtual key, kept as
                                  its id; a value that may be a raw key is hashed, never stored
``end_user``                      ``customer`` (unless an attribution attribute names one)
``metadata.spend_logs_metadata``  attribution attributes (customer, feature, ...): see
 and ``request_tags``             docs/events.md; tags are read as ``name:value`` or ``name=value``
``user``, ``team_id``,            kept in ``attributes`` (with the key alias, team alias,
``model_group``, ``spend``        ``model_id``, the tags and LiteLLM's own cost as ``litellm_spend``)
================================  =========================================================

The rest of ``metadata`` (request headers, IP addresses, guardrail details) is never stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

from .mapping import (
    COLUMN_FIELDS,
    AttributeMap,
    RowProblem,
    event_provider,
    inclusive_tokens,
    parse_time,
    safe_key_id,
    token_count,
)

_DECODER = json.JSONDecoder(parse_float=Decimal)  # exact numbers (LiteLLM's spend) without float rounding
_OPERATIONS = {"completion": "chat", "acompletion": "chat", "embedding": "embeddings", "aembedding": "embeddings",
               "text_completion": "text_completion", "atext_completion": "text_completion",
               "image_generation": "image_generation", "aimage_generation": "image_generation",
               "responses": "chat", "aresponses": "chat", "anthropic_messages": "chat"}
_HOSTS = {"api.openai.com": "openai", "api.anthropic.com": "anthropic", "openai.azure.com": "azure",
          "aiplatform.googleapis.com": "gcp", "generativelanguage.googleapis.com": "gcp",
          "amazonaws.com": "aws", "api.mistral.ai": "mistral", "api.groq.com": "groq", "api.x.ai": "xai"}


def _json_field(value: Any, column: str) -> Any:
    """LiteLLM writes metadata and request_tags as JSON text in its table, as objects in its API."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return _DECODER.decode(value)
        except json.JSONDecodeError:
            raise RowProblem(column, "is not valid JSON") from None
    return value


def _provider(rec: Mapping[str, Any], model: str) -> str | None:
    if rec.get("custom_llm_provider"):
        return event_provider(rec["custom_llm_provider"])
    if "/" in model:
        return event_provider(model.split("/", 1)[0])
    host = urlparse(str(rec.get("api_base") or "")).hostname or ""
    return next((p for suffix, p in _HOSTS.items() if host == suffix or host.endswith("." + suffix)), None)


def _tags(value: Any) -> dict[str, str]:
    tags = {}
    for tag in value if isinstance(value, list) else []:
        if isinstance(tag, str):
            for sep in (":", "="):
                name, found, val = tag.partition(sep)
                if found and name and val:
                    tags.setdefault(name.strip(), val.strip())
                    break
    return tags


def litellm_event(rec: Mapping[str, Any], mapping: AttributeMap, source: str) -> dict[str, Any]:
    """One SpendLogs row as an event row; :class:`RowProblem` names what is wrong."""
    if not isinstance(rec, Mapping):
        raise RowProblem(None, "is not a JSON object")
    request_id = rec.get("request_id")
    if not request_id:
        raise RowProblem("request_id", "is missing")
    model = str(rec.get("model") or "").strip()
    if not model:
        raise RowProblem("model", "is missing")
    provider = _provider(rec, model)
    if provider is None:
        raise RowProblem("custom_llm_provider", "is missing and the model and api_base do not name a provider")
    prefix = str(rec.get("custom_llm_provider") or "").lower()
    if prefix and model.lower().startswith(prefix + "/"):
        model = model[len(prefix) + 1:]
    elif "/" in model and event_provider(model.split("/", 1)[0]) == provider:
        model = model.split("/", 1)[1]
    try:
        start = parse_time(rec.get("startTime"))
    except ValueError as exc:
        raise RowProblem("startTime", str(exc)) from None
    try:
        end = parse_time(rec["endTime"]) if rec.get("endTime") not in (None, "") else None
    except ValueError as exc:
        raise RowProblem("endTime", str(exc)) from None

    metadata = _json_field(rec.get("metadata"), "metadata") or {}
    if not isinstance(metadata, Mapping):
        metadata = {}
    usage = metadata.get("usage_object") or metadata.get("additional_usage_values") or {}
    usage = usage if isinstance(usage, Mapping) else {}
    prompt_details = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), Mapping) else {}
    output_details = (usage.get("completion_tokens_details")
                      if isinstance(usage.get("completion_tokens_details"), Mapping) else {})
    raw_tokens = {
        "input_tokens": ("prompt_tokens", rec.get("prompt_tokens")),
        "output_tokens": ("completion_tokens", rec.get("completion_tokens")),
        "cache_read_tokens": ("usage_object.cache_read_input_tokens",
                              usage.get("cache_read_input_tokens") or prompt_details.get("cached_tokens")),
        "cache_write_tokens": ("usage_object.cache_creation_input_tokens", usage.get("cache_creation_input_tokens")),
        "reasoning_tokens": ("usage_object.completion_tokens_details.reasoning_tokens",
                             output_details.get("reasoning_tokens")),
    }
    tokens: dict[str, int | None] = {}
    for column, (name, value) in raw_tokens.items():
        try:
            tokens[column] = token_count(value)
        except (TypeError, ValueError) as exc:
            raise RowProblem(name, str(exc)) from None
    tokens = inclusive_tokens(tokens)

    cache_hit = str(rec.get("cache_hit")).lower() == "true"
    status_text = str(rec.get("status") or metadata.get("status") or "success").lower()
    status = "cache_hit" if cache_hit else ("error" if status_text in {"failure", "error", "failed"} else "ok")
    custom = metadata.get("spend_logs_metadata")
    custom = custom if isinstance(custom, Mapping) else {}
    request_tags = _json_field(rec.get("request_tags"), "request_tags")
    tags = _tags(request_tags)
    row: dict[str, Any] = {f: mapping.pick(f, custom, tags) for f in COLUMN_FIELDS}
    row["customer"] = row["customer"] or (str(rec["end_user"]) if rec.get("end_user") else None)
    row["api_key_id"] = safe_key_id(row["api_key_id"] or rec.get("api_key"))
    spend = rec.get("spend")
    extra = {
        "branch": mapping.pick("branch", custom, tags),
        "user": rec.get("user") or None,
        "team_id": rec.get("team_id") or metadata.get("user_api_key_team_id") or None,
        "team_alias": metadata.get("user_api_key_team_alias") or None,
        "key_alias": metadata.get("user_api_key_alias") or None,
        "model_group": rec.get("model_group") or None,
        "model_id": rec.get("model_id") or None,
        "tags": request_tags or None,
        "litellm_spend": str(spend) if isinstance(spend, (int, Decimal)) and not isinstance(spend, bool) else None,
    }
    if cache_hit:
        extra["cached_response_tokens"] = {k: v for k, v in tokens.items() if v}
        tokens = dict.fromkeys(tokens, 0)
    call_type = str(rec.get("call_type") or "")
    row.update(
        event_id=str(request_id),
        trace_id=None,
        time=start,
        provider=provider,
        model_raw=model,
        operation=_OPERATIONS.get(call_type, call_type or None),
        service_tier=None,
        requests=0 if cache_hit else 1,
        duration_ms=int((end - start).total_seconds() * 1000) if end and end >= start else None,
        status=status,
        attributes=json.dumps({k: v for k, v in extra.items() if v is not None}, sort_keys=True, default=str),
        source=source,
        **tokens,
    )
    return row
