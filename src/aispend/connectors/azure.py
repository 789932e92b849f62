"""Azure: the Cost Management Query API (billed daily costs per meter), read-only.

Wire format: shared/reference/vendors.md §5.1 and §5.5. Authentication is an Entra ID service
principal (OAuth2 client credentials): ``POST {login_url}/{tenant_id}/oauth2/v2.0/token`` with the
client id and secret for the scope ``https://management.azure.com/.default`` gives a bearer token;
the query needs the ``Cost Management Reader`` role on the configured scope (nothing more).

One query per window: ``POST {base_url}/{scope}/providers/Microsoft.CostManagement/query`` with a
``Custom`` time period, ``Daily`` granularity, the summed cost and (at most two) grouping
dimensions, by default ``Meter`` and ``ResourceGroup``, filtered to the AI services' ``ServiceName``
values. Pages are ``{properties: {nextLink, columns, rows}}``; the next one is asked by POSTing the
SAME body to ``properties.nextLink``. Throttling is a 429 with
``x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after`` (honoured by the shared HTTP client).
Rows land under the source's name (``cost_source = billed``), normalized by ``azure-query``.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from ..config import SecretRef, SourceConfig
from ..errors import SyncError
from .base import Connector, Endpoint, Params, secret_alias
from .http import HttpClient

API_VERSION = "2023-03-01"
DEFAULT_LOGIN_URL = "https://login.microsoftonline.com"
ARM_SCOPE = "https://management.azure.com/.default"
# ServiceName (meter category) of Azure OpenAI and the Foundry models (vendors.md §5.4).
AI_SERVICE_NAMES = ("Cognitive Services", "Foundry Models")
# A 204 (no content) answer holds no rows: landed as this empty result.
EMPTY_RESULT = '{"properties": {"nextLink": null, "columns": [], "rows": []}}'
_NEXT = "nextLink"
TOKEN_MARGIN = 300  # seconds before expiry when a token is renewed


class AzureSettings(SourceConfig):
    model_config = SourceConfig.model_config | {"extra": "forbid"}
    type: Literal["azure"]
    tenant_id: str
    client_id: str
    api_key: SecretRef  # the client secret: written ``client_secret = { env = "..." }``
    scope: str  # subscriptions/{id} | providers/Microsoft.Billing/billingAccounts/{id} | ...
    login_url: str | None = None  # the token endpoint's base (default login.microsoftonline.com)
    metric: Literal["ActualCost", "AmortizedCost"] = "ActualCost"
    cost_column: Literal["Cost", "PreTaxCost", "CostUSD", "PreTaxCostUSD"] = "Cost"
    group_by: list[str] = Field(default_factory=lambda: ["Meter", "ResourceGroup"], min_length=1, max_length=2)
    service_names: list[str] = Field(default_factory=lambda: list(AI_SERVICE_NAMES))  # [] = every service

    @model_validator(mode="before")
    @classmethod
    def _client_secret(cls, data: Any) -> Any:
        return secret_alias(data, "client_secret", "/run/secrets/azure")

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str) -> str:
        value = value.strip().strip("/")
        if not value.lower().startswith(("subscriptions/", "providers/")) or "?" in value or "://" in value:
            raise ValueError("scope is a path such as subscriptions/<id> or "
                             "providers/Microsoft.Billing/billingAccounts/<id>")
        return value


class AzureConnector(Connector):
    type = "azure"
    default_base_url = "https://management.azure.com"
    settings_model = AzureSettings
    auth_hint = ("check the service principal: tenant_id, client_id and its client secret (the key) must be "
                 "valid, and it needs the Cost Management Reader role on the scope")
    granularities = ("1d",)
    # Rows of one day and meter may differ by currency and by the dimensions kept as tags.
    natural_key = (*Connector.natural_key, "service", "billing_currency", "description")

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.settings: AzureSettings
        self.login_url = (self.settings.login_url or DEFAULT_LOGIN_URL).rstrip("/")
        self._token: tuple[HttpClient, str, float] | None = None  # (client, token, refresh after)

    def endpoints(self) -> list[Endpoint]:
        path = f"/{self.settings.scope}/providers/Microsoft.CostManagement/query"
        return [Endpoint("query", path, "azure-query", "", ("1d",), tuple(self.settings.group_by))]

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {}  # the client secret buys a token (see _bearer); it is never a header

    def first_params(self, endpoint: Endpoint, start: datetime, end: datetime, granularity: str) -> Params:
        last = end - timedelta(seconds=1)  # timePeriod.to is inclusive
        return [("from", start.strftime("%Y-%m-%dT%H:%M:%SZ")), ("to", last.strftime("%Y-%m-%dT%H:%M:%SZ"))]

    def next_params(self, endpoint: Endpoint, params: Params, body: Any) -> Params | None:
        props = body.get("properties")
        link = props.get(_NEXT) if isinstance(props, dict) else None
        if not link:
            return None
        return [p for p in params if p[0] != _NEXT] + [(_NEXT, str(link))]

    def query_body(self, params: Params, granularity: str = "Daily") -> dict[str, Any]:
        q = dict(params)
        dataset: dict[str, Any] = {
            "granularity": granularity,
            "aggregation": {"totalCost": {"name": self.settings.cost_column, "function": "Sum"}},
            "grouping": [{"type": "Dimension", "name": g} for g in self.settings.group_by],
        }
        if self.settings.service_names:
            dataset["filter"] = {"dimensions": {"name": "ServiceName", "operator": "In",
                                                "values": list(self.settings.service_names)}}
        return {"type": self.settings.metric, "timeframe": "Custom",
                "timePeriod": {"from": q["from"], "to": q["to"]}, "dataset": dataset}

    def fetch(self, http: HttpClient, endpoint: Endpoint, params: Params, what: str) -> str:
        link = dict(params).get(_NEXT)
        if link is None:
            url, query = self.url(endpoint), [("api-version", API_VERSION)]
        else:
            self._same_host(link, what)
            url, query = link, None
        response = http.request("POST", url, query, json=self.query_body(params), what=what,
                                headers={"Authorization": f"Bearer {self._bearer(http)}"})
        return response.text if response.status_code != 204 and response.text.strip() else EMPTY_RESULT

    def _same_host(self, link: str, what: str) -> None:
        """The bearer token goes only to the API's own host, never where a page points."""
        ours, theirs = urlsplit(self.base_url), urlsplit(link)
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
            raise SyncError(f"{what}: the page's nextLink points at {theirs.scheme}://{theirs.netloc}, not "
                            f"{ours.scheme}://{ours.netloc}; refused (the token is only sent to base_url)")

    def _bearer(self, http: HttpClient) -> str:
        """An access token for Azure Resource Manager, reused by one client until shortly before it
        expires (about an hour), then asked again: a long backfill never runs on a stale token."""
        if self._token is not None and self._token[0] is http and time.monotonic() < self._token[2]:
            return self._token[1]
        secret = self.settings.api_key.resolve().get_secret_value()
        form = {"grant_type": "client_credentials", "client_id": self.settings.client_id,
                "client_secret": secret, "scope": ARM_SCOPE}
        url = f"{self.login_url}/{self.settings.tenant_id}/oauth2/v2.0/token"
        response = http.request("POST", url, data=form, what=f"{self.name}: token")
        try:
            body = response.json()
            token, lifetime = body.get("access_token"), int(body.get("expires_in") or 3599)
        except (ValueError, AttributeError, TypeError):
            token, lifetime = None, 0
        if not isinstance(token, str) or not token:
            raise SyncError(f"{self.name}: token: the token endpoint answered without an access_token; "
                            "check tenant_id and login_url")
        http.secrets = (*http.secrets, token)  # redacted from every message from now on
        self._token = (http, token, time.monotonic() + max(lifetime - TOKEN_MARGIN, 0))
        return token

    def check(self, http: HttpClient) -> str:
        endpoint = self.endpoints()[0]
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
        params = self.first_params(endpoint, today - timedelta(days=1), today, "1d")
        body = self.fetch(http, endpoint, params, f"{self.name}: check")
        rows = json.loads(body).get("properties", {}).get("rows") or []
        return (f"service principal accepted; costs of {self.settings.scope} readable "
                f"({len(rows)} row(s) for yesterday)")


CONNECTOR = AzureConnector
