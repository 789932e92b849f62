"""The one HTTP client every connector uses: timeouts, retries, redaction, actionable errors.

Why one client: each vendor API fails the same ways (rate limits, flaky 5xx, expired keys), and a
connector that handles them itself gets them subtly wrong. Here:

* every request has a connect/read timeout;
* 429 and 5xx (and transport errors) are retried with exponential backoff plus jitter, honouring
  ``Retry-After`` (seconds or an HTTP date) up to ``max_wait``, for at most ``max_attempts``;
* secrets are redacted from every log line and error message: the resolved key values, any
  ``Authorization``/``x-api-key`` header value, and ``key=``/``token=`` style query parameters;
* errors name the status, method, redacted URL and the next step (401/403: check the key).
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Self

import httpx

from ..errors import SyncError

log = logging.getLogger("aispend.connectors.http")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})  # 529: Anthropic overloaded_error
_SECRET_PARAM = re.compile(r"(?i)((?:api[_-]?key|key|token|access_token|secret|sig|signature)=)[^&\s]+")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
REDACTED = "***"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret value, bearer token and key-like query parameter masked."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(rf"\g<1>{REDACTED}", text)
    return _SECRET_PARAM.sub(rf"\g<1>{REDACTED}", text)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5  # seconds; doubled per attempt
    max_wait: float = 60.0  # cap on one wait, Retry-After included
    jitter: float = 0.25  # up to this fraction added at random, so clients do not retry in step


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: an integer, or an HTTP date (RFC 9110); None if absent or odd."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


# Waits a vendor asks for: the standard header, and Azure Cost Management's QPU/entity throttles
# (vendors.md §5.1); the longest one present wins.
RETRY_AFTER_HEADERS = ("retry-after", "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after",
                       "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after",
                       "x-ms-ratelimit-microsoft.costmanagement-tenant-retry-after",
                       "x-ms-ratelimit-microsoft.costmanagement-clienttype-retry-after",
                       "x-ms-ratelimit-microsoft.consumption-retry-after")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    waits = [w for h in RETRY_AFTER_HEADERS if (w := retry_after_seconds(headers.get(h))) is not None]
    return max(waits) if waits else None


DEFAULT_POLICY = RetryPolicy()
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class HttpClient:
    """A shared ``httpx.Client`` with the policy above; counts the requests it makes."""

    def __init__(
        self,
        *,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        policy: RetryPolicy = DEFAULT_POLICY,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        auth_hint: str = "check the API key",
        sleep: Callable[[float], None] = time.sleep,
        retry_if: Callable[[httpx.Response], bool] | None = None,
    ):
        self._client = httpx.Client(headers=dict(headers or {}), timeout=timeout, follow_redirects=False)
        self.secrets = tuple(s for s in secrets if s)
        self.policy = policy
        self.auth_hint = auth_hint
        self.sleep = sleep
        # A vendor that throttles with another status (BigQuery: 403 rateLimitExceeded) says so here.
        self.retry_if = retry_if
        self.requests = 0
        self.waited = 0.0  # seconds slept before retries, for reports and tests

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        p = self.policy
        if retry_after is not None:
            return min(retry_after, p.max_wait)
        delay = p.base_delay * (2 ** (attempt - 1))
        return min(delay * (1 + random.uniform(0, p.jitter)), p.max_wait)

    def get(self, url: str, params: Any = None, *, what: str = "") -> httpx.Response:
        """GET with retries; a 2xx response, or a :class:`SyncError` saying what to do."""
        return self.request("GET", url, params, what=what)

    def request(self, method: str, url: str, params: Any = None, *, json: Any = None, data: Any = None,
                headers: Mapping[str, str] | None = None, what: str = "") -> httpx.Response:
        """Any method (POST query APIs: Azure, AWS) with the same retries, redaction and errors.

        ``headers`` are added to this request only (e.g. a bearer token got at run time).
        """
        request = self._client.build_request(method, url, params=params, json=json, data=data, headers=headers)
        shown = self.redact(str(request.url))
        where = f"{what}: " if what else ""
        for attempt in range(1, self.policy.max_attempts + 1):
            self.requests += 1
            try:
                response = self._client.send(request)
            except httpx.TransportError as exc:
                problem, retry_after, status = f"{type(exc).__name__}: {self.redact(str(exc))}", None, None
            else:
                if response.is_success:
                    log.debug("%s %s -> %s", method, shown, response.status_code)
                    return response
                status = response.status_code
                problem = f"{status} {response.reason_phrase}: {self._message(response)}"
                if status not in RETRY_STATUSES and not (self.retry_if and self.retry_if(response)):
                    raise SyncError(f"{where}{method} {shown} failed with {problem}; {self._next_step(status)}",
                                    status=status)
                retry_after = _retry_after(response.headers)
            if attempt == self.policy.max_attempts:
                break
            wait = self._backoff(attempt, retry_after)
            log.info("%s %s: %s; retry %d/%d in %.1fs", method, shown, problem, attempt, self.policy.max_attempts - 1, wait)
            self.waited += wait
            self.sleep(wait)
        raise SyncError(f"{where}{method} {shown} failed after {self.policy.max_attempts} attempts, last with {problem}; "
                        "the vendor is rate limiting or unavailable: try again later, or sync a shorter window",
                        status=status)

    def _message(self, response: httpx.Response) -> str:
        """The vendor's error message (OpenAI/Anthropic ``{"error": {"message"}}``), redacted, short."""
        try:
            body = response.json()
            err = body.get("error") if isinstance(body, dict) else None
            text = err.get("message") if isinstance(err, dict) else (err or response.text)
            if isinstance(body, dict) and body.get("error_description"):  # OAuth2 (Entra ID) token errors
                text = f"{err}: {body['error_description']}"
        except ValueError:
            text = response.text
        text = " ".join(str(text).split())
        return self.redact(text[:300]) or "(no message)"

    def _next_step(self, status: int) -> str:
        if status in (401, 403):
            return self.auth_hint
        if status == 404:
            return "check base_url (the API path may differ for this account or region)"
        if 400 <= status < 500:
            return "the request was refused: check the source's settings and the dates asked for"
        return "try again later"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
