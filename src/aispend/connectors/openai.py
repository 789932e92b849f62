"""OpenAI: the Costs API (billed dollars) and the Usage API (tokens, requests), read-only.

Wire format: shared/reference/vendors.md §1. Authentication is an organization *admin* key
(``Authorization: Bearer sk-admin-...``); a project key is refused. Pages are
``{object: page, data: [bucket], has_more, next_page}`` and the next one is asked with
``page=<next_page>``. ``limit`` counts buckets: we ask for the maximum per width (usage 31 daily
or 168 hourly buckets, costs 180 days) so a 90-day backfill is a handful of requests.

Costs land under the source's name (``cost_source = billed``), usage under ``NAME:usage``
(``estimated``): they are the same money seen twice and must never be added up.
The pages are normalized by the import formats ``openai`` and ``openai-usage``: one mapping.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ..config import SecretRef, SourceConfig
from .base import Connector, Endpoint, Params
from .http import HttpClient

_MODEL_KEYS = ("project_id", "api_key_id", "model")
# Usage endpoints: path -> group_by (the keys each endpoint supports that attribution needs).
USAGE: dict[str, tuple[str, ...]] = {
    "completions": (*_MODEL_KEYS, "batch", "service_tier"),
    "embeddings": _MODEL_KEYS,
    "moderations": _MODEL_KEYS,
    "images": (*_MODEL_KEYS, "size", "source"),
    "audio_speeches": _MODEL_KEYS,
    "audio_transcriptions": _MODEL_KEYS,
    "vector_stores": ("project_id",),
    "code_interpreter_sessions": ("project_id",),
    "file_search_calls": ("project_id", "api_key_id", "vector_store_id"),
    "web_search_calls": (*_MODEL_KEYS, "context_level"),
}
# Buckets per page, by width: the API's maximum (costs: 1d only, up to 180).
USAGE_LIMITS = {"1d": 31, "1h": 168}
COSTS_LIMIT = 180


class OpenAISettings(SourceConfig):
    model_config = SourceConfig.model_config | {"extra": "forbid"}
    type: Literal["openai"]
    api_key: SecretRef  # required: an organization admin key


class OpenAIConnector(Connector):
    type = "openai"
    default_base_url = "https://api.openai.com/v1"
    settings_model = OpenAISettings
    auth_hint = "check the admin key: the Usage and Costs APIs need an organization admin key (sk-admin-...) with admin scope"
    granularities = ("1d", "1h")

    def endpoints(self) -> list[Endpoint]:
        costs = Endpoint("costs", "/organization/costs", "openai", "", ("1d",), ("line_item", "project_id"))
        usage = [Endpoint(f"usage.{kind}", f"/organization/usage/{kind}", "openai-usage", ":usage", ("1d", "1h"), keys)
                 for kind, keys in USAGE.items()]
        return [costs, *usage]

    def first_params(self, endpoint: Endpoint, start: datetime, end: datetime, granularity: str) -> Params:
        width = endpoint.width(granularity)
        limit = COSTS_LIMIT if endpoint.name == "costs" else USAGE_LIMITS[width]
        params = [("start_time", str(_epoch(start))), ("end_time", str(_epoch(end))),
                  ("bucket_width", width), ("limit", str(limit))]
        return params + [("group_by", key) for key in endpoint.group_by]

    def next_params(self, endpoint: Endpoint, params: Params, body: Any) -> Params | None:
        if not body.get("has_more") or not body.get("next_page"):
            return None
        return [p for p in params if p[0] != "page"] + [("page", str(body["next_page"]))]

    def check(self, http: HttpClient) -> str:
        costs = self.endpoints()[0]
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        params = [("start_time", str(_epoch(today - timedelta(days=1)))), ("bucket_width", "1d"), ("limit", "1")]
        body = http.get(self.url(costs), params, what=f"{self.name}: check").json()
        return f"admin key accepted; costs readable ({len(body.get('data') or [])} bucket(s) for yesterday)"


def _epoch(when: datetime) -> int:
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


CONNECTOR = OpenAIConnector
