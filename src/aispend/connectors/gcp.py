"""Google Cloud: the Cloud Billing export in BigQuery, queried read-only (Vertex AI, Gemini API).

Wire format: shared/reference/vendors.md §4. Google has no "get my costs" REST API: the billing
data is a BigQuery table the account exports to (``gcp_billing_export_v1_<ACCOUNT>``), read
with BigQuery's REST API through the shared HTTP client (retries, redaction, landing):

* ``POST {base_url}/projects/{billing_project}/queries`` (``jobs.query``) with ONE parameterised
  query (``@start``, ``@end``, ``@services``; the table name is validated, never a value) that
  selects each row as ``TO_JSON_STRING`` of only the fields the ``gcp`` mapping reads, so
  BigQuery scans (and bills) as few columns as possible and FLOAT64 costs arrive as exact text;
* then ``GET .../queries/{jobId}`` (``jobs.getQueryResults``) with ``pageToken`` until the last
  page; a page with ``jobComplete: false`` is polled again (the server holds it up to
  ``timeoutMs``).

Late rows for earlier days keep arriving (restatements): the window filter is on
``usage_start_time`` and the partition filter only bounds the scan from below
(``_PARTITIONTIME`` one day before the window), so late exports of the window are always seen.
Set ``partition_filter = false`` when ``table`` is a view without ``_PARTITIONTIME``.

Authentication is a service account (its key JSON by reference: ``credentials = { file = ... }``)
or, without ``credentials``, Application Default Credentials (workload identity, ``gcloud auth
application-default login``); tokens come from google-auth and are refreshed when they expire.
Least privilege: ``roles/bigquery.dataViewer`` on the export dataset and ``roles/bigquery.jobUser``
on the billing project. BigQuery throttles with ``403 rateLimitExceeded``: retried like a 429.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import Field, field_validator, model_validator

from ..config import SecretRef, SourceConfig
from ..errors import SyncError
from ..ingest.native.gcp import AI_SERVICES
from ._google_auth import GoogleToken
from .base import Connector, Endpoint, Params, secret_alias
from .http import HttpClient

SCOPE = "https://www.googleapis.com/auth/bigquery.readonly"
WAIT_MS = 10_000  # how long BigQuery may hold one request for the query to finish
MAX_POLLS = 360  # x WAIT_MS: give up on a query after about an hour
THROTTLE_REASONS = {"rateLimitExceeded", "backendError"}
_TABLE = re.compile(r"^(?P<project>[A-Za-z0-9.:-]+)\.(?P<dataset>[A-Za-z0-9_]+)\.(?P<table>[A-Za-z0-9_$-]+)$")
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,1024}$")

# The export's fields the ``gcp`` mapping reads, and nothing else (columns scanned are billed).
QUERY = """SELECT TO_JSON_STRING(STRUCT(
  billing_account_id,
  STRUCT(service.id AS id, service.description AS description) AS service,
  STRUCT(sku.id AS id, sku.description AS description) AS sku,
  usage_start_time,
  usage_end_time,
  STRUCT(project.id AS id, project.name AS name, project.labels AS labels) AS project,
  labels,
  STRUCT(location.location AS location, location.region AS region) AS location,
  cost,
  currency,
  STRUCT(usage.amount AS amount, usage.unit AS unit, usage.amount_in_pricing_units AS amount_in_pricing_units,
         usage.pricing_unit AS pricing_unit) AS usage,
  credits,
  STRUCT(invoice.month AS month) AS invoice,
  cost_type
)) AS row
FROM `{table}`
WHERE usage_start_time >= @start AND usage_start_time < @end"""
PARTITION_FILTER = "\n  AND _PARTITIONTIME >= TIMESTAMP_SUB(TIMESTAMP_TRUNC(@start, DAY), INTERVAL 1 DAY)"
SERVICE_FILTER = "\n  AND REGEXP_CONTAINS(LOWER(service.description), @services)"


class GcpSettings(SourceConfig):
    model_config = SourceConfig.model_config | {"extra": "forbid"}
    type: Literal["gcp"]
    table: str  # project.dataset.gcp_billing_export_v1_XXXXXX_XXXXXX_XXXXXX (or a view)
    billing_project: str | None = None  # runs (and pays for) the query jobs; default the table's project
    location: str | None = None  # the dataset's location (US, EU, europe-west1, ...)
    api_key: SecretRef | None = None  # the service-account key JSON, written ``credentials = {...}``
    services: str = AI_SERVICES  # RE2 over lower(service.description); "" = every service
    partition_filter: bool = True
    page_rows: int = Field(default=10_000, ge=100, le=100_000)

    @model_validator(mode="before")
    @classmethod
    def _credentials(cls, data: Any) -> Any:
        return secret_alias(data, "credentials", "/path/key.json")

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        value = value.strip().strip("`")
        if not _TABLE.match(value):
            raise ValueError("table is project.dataset.table, e.g. my-project.billing.gcp_billing_export_v1_0123AB_4567CD_89EF01")
        return value

    def table_parts(self) -> tuple[str, str, str]:
        m = _TABLE.match(self.table)
        assert m is not None  # validated above
        return m["project"], m["dataset"], m["table"]


class GcpConnector(Connector):
    type = "gcp"
    default_base_url = "https://bigquery.googleapis.com/bigquery/v2"
    settings_model = GcpSettings
    auth_hint = ("check the service-account key (credentials): it needs roles/bigquery.dataViewer on the "
                 "export dataset and roles/bigquery.jobUser on the billing project")
    granularities = ("1d",)
    # The export has no row id and repeats (SKU, hour, labels) with other amounts: the amounts are
    # part of a row's identity here, and exact repeats are numbered by the loader.
    natural_key = (*Connector.natural_key, "service", "description", "region", "billing_currency", "quantity",
                   "billed_cost", "billing_period")

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.settings: GcpSettings
        project, _, _ = self.settings.table_parts()
        self.billing_project = self.settings.billing_project or project.split(":")[-1]
        self._token: GoogleToken | None = None

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("query", f"/projects/{self.billing_project}/queries", "gcp-bigquery", "", ("1d",))]

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {}  # the key signs a token request (google-auth); it is never a header

    def retryable(self, response: httpx.Response) -> bool:
        try:
            errors = response.json()["error"]["errors"]
            return any(isinstance(e, dict) and e.get("reason") in THROTTLE_REASONS for e in errors)
        except (ValueError, KeyError, TypeError):
            return False

    # -- the query ----------------------------------------------------------------------------

    def sql(self) -> str:
        text = QUERY.format(table=self.settings.table)
        if self.settings.partition_filter:
            text += PARTITION_FILTER
        if self.settings.services:
            text += SERVICE_FILTER
        return text

    def query_request(self, start: str, end: str, *, dry_run: bool = False) -> dict[str, Any]:
        params = [_param("start", "TIMESTAMP", start), _param("end", "TIMESTAMP", end)]
        if self.settings.services:
            params.append(_param("services", "STRING", self.settings.services))
        body: dict[str, Any] = {
            "query": self.sql(), "useLegacySql": False, "parameterMode": "NAMED", "queryParameters": params,
            "maxResults": self.settings.page_rows, "timeoutMs": WAIT_MS,
            "requestId": str(uuid.uuid4()),  # a retried POST is the same request: BigQuery runs it once
            "labels": {"client": "aispend"},  # findable in the project's job history
        }
        if self.settings.location:
            body["location"] = self.settings.location
        if dry_run:
            body["dryRun"] = True
        return body

    def first_params(self, endpoint: Endpoint, start: datetime, end: datetime, granularity: str) -> Params:
        return [("start", _timestamp(start)), ("end", _timestamp(end))]

    def next_params(self, endpoint: Endpoint, params: Params, body: Any) -> Params | None:
        q = dict(params)
        window = [("start", q["start"]), ("end", q["end"])]
        job = body.get("jobReference") if isinstance(body.get("jobReference"), dict) else {}
        if body.get("jobComplete") is False:
            polls = int(q.get("poll", "0")) + 1
            if polls > MAX_POLLS:
                raise SyncError(f"{self.name}: the billing query did not finish in {MAX_POLLS * WAIT_MS // 60_000} "
                                "minutes; nothing was loaded. Sync a shorter window (--start/--end)")
            token = [("pageToken", q["pageToken"])] if "pageToken" in q else []
            return [*window, *self._job(job, q), *token, ("poll", str(polls))]
        if not body.get("pageToken"):
            return None
        return [*window, *self._job(job, q), ("pageToken", str(body["pageToken"]))]

    def _job(self, job: dict[str, Any], q: dict[str, str]) -> Params:
        job_id = job.get("jobId") or q.get("jobId")
        if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
            raise SyncError(f"{self.name}: BigQuery answered without a usable jobReference.jobId; nothing was loaded")
        location = job.get("location") or q.get("location") or self.settings.location
        return [("jobId", job_id), *([("location", str(location))] if location else [])]

    def fetch(self, http: HttpClient, endpoint: Endpoint, params: Params, what: str) -> str:
        q = dict(params)
        headers = {"Authorization": f"Bearer {self._bearer(http)}"}
        if "jobId" not in q:
            return http.request("POST", self.url(endpoint), json=self.query_request(q["start"], q["end"]),
                                headers=headers, what=what).text
        query = [("maxResults", str(self.settings.page_rows)), ("timeoutMs", str(WAIT_MS))]
        query += [(k, q[k]) for k in ("location", "pageToken") if k in q]
        return http.request("GET", f"{self.url(endpoint)}/{q['jobId']}", query, headers=headers, what=what).text

    def _bearer(self, http: HttpClient) -> str:
        if self._token is None:
            self._token = GoogleToken(self.name, self.settings.api_key, SCOPE, self.auth_hint)
        token = self._token.get()
        if token not in http.secrets:
            http.secrets = (*http.secrets, *self._token.secrets, token)  # redacted from every message
        return token

    def check(self, http: HttpClient) -> str:
        """A dry run of the real query over yesterday: proves the key, both roles, the table and the
        SQL (a view without ``_PARTITIONTIME`` fails here), and says what a sync will scan."""
        endpoint = self.endpoints()[0]
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
        start, end = _timestamp(today.replace(day=1)), _timestamp(today)
        body = http.request("POST", self.url(endpoint), json=self.query_request(start, end, dry_run=True),
                            headers={"Authorization": f"Bearer {self._bearer(http)}"}, what=f"{self.name}: check").json()
        scanned = int(body.get("totalBytesProcessed") or 0)
        return (f"credentials accepted; the billing query on {self.settings.table} is valid and would scan "
                f"{scanned / 1e6:,.1f} MB for this month so far (billed by BigQuery to {self.billing_project})")


def _param(name: str, kind: str, value: str) -> dict[str, Any]:
    return {"name": name, "parameterType": {"type": kind}, "parameterValue": {"value": value}}


def _timestamp(when: datetime) -> str:
    """A BigQuery TIMESTAMP literal in UTC (the engine's windows are naive UTC)."""
    return when.strftime("%Y-%m-%d %H:%M:%S+00:00")


CONNECTOR = GcpConnector
