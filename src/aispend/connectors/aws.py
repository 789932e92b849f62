"""AWS: Cost Explorer ``GetCostAndUsage`` for Amazon Bedrock and Marketplace-billed models, read-only.

Wire format: shared/reference/vendors.md §3.1 and §3.3. AWS JSON 1.1 over ``POST /`` with
``X-Amz-Target: AWSInsightsIndexService.GetCostAndUsage``, signed with SigV4 (signing name ``ce``,
region us-east-1): the request is made with boto3, ``endpoint_url`` = the source's base URL, so a
proxy or a test server works as the real endpoint does.

The query, per window: ``Granularity`` DAILY (``1d``) or HOURLY (``1h``, which AWS must have
enabled for the account and keeps for 14 days), ``Metrics`` UnblendedCost + UsageQuantity,
``GroupBy`` SERVICE + USAGE_TYPE (AWS allows two), and a ``Filter``: SERVICE = ``Amazon Bedrock``
(plus ``services`` from the settings) OR BILLING_ENTITY = ``AWS Marketplace``, because Claude and
other third-party models are sold through the Marketplace as services named
``<Model> (Amazon Bedrock Edition)`` that a SERVICE filter would miss (vendors.md §3.1). Pages
follow ``NextPageToken``, sending the identical request (boto3 has no paginator for it).

This connector fetches its pages itself (:meth:`AwsConnector.pages` overrides the GET-shaped
default of ``base.py``) but keeps the shared policy: every attempt is counted on the engine's
:class:`HttpClient`, throttling (``ThrottlingException``/``LimitExceededException``, HTTP 400),
5xx and transport errors are retried with the same backoff (boto3's own retries are off), and the
secret is redacted from every message. Each request costs $0.01 (vendors.md §3.1).

Pages land as AWS sent them and are normalized by the import format ``aws-ce``: one mapping.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, model_validator

from ..config import SecretRef, SourceConfig
from ..errors import SyncError
from .base import MAX_PAGES, Connector, Endpoint, Page, Params
from .http import HttpClient

TARGET = "AWSInsightsIndexService.GetCostAndUsage"
BEDROCK = "Amazon Bedrock"
MARKETPLACE = "AWS Marketplace"
METRICS = ["UnblendedCost", "UsageQuantity"]
GROUP_BY = [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}]
GRANULARITY = {"1d": "DAILY", "1h": "HOURLY"}
THROTTLED = frozenset({"ThrottlingException", "Throttling", "LimitExceededException", "TooManyRequestsException",
                       "RequestLimitExceeded"})
AUTH = frozenset({"UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException",
                  "SignatureDoesNotMatch", "IncompleteSignature", "MissingAuthenticationToken",
                  "AccessDeniedException", "AccessDenied", "ExpiredTokenException", "NotAuthorized",
                  "OptInRequired", "UnauthorizedOperation"})


class AwsSettings(SourceConfig):
    model_config = SourceConfig.model_config | {"extra": "forbid"}
    type: Literal["aws"]
    # Credentials: an access key (access_key_id + api_key = the SECRET access key), or a named
    # profile of ~/.aws, or neither: boto3's default chain (environment, SSO, instance role).
    access_key_id: str | SecretRef | None = None
    api_key: SecretRef | None = None
    session_token: SecretRef | None = None
    profile: str | None = None
    region: str = "us-east-1"  # the signing region of the CE endpoint (China: cn-northwest-1)
    services: list[str] = Field(default_factory=list)  # more SERVICE values to pull besides Amazon Bedrock
    marketplace: bool = True  # also pull BILLING_ENTITY = AWS Marketplace (Bedrock Edition models)

    @model_validator(mode="after")
    def _credentials(self) -> AwsSettings:
        if (self.api_key is None) != (self.access_key_id is None):
            raise ValueError("access_key_id and api_key (the secret access key) go together: set both, "
                             "or neither (then profile or the default AWS credential chain is used)")
        if self.api_key is not None and self.profile:
            raise ValueError("set either an access key (access_key_id + api_key) or profile, not both")
        if self.session_token is not None and self.api_key is None:
            raise ValueError("session_token needs access_key_id and api_key")
        return self


class AwsConnector(Connector):
    type = "aws"
    default_base_url = "https://ce.us-east-1.amazonaws.com"
    settings_model = AwsSettings
    auth_hint = ("check the AWS IAM access key (access_key_id and the secret access key in api_key, or the profile): "
                 "its IAM user or role must be allowed ce:GetCostAndUsage (a policy allowing only that action is "
                 "enough), and Cost Explorer must be enabled for the account")
    granularities = ("1d", "1h")
    # The same usage type can appear under two Marketplace services.
    natural_key = (*Connector.natural_key, "service")

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("GetCostAndUsage", "/", "aws-ce", "", ("1d", "1h"), ("SERVICE", "USAGE_TYPE"))]

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {}  # requests are signed by botocore; nothing goes in a bearer header

    # -- the request ----------------------------------------------------------------------------

    def query(self, start: datetime, end: datetime, granularity: str) -> dict[str, Any]:
        """The GetCostAndUsage request of a window (without NextPageToken)."""
        settings: AwsSettings = self.settings  # type: ignore[assignment]
        width = GRANULARITY[granularity if granularity in GRANULARITY else "1d"]
        services = list(dict.fromkeys([BEDROCK, *settings.services]))
        by_service = {"Dimensions": {"Key": "SERVICE", "Values": services, "MatchOptions": ["EQUALS"]}}
        by_seller = {"Dimensions": {"Key": "BILLING_ENTITY", "Values": [MARKETPLACE], "MatchOptions": ["EQUALS"]}}
        return {
            "TimePeriod": {"Start": _ce_time(start, width), "End": _ce_time(end, width)},
            "Granularity": width,
            "Metrics": list(METRICS),
            "Filter": {"Or": [by_service, by_seller]} if settings.marketplace else by_service,
            "GroupBy": [dict(g) for g in GROUP_BY],
        }

    def first_params(self, endpoint: Endpoint, start: datetime, end: datetime, granularity: str) -> Params:
        raise NotImplementedError("aws: GetCostAndUsage is a signed POST; pages() sends it")

    def next_params(self, endpoint: Endpoint, params: Params, body: Any) -> Params | None:
        raise NotImplementedError("aws: GetCostAndUsage is a signed POST; pages() follows NextPageToken")

    # -- fetching ---------------------------------------------------------------------------------

    def ce_client(self) -> Any:
        """A boto3 Cost Explorer client for base_url, with boto3's retries off (we retry)."""
        import boto3
        from botocore.config import Config

        settings: AwsSettings = self.settings  # type: ignore[assignment]
        creds: dict[str, Any] = {}
        if settings.api_key is not None:
            key_id = settings.access_key_id
            creds["aws_access_key_id"] = key_id.resolve().get_secret_value() if isinstance(key_id, SecretRef) \
                else key_id
            creds["aws_secret_access_key"] = settings.api_key.resolve().get_secret_value()
            if settings.session_token is not None:
                creds["aws_session_token"] = settings.session_token.resolve().get_secret_value()
        session = boto3.session.Session(profile_name=settings.profile or None, region_name=settings.region, **creds)
        # The shared client's timeouts (10 s connect, 30 s read); one attempt per call: _call retries.
        config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=30,
                        user_agent_extra="aispend-read-only-sync")
        return session.client("ce", endpoint_url=self.base_url, region_name=settings.region, config=config)

    def pages(self, http: HttpClient, endpoint: Endpoint, start: datetime, end: datetime,
              granularity: str) -> Iterator[Page]:
        """Every page of the window, raw, following NextPageToken (the request otherwise identical)."""
        client = self.ce_client()
        request = self.query(start, end, granularity)
        token: str | None = None
        seen: set[str] = set()
        page_no = 0
        while True:
            page_no += 1
            what = f"{self.name}: {endpoint.name} page {page_no}"
            if page_no > MAX_PAGES:
                raise SyncError(f"{what}: the NextPageToken never ends; nothing was loaded")
            body = self._call(http, client, {**request, **({"NextPageToken": token} if token else {})}, what)
            try:
                doc = json.loads(body, parse_float=Decimal)
            except ValueError as exc:
                raise SyncError(f"{what}: the response is not JSON ({exc}); nothing was loaded, try again later "
                                "(a proxy or AWS sent a broken page)") from None
            if not isinstance(doc, dict) or not isinstance(doc.get("ResultsByTime"), list):
                raise SyncError(f"{what}: the response is not a GetCostAndUsage page (no ResultsByTime list); "
                                "nothing was loaded")
            yield Page(endpoint, page_no, body)
            token = doc.get("NextPageToken") or None
            if token is None:
                return
            if token in seen:
                raise SyncError(f"{what}: AWS sent the same NextPageToken twice; nothing was loaded")
            seen.add(token)

    def _call(self, http: HttpClient, client: Any, request: dict[str, Any], what: str) -> str:
        """One page: the raw body of a 2xx answer, with the shared retry policy; else a SyncError."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

        captured: list[bytes] = []

        def keep(http_response: Any, **_: Any) -> None:
            captured.append(http_response.content)

        event = "after-call.cost-explorer.GetCostAndUsage"
        client.meta.events.register(event, keep)
        shown = f"POST {self.base_url}/ ({TARGET})"
        try:
            for attempt in range(1, http.policy.max_attempts + 1):
                http.requests += 1
                captured.clear()
                try:
                    client.get_cost_and_usage(**request)
                except ClientError as exc:
                    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
                    code = str(exc.response.get("Error", {}).get("Code") or "")
                    message = " ".join(str(exc.response.get("Error", {}).get("Message") or "").split())[:300]
                    problem = f"{status} {code}: {http.redact(message) or '(no message)'}"
                    if code in THROTTLED or status >= 500 or status == 429:
                        pass  # retried below
                    elif code in AUTH or status in (401, 403):
                        raise SyncError(f"{what}: {shown} failed with {problem}; {http.auth_hint}",
                                        status=status) from None
                    elif code in ("InvalidNextTokenException", "RequestChangedException"):
                        raise SyncError(f"{what}: {shown} failed with {problem}; the page token expired during "
                                        "the pull: nothing was loaded, run the sync again", status=status) from None
                    else:
                        raise SyncError(f"{what}: {shown} failed with {problem}; the request was refused: check "
                                        "the source's settings and the dates asked for (Cost Explorer keeps 14 "
                                        "months of daily data, 14 days of hourly)", status=status) from None
                except (NoCredentialsError, PartialCredentialsError):
                    raise SyncError(f"{what}: no AWS credentials found; {http.auth_hint}") from None
                except BotoCoreError as exc:  # transport: connection refused or reset, timeouts
                    status, problem = None, f"{type(exc).__name__}: {http.redact(str(exc))}"
                else:
                    return captured[-1].decode("utf-8") if captured else "{}"
                if attempt == http.policy.max_attempts:
                    break
                wait = http._backoff(attempt, None)
                http.waited += wait
                http.sleep(wait)
            raise SyncError(f"{what}: {shown} failed after {http.policy.max_attempts} attempts, last with {problem}; "
                            "AWS is throttling or unavailable: try again later, or sync a shorter window "
                            "(Cost Explorer allows a few requests per second)", status=status)
        finally:
            client.meta.events.unregister(event, keep)

    def check(self, http: HttpClient) -> str:
        """One GetCostAndUsage call for yesterday (it costs $0.01, as every CE request does)."""
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
        endpoint = self.endpoints()[0]
        request = self.query(today - timedelta(days=1), today, "1d")
        body = json.loads(self._call(http, self.ce_client(), request, f"{self.name}: check"))
        groups = sum(len(r.get("Groups") or []) for r in body.get("ResultsByTime") or [])
        return (f"AWS key accepted; ce:GetCostAndUsage allowed ({groups} Bedrock/Marketplace line(s) for "
                f"yesterday on {endpoint.name})")


def _ce_time(when: datetime, granularity: str) -> str:
    """``YYYY-MM-DD`` (DAILY) or ``YYYY-MM-DDThh:mm:ssZ`` (HOURLY); the engine's windows are naive UTC."""
    when = when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if granularity == "HOURLY" else when.strftime("%Y-%m-%d")


CONNECTOR = AwsConnector
