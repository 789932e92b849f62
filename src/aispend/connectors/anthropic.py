"""Anthropic: the Admin API's cost report (billed cents) and usage report (tokens), read-only.

Wire format: shared/reference/vendors.md §2. Authentication is an organization *Admin* key
(``x-api-key: sk-ant-admin01-...``) plus ``anthropic-version: 2023-06-01``; a normal API key is
refused. Times are RFC 3339 strings (``starting_at`` inclusive, ``ending_at`` exclusive), array
parameters are sent with brackets (``group_by[]=model``), and pages are
``{data: [bucket], has_more, next_page}``, the next one asked with ``page=<next_page>``. ``limit``
counts buckets: we ask for the maximum per width (usage 31 daily or 168 hourly buckets, cost 31
days) so a 90-day backfill is a handful of requests.

Costs land under the source's name (``cost_source = billed``; ``amount`` is a decimal string in
CENTS, converted by the format), usage under ``NAME:usage`` (``estimated``): the same money seen
twice, never to be added up. Pages are normalized by the import formats ``anthropic`` and
``anthropic-usage``: one mapping for files and sync.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ..config import SecretRef, SourceConfig
from .base import Connector, Endpoint, Params
from .http import HttpClient

API_VERSION = "2023-06-01"
# Buckets per page, by width: the API's maximum (the cost report is daily only, up to 31).
USAGE_LIMITS = {"1d": 31, "1h": 168}
COST_LIMIT = 31
# What attribution needs; ``speed`` needs a beta header, account ids only matter for OAuth callers.
USAGE_GROUP_BY = ("model", "workspace_id", "api_key_id", "service_tier", "context_window", "inference_geo")
# Without ``description`` the cost report's model, token_type, cost_type and tier are all null.
COST_GROUP_BY = ("workspace_id", "description")


class AnthropicSettings(SourceConfig):
    model_config = SourceConfig.model_config | {"extra": "forbid"}
    type: Literal["anthropic"]
    api_key: SecretRef  # required: an organization Admin key


class AnthropicConnector(Connector):
    type = "anthropic"
    default_base_url = "https://api.anthropic.com/v1"
    settings_model = AnthropicSettings
    auth_hint = ("check the admin key: the usage and cost reports need an organization Admin API key "
                 "(sk-ant-admin01-..., Console > Settings > Admin keys), not a normal API key")
    granularities = ("1d", "1h")
    # Two cost lines of one day and workspace differ at least by their description.
    natural_key = (*Connector.natural_key, "description")

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint("cost_report", "/organizations/cost_report", "anthropic", "", ("1d",), COST_GROUP_BY),
            Endpoint("usage_report.messages", "/organizations/usage_report/messages", "anthropic-usage", ":usage",
                     ("1d", "1h"), USAGE_GROUP_BY),
        ]

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {"x-api-key": secret, "anthropic-version": API_VERSION}

    def first_params(self, endpoint: Endpoint, start: datetime, end: datetime, granularity: str) -> Params:
        width = endpoint.width(granularity)
        limit = COST_LIMIT if endpoint.name == "cost_report" else USAGE_LIMITS[width]
        params = [("starting_at", rfc3339(start)), ("ending_at", rfc3339(end)),
                  ("bucket_width", width), ("limit", str(limit))]
        return params + [("group_by[]", key) for key in endpoint.group_by]

    def next_params(self, endpoint: Endpoint, params: Params, body: Any) -> Params | None:
        if not body.get("has_more") or not body.get("next_page"):
            return None
        return [p for p in params if p[0] != "page"] + [("page", str(body["next_page"]))]

    def check(self, http: HttpClient) -> str:
        cost = self.endpoints()[0]
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        params = [("starting_at", rfc3339(today - timedelta(days=1))), ("ending_at", rfc3339(today)),
                  ("bucket_width", "1d"), ("limit", "1")]
        body = http.get(self.url(cost), params, what=f"{self.name}: check").json()
        return f"admin key accepted; cost report readable ({len(body.get('data') or [])} bucket(s) for yesterday)"


def rfc3339(when: datetime) -> str:
    """``2026-01-01T00:00:00Z``: the engine's windows are naive UTC."""
    when = when.astimezone(UTC) if when.tzinfo else when
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


CONNECTOR = AnthropicConnector
