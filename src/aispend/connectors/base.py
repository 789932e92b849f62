"""The connector contract: a vendor is declared attributes plus a few small hooks.

The meltano-sdk / dlt shape: a connector says *what* to ask (its endpoints, the query of a window,
how to find the next page, one cheap call to check the key); the framework owns *how* (HTTP,
retries, the paging loop, landing raw pages, normalizing, replacing the window, the cursor). A
connector never opens the database, and the pages it yields are the vendor's bodies, untouched,
so a normalization fix is a re-run over the landing (``aispend renormalize``), not a re-pull.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from ..config import SourceConfig
from ..errors import SyncError
from .http import DEFAULT_POLICY, HttpClient, RetryPolicy

Params = list[tuple[str, str]]


def secret_alias(data: Any, name: str, example: str) -> Any:
    """Settings ``data`` with the vendor's name for the secret (``client_secret``, ``credentials``)
    moved to ``api_key``, where the framework resolves and redacts it; a literal value is refused
    without being echoed (it may be a real secret)."""
    if not isinstance(data, dict) or name not in data:
        return data
    data = dict(data)
    if "api_key" in data:
        raise ValueError(f"write the secret once, as {name}")
    value = data.pop(name)
    if isinstance(value, str):
        raise ValueError(f"a literal {name} is not allowed in aispend.toml (the value is not shown); "
                         f'write {name} = {{ env = "NAME" }} or {{ file = "{example}" }}')
    data["api_key"] = value
    return data
MAX_PAGES = 10_000  # a vendor whose cursor never ends must not loop forever


@dataclass(frozen=True)
class Endpoint:
    """One paged report of a vendor, landed and normalized as a unit."""

    name: str  # raw_pages.endpoint, e.g. "costs" or "usage.completions"
    path: str  # appended to the base URL
    format: str  # the native format (ingest/native) that normalizes its pages
    ledger_suffix: str = ""  # the ledger source is the configured name + this (":usage")
    widths: tuple[str, ...] = ("1d",)  # bucket widths the endpoint accepts; the first is the fallback
    group_by: tuple[str, ...] = ()

    def width(self, granularity: str) -> str:
        return granularity if granularity in self.widths else self.widths[0]


@dataclass(frozen=True)
class Page:
    endpoint: Endpoint
    page_no: int  # 1-based within the endpoint's pull
    body: str  # exactly what the vendor sent


class Connector(abc.ABC):
    type: ClassVar[str]
    default_base_url: ClassVar[str]
    settings_model: ClassVar[type[SourceConfig]] = SourceConfig
    auth_hint: ClassVar[str] = "check the API key"
    granularities: ClassVar[tuple[str, ...]] = ("1d",)
    # Ledger columns that identify one charge: row_id = md5(these), so a re-pulled window keeps ids.
    natural_key: ClassVar[tuple[str, ...]] = (
        "source", "period_start", "period_end", "sku", "model_raw", "service_tier", "charge_category",
        "account_id", "project", "api_key_id", "unit", "tags",
    )

    def __init__(self, name: str, settings: SourceConfig, policy: RetryPolicy = DEFAULT_POLICY):
        self.name = name
        self.settings = settings
        self.policy = policy
        self.base_url = (settings.base_url or self.default_base_url).rstrip("/")

    # -- hooks a connector declares ---------------------------------------------------------------

    def earliest_start(self) -> datetime | None:
        """The oldest day the vendor can still answer for (None: no limit). An automatic window
        (no --start) never reaches further back, so a sync after a long gap still runs."""
        return None

    @abc.abstractmethod
    def endpoints(self) -> list[Endpoint]: ...

    @abc.abstractmethod
    def first_params(self, endpoint: Endpoint, start: datetime, end: datetime, granularity: str) -> Params: ...

    @abc.abstractmethod
    def next_params(self, endpoint: Endpoint, params: Params, body: Any) -> Params | None:
        """The query of the page after ``body``, or None when it was the last."""

    @abc.abstractmethod
    def check(self, http: HttpClient) -> str:
        """One cheap authenticated call; a one-line description of what it proved."""

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}

    def retryable(self, response: httpx.Response) -> bool:
        """Whether a failed response (other than 429/5xx, always retried) is a throttle to wait out."""
        return False

    def fetch(self, http: HttpClient, endpoint: Endpoint, params: Params, what: str) -> str:
        """One page's body. Default: GET the endpoint with ``params``; a POST-query API (Azure's
        body plus ``nextLink``) overrides this and keeps its cursor in ``params``."""
        return http.get(self.url(endpoint), params, what=what).text

    def ledger_sources(self) -> list[str]:
        return sorted({self.name + e.ledger_suffix for e in self.endpoints()})

    # -- owned by the framework ----------------------------------------------------------------

    def client(self) -> HttpClient:
        """An HTTP client holding the resolved key (resolved here, at use, never stored)."""
        ref = self.settings.api_key
        secret = ref.resolve().get_secret_value() if ref is not None else ""
        headers = {"Accept": "application/json", "User-Agent": "aispend (read-only sync)"}
        if secret:
            headers.update(self.auth_headers(secret))
        where = f" ({ref.describe()})" if ref is not None else ""
        return HttpClient(headers=headers, secrets=[secret], policy=self.policy,
                          auth_hint=f"{self.auth_hint}{where}", retry_if=self.retryable)

    def url(self, endpoint: Endpoint) -> str:
        return self.base_url + endpoint.path

    def pages(self, http: HttpClient, endpoint: Endpoint, start: datetime, end: datetime,
              granularity: str) -> Iterator[Page]:
        """Every page of one endpoint over [start, end), raw, following the connector's cursor."""
        params: Params | None = self.first_params(endpoint, start, end, granularity)
        seen: set[tuple[tuple[str, str], ...]] = set()
        page_no = 0
        while params is not None:
            page_no += 1
            what = f"{self.name}: {endpoint.name} page {page_no}"
            if page_no > MAX_PAGES or tuple(params) in seen:
                raise SyncError(f"{what}: the vendor's page cursor does not end; nothing was loaded")
            seen.add(tuple(params))
            body = self.fetch(http, endpoint, params, what)
            try:
                doc = json.loads(body, parse_float=Decimal)
            except ValueError as exc:
                raise SyncError(f"{what}: the response is not JSON ({exc}); nothing was loaded, "
                                "try again later (a proxy or the vendor sent a broken page)") from None
            if not isinstance(doc, dict):
                raise SyncError(f"{what}: the response is not a page object; nothing was loaded")
            yield Page(endpoint, page_no, body)
            params = self.next_params(endpoint, params, doc)
