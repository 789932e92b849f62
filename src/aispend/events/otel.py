"""OpenTelemetry GenAI spans -> event rows (pure: bytes or dicts in, rows out).

Decoding uses the official ``opentelemetry-proto`` messages: ``application/x-protobuf`` bodies
with ``ParseFromString``, OTLP/JSON with ``google.protobuf.json_format`` after the one rewrite
OTLP/JSON needs (trace and span ids are hex there, base64 in the protobuf JSON mapping).

Which spans become events: those carrying ``gen_ai.provider.name`` / ``gen_ai.system`` or any
``gen_ai.usage.*`` attribute, except aggregates that would count tokens twice: agent and tool
operations (``invoke_agent``, ``create_agent``, ``execute_tool``, ``invoke_workflow``) and any
GenAI span with a descendant model call (a span reporting ``gen_ai.usage.*``) in the same request.
Other spans (HTTP, DB, ...) are accepted and ignored. A GenAI span without a model, a provider, a span id or a start time, or
with a token count that is not a whole number, is rejected (OTLP ``partial_success``).

Attributes read (first present wins):

* provider: ``gen_ai.provider.name``, ``gen_ai.system``
* model: ``gen_ai.response.model``, ``gen_ai.request.model``
* tokens: ``gen_ai.usage.input_tokens`` (or ``prompt_tokens``), ``gen_ai.usage.output_tokens``
  (or ``completion_tokens``), ``gen_ai.usage.cache_read.input_tokens`` (or
  ``cache_read_input_tokens``), ``gen_ai.usage.cache_creation.input_tokens`` (or
  ``cache_creation_input_tokens``), ``gen_ai.usage.reasoning.output_tokens`` (or
  ``reasoning_tokens``)
* ``gen_ai.operation.name``; service tier from ``openai.response.service_tier`` and its older names
* attribution (customer, feature, experiment, branch, project, api_key_id, environment, service)
  through :class:`~aispend.events.mapping.AttributeMap`: the span, then its ancestors in the same
  request, then the resource. Other ``aispend.*`` attributes are kept in the attributes JSON.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from ..errors import ImportError_
from .mapping import (
    COLUMN_FIELDS,
    AttributeMap,
    event_provider,
    inclusive_tokens,
    safe_key_id,
    service_tier,
    token_count,
)

AGGREGATE_OPERATIONS = frozenset({"invoke_agent", "create_agent", "execute_tool", "invoke_workflow"})
_TOKEN_ATTRIBUTES = {
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    "output_tokens": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    "cache_read_tokens": ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"),
    "cache_write_tokens": ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens"),
    "reasoning_tokens": ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens"),
}
_TIER_ATTRIBUTES = ("openai.response.service_tier", "gen_ai.openai.response.service_tier",
                    "openai.request.service_tier", "gen_ai.openai.request.service_tier")


class PayloadError(ImportError_):
    """The body is not an OTLP ExportTraceServiceRequest; nothing of it was stored."""


@dataclass
class SpanBatch:
    """Events from one request, and the GenAI spans that could not become events."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    ignored: int = 0  # non-GenAI and aggregate spans


def decode_protobuf(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise PayloadError(f"body is not a protobuf ExportTraceServiceRequest: {exc}") from None
    return request


def decode_json(body: bytes | str | Mapping[str, Any]) -> ExportTraceServiceRequest:
    """OTLP/JSON: lowerCamelCase or snake_case names, hex ids, enums as numbers, unknown fields ignored."""
    if isinstance(body, Mapping):
        data: Any = body
    else:
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PayloadError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError("body is not an OTLP/JSON object (expected {\"resourceSpans\": [...]})")
    try:
        return json_format.ParseDict(_ids_to_base64(data), ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise PayloadError(f"body is not an OTLP/JSON ExportTraceServiceRequest: {exc}") from None


_ID_KEYS = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")


def _ids_to_base64(data: dict[str, Any]) -> dict[str, Any]:
    """A copy with every span and link id turned from OTLP/JSON's hex into proto3 JSON's base64."""

    def convert(obj: dict[str, Any]) -> dict[str, Any]:
        out = dict(obj)
        for key in _ID_KEYS:
            value = out.get(key)
            if isinstance(value, str) and value:
                try:
                    out[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise PayloadError(f"{key} {value[:40]!r} is not hex (OTLP/JSON ids are hex strings)") from None
        if isinstance(out.get("links"), list):
            out["links"] = [convert(x) if isinstance(x, dict) else x for x in out["links"]]
        return out

    copy = dict(data)
    for rkey in ("resourceSpans", "resource_spans"):
        resources = copy.get(rkey)
        if not isinstance(resources, list):
            continue
        new_resources = []
        for rs in resources:
            if isinstance(rs, dict):
                rs = dict(rs)
                for skey in ("scopeSpans", "scope_spans"):
                    if isinstance(rs.get(skey), list):
                        rs[skey] = [
                            {**ss, "spans": [convert(s) if isinstance(s, dict) else s for s in ss["spans"]]}
                            if isinstance(ss, dict) and isinstance(ss.get("spans"), list) else ss
                            for ss in rs[skey]
                        ]
            new_resources.append(rs)
        copy[rkey] = new_resources
    return copy


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes(items: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in items}


def _first(attrs: Mapping[str, Any], names: Iterable[str]) -> Any:
    for name in names:
        value = attrs.get(name)
        if value is not None and value != "":
            return value
    return None


def _has_usage(attrs: Mapping[str, Any]) -> bool:
    return any(k.startswith("gen_ai.usage.") for k in attrs)


def _is_genai(attrs: Mapping[str, Any]) -> bool:
    return "gen_ai.provider.name" in attrs or "gen_ai.system" in attrs or _has_usage(attrs)


def _time(nanos: int) -> datetime:
    return datetime.fromtimestamp(nanos // 1_000_000_000, UTC).replace(tzinfo=None, microsecond=(nanos // 1000) % 1_000_000)


def spans_to_events(request: ExportTraceServiceRequest, mapping: AttributeMap | None = None,
                    source: str = "otlp") -> SpanBatch:
    """The request's GenAI spans as event rows; see the module docstring for the rules."""
    mapping = mapping or AttributeMap.from_settings()
    consumed = mapping.consumed()
    # (trace, span) -> (attributes, parent): ancestors lend attribution, descendants mark aggregates.
    spans: dict[tuple[bytes, bytes], tuple[dict[str, Any], bytes]] = {}
    flat = []
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                attrs = attributes(span.attributes)
                spans[(span.trace_id, span.span_id)] = (attrs, span.parent_span_id)
                flat.append((resource, span, attrs))
    aggregates = set()
    for key, (attrs, parent) in spans.items():
        if _is_genai(attrs) and _has_usage(attrs) and attrs.get("gen_ai.operation.name") not in AGGREGATE_OPERATIONS:
            seen = {key}
            while parent and (key[0], parent) in spans and (key[0], parent) not in seen:
                seen.add((key[0], parent))
                aggregates.add((key[0], parent))
                parent = spans[(key[0], parent)][1]

    out = SpanBatch()
    for resource, span, attrs in flat:
        op = attrs.get("gen_ai.operation.name")
        if not _is_genai(attrs) or op in AGGREGATE_OPERATIONS or (span.trace_id, span.span_id) in aggregates:
            out.ignored += 1
            continue
        ancestors = []
        parent, seen = span.parent_span_id, set()
        while parent and (span.trace_id, parent) in spans and parent not in seen:
            seen.add(parent)
            p_attrs, parent = spans[(span.trace_id, parent)]
            ancestors.append(p_attrs)
        try:
            out.rows.append(_event(span, attrs, ancestors, resource, mapping, consumed, source))
        except ValueError as exc:
            out.rejected.append(f"span {span.span_id.hex() or '?'} ({span.name or 'unnamed'}): {exc}")
    return out


def _event(span: Any, attrs: dict[str, Any], ancestors: list[dict[str, Any]], resource: dict[str, Any],
           mapping: AttributeMap, consumed: set[str], source: str) -> dict[str, Any]:
    if not span.span_id:
        raise ValueError("no span id")
    if not span.start_time_unix_nano:
        raise ValueError("no start time")
    provider = event_provider(_first(attrs, ("gen_ai.provider.name", "gen_ai.system")))
    if provider is None:
        raise ValueError("no gen_ai.provider.name or gen_ai.system")
    model = _first(attrs, ("gen_ai.response.model", "gen_ai.request.model"))
    if model is None:
        raise ValueError("no gen_ai.response.model or gen_ai.request.model")
    tokens = {}
    for column, names in _TOKEN_ATTRIBUTES.items():
        try:
            tokens[column] = token_count(_first(attrs, names))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{names[0]} {exc}") from None
    scopes = (attrs, *ancestors, resource)
    row: dict[str, Any] = {f: mapping.pick(f, *scopes) for f in COLUMN_FIELDS}
    row["api_key_id"] = safe_key_id(row["api_key_id"])
    extra = {"branch": mapping.pick("branch", *scopes)}
    for scope in reversed(scopes):  # nearest scope wins
        extra.update({k: v for k, v in scope.items() if k.startswith("aispend.") and k not in consumed})
    error = span.status.code == Status.STATUS_CODE_ERROR or attrs.get("error.type") is not None
    end = span.end_time_unix_nano
    row.update(
        event_id=f"{span.trace_id.hex()}:{span.span_id.hex()}",
        trace_id=span.trace_id.hex() or None,
        time=_time(span.start_time_unix_nano),
        provider=provider,
        model_raw=str(model),
        operation=str(attrs["gen_ai.operation.name"]) if attrs.get("gen_ai.operation.name") else None,
        service_tier=service_tier(_first(attrs, _TIER_ATTRIBUTES)),
        requests=1,
        duration_ms=(end - span.start_time_unix_nano) // 1_000_000 if end >= span.start_time_unix_nano else None,
        status="error" if error else "ok",
        attributes=_json({k: v for k, v in extra.items() if v is not None}),
        source=source,
        **inclusive_tokens(tokens),
    )
    return row


def _json(obj: dict[str, Any]) -> str | None:
    return json.dumps(obj, sort_keys=True, default=str) if obj else None
