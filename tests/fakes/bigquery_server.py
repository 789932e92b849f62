"""A fake Google OAuth2 token endpoint and BigQuery REST API over a billing export (vendors.md §4).

A real HTTP server on 127.0.0.1 (see ``_http.LocalServer``), so google-auth's signed JWT grant,
the connector's httpx client, retries and paging run exactly as against Google:

* ``POST /token`` (the ``token_uri`` of the test's service-account key): the JWT-bearer grant; the
  assertion's RS256 signature is verified with the key's public half (``cryptography``), and its
  ``iss``, ``aud``, ``scope`` and ``exp`` checked; a bad one gets Google's 400 ``invalid_grant``;
* ``POST /projects/{p}/queries`` (``jobs.query``): the bearer token checked (401 UNAUTHENTICATED;
  403 accessDenied for a service account without access to the table), the request validated
  (standard SQL, NAMED parameters ``@start``/``@end`` as TIMESTAMP and ``@services`` iff the query
  uses it, the table named once in backticks) and applied to the fake's export rows: the window on
  ``usage_start_time``, the partition lower bound when the query has one, the service regex;
  ``dryRun`` answers ``totalBytesProcessed`` only;
* ``GET /projects/{p}/queries/{jobId}`` (``jobs.getQueryResults``): ``pageToken`` pages, the
  ``location`` checked against the job's; ``jobComplete: false`` for the first ``slow_polls`` answers.

Rows are what ``TO_JSON_STRING(STRUCT(...))`` of the connector's query returns: one STRING cell
per row, FLOAT64 costs as exact decimal text (some in exponent form, as BigQuery writes tiny
floats), labels ``[{key, value}]``, credits negative. Some (SKU, hour) pairs repeat with other
labels, and some rows repeat exactly (two identical charges). Late rows of a day land in a later
partition. :meth:`total` is the fake's own net total (cost + credits), computed without the
connector. Faults: 429, 500, 403 rateLimitExceeded, a malformed page, a bad record.
"""

from __future__ import annotations

import base64
import json
import random
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Self
from urllib.parse import parse_qsl, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ._http import LocalServer, Request, dumps_exact, next_fault

PROJECT = "acme-billing"
DATASET = "billing_export"
TABLE = f"{PROJECT}.{DATASET}.gcp_billing_export_v1_01D0BC_3978F2_824033"
ACCOUNT = "01D0BC-3978F2-824033"
LOCATION = "US"
SCOPE = "https://www.googleapis.com/auth/bigquery.readonly"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
AI = r"(vertex ai|gemini api|generative language|claude)"
# (service, sku id, sku description, usage unit, tokens per hour range, USD per unit)
SKUS = (
    ("Vertex AI", "E5F0-A8B1-77C2", "Gemini 2.5 Flash GA Text Input - Predictions", "count", (10**5, 3 * 10**6), Decimal("0.0000003")),
    ("Vertex AI", "E5F0-A8B1-77C3", "Gemini 2.5 Flash GA Text Output - Predictions", "count", (10**4, 5 * 10**5), Decimal("0.0000025")),
    ("Vertex AI", "E5F0-A8B1-77C4", "Gemini 2.5 Flash GA Input Text Caching", "count", (0, 10**6), Decimal("0.00000003")),
    ("Vertex AI", "E5F0-A8B1-77C5", "Gemini 2.5 Flash GA Thinking Text Output - Predictions", "count", (0, 10**5), Decimal("0.0000025")),
    ("Gemini API", "1B2C-3D4E-5F60", "Generate content input token count gemini 2.5 flash lite", "count", (0, 10**6), Decimal("0.0000001")),
    ("Claude Sonnet 4.5", "9A8B-7C6D-5E4F", "Claude Sonnet 4.5 Input Tokens", "count", (0, 2 * 10**5), Decimal("0.000003")),
    ("Compute Engine", "CP-COMPUTEENGINE-VMIMAGE-N2", "N2 Instance Core running in Americas", "seconds", (3600, 3600), Decimal("0.0000087")),
)
HOURS = (2, 9, 14, 21)
FEATURES = ("answers", "summaries")


@dataclass
class Fault:
    kind: str  # 429 | 500 | ratelimit | malformed | bad_record
    page: int | None = None  # 1-based page of a pull (1 is the jobs.query answer); None: any
    times: int = 1
    retry_after: int | None = 1


def service_account(origin: str, email: str) -> tuple[str, rsa.RSAPrivateKey]:
    """A service-account key JSON (generated here, never a real one) and its private key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": PROJECT, "private_key_id": f"{random.getrandbits(64):016x}",
            "private_key": pem, "client_email": email, "client_id": str(random.getrandbits(60)),
            "auth_uri": f"{origin}/auth", "token_uri": f"{origin}/token", "universe_domain": "googleapis.com"}
    return json.dumps(info), key


@dataclass
class FakeBigQuery(LocalServer):
    seed: int = 7
    page_cap: int = 10_000  # rows per page at most, whatever maxResults asks (BigQuery caps by size)
    slow_polls: int = 0  # answers with jobComplete false before the rows
    max_seconds: float = 120.0
    faults: list[Fault] = field(default_factory=list)
    empty_days: set[date] = field(default_factory=set)
    versions: dict[date, int] = field(default_factory=dict)  # restated days
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status)
    queries: list[dict] = field(default_factory=list)  # jobs.query bodies received
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> service account email

    def __post_init__(self) -> None:
        self.email = f"aispend-reader@{PROJECT}.iam.gserviceaccount.com"
        self.other_email = f"someone-else@{PROJECT}.iam.gserviceaccount.com"
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._jobs: dict[str, dict] = {}
        self.key = self.other_key = ""

    def __enter__(self) -> Self:
        super().__enter__()
        self.key, private = service_account(self.origin, self.email)
        self.other_key, other = service_account(self.origin, self.other_email)  # valid, but no access
        self._keys = {self.email: private.public_key(), self.other_email: other.public_key()}
        return self

    @property
    def base_url(self) -> str:
        return self.origin

    def restate(self, day: date) -> None:
        self.versions[day] = self.versions.get(day, 0) + 1

    def pulls(self) -> list[tuple[str, str, int]]:
        return [r for r in self.requests if "/queries" in r[1]]

    # -- the data -----------------------------------------------------------------------------

    def export_rows(self, day: date) -> list[dict]:
        """One day's export rows (current version), with their partition day."""
        if day in self.empty_days:
            return []
        rng = random.Random(f"{self.seed}|{day.isoformat()}|{self.versions.get(day, 0)}")
        rows = []
        for service, sku_id, sku, unit, (lo, hi), price in SKUS:
            for hour in HOURS:
                for feature in FEATURES if service == "Vertex AI" else (None,):
                    amount = rng.randint(lo, hi)
                    if amount == 0:
                        continue
                    cost = (Decimal(amount) * price).quantize(Decimal("1e-9"))
                    start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
                    credits = []
                    if service == "Gemini API":  # free tier offsets part of it
                        credits = [{"name": "FreeTier", "amount": -(cost / 4).quantize(Decimal("1e-9")),
                                    "full_name": None, "id": "FreeTier", "type": "FREE_TIER"}]
                    rows.append({
                        "billing_account_id": ACCOUNT,
                        "service": {"id": sku_id[:4], "description": service},
                        "sku": {"id": sku_id, "description": sku},
                        "usage_start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "usage_end_time": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "project": {"id": "acme-ml-prod", "name": "acme-ml-prod",
                                    "labels": [{"key": "team", "value": "platform"}]},
                        "labels": [{"key": "feature", "value": feature}] if feature else [],
                        "location": {"location": "us-central1", "region": "us-central1"},
                        "cost": cost, "currency": "USD",
                        "usage": {"amount": Decimal(amount), "unit": unit,
                                  "amount_in_pricing_units": Decimal(amount) / 10**6, "pricing_unit": "1000000 count"},
                        "credits": credits, "invoice": {"month": day.strftime("%Y%m")}, "cost_type": "regular",
                        "_partition": day + timedelta(days=2 if hour == 21 else 0),  # late rows
                    })
        if rows:  # two identical charges: an exact repeat is a real, separate row
            rows.append(dict(rows[0]))
        return rows

    def total(self, start: date, end: date, pattern: str = AI) -> Decimal:
        """Net cost (cost + credits) of the AI services' rows over [start, end), the fake's own sum."""
        total, day = Decimal(0), start
        while day < end:
            for r in self.export_rows(day):
                if re.search(pattern, r["service"]["description"].lower()):
                    total += r["cost"] + sum((c["amount"] for c in r["credits"]), Decimal(0))
            day += timedelta(days=1)
        return total

    # -- the API ------------------------------------------------------------------------------

    def respond(self, request: Request) -> tuple[int, object, dict[str, str]]:
        url = urlsplit(request.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        if url.path == "/token" and request.method == "POST":
            status, body, headers = self._token(request.body.decode(), request.headers.get("Content-Type", ""))
        else:
            status, body, headers = self._api(request.method, url.path, params,
                                              request.headers.get("Authorization", ""), request.body)
        self.requests.append((request.method, url.path, status))
        return status, body, headers

    def _token(self, raw: str, content_type: str) -> tuple[int, object, dict[str, str]]:
        form = dict(parse_qsl(raw))
        if "application/x-www-form-urlencoded" not in content_type or \
                form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."}, {}
        try:
            head, payload, sig = form["assertion"].split(".")
            claims = json.loads(_b64(payload))
            public = self._keys[claims["iss"]]
            public.verify(_b64(sig), f"{head}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except Exception:  # noqa: BLE001 - any bad assertion is Google's invalid_grant
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, {}
        # google-auth signs for Google's token audience whatever the key's token_uri says.
        if claims.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, f"{self.origin}/token") or SCOPE not in str(claims.get("scope", "")).split() \
                or claims.get("exp", 0) < time.time():
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: bad aud, scope or exp."}, {}
        token = "ya29.c." + base64.urlsafe_b64encode(random.randbytes(30)).decode().rstrip("=")
        self.tokens[token] = claims["iss"]
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}, {}

    def _api(self, method: str, path: str, params: dict[str, str], auth: str,
             raw: bytes) -> tuple[int, object, dict[str, str]]:
        who = self.tokens.get(auth.removeprefix("Bearer "))
        if who is None:
            return 401, _error(401, "required", "Request is missing required authentication credential. Expected "
                               "OAuth 2 access token.", "UNAUTHENTICATED"), {}
        m = re.fullmatch(r"/projects/([^/]+)/queries(?:/([^/]+))?", path)
        if m is None or m[1] != PROJECT:
            return 404, _error(404, "notFound", f"Not found: {path}", "NOT_FOUND"), {}
        if who != self.email:
            return 403, _error(403, "accessDenied", f"Access Denied: Table {TABLE.replace('.', ':', 1)}: User does "
                               "not have permission to query table, or perhaps it does not exist.", "PERMISSION_DENIED"), {}
        if method == "POST" and m[2] is None:
            try:
                request = json.loads(raw)
                rows = self._run(request)
            except (ValueError, KeyError, TypeError) as exc:
                return 400, _error(400, "invalidQuery", f"Invalid query request: {exc}", "INVALID_ARGUMENT"), {}
            if request.get("dryRun"):
                return 200, {"kind": "bigquery#queryResponse", "jobReference": {"projectId": PROJECT, "location": LOCATION},
                             "totalBytesProcessed": str(len(rows) * 900), "jobComplete": True, "cacheHit": False,
                             "schema": _SCHEMA}, {}
            job_id = "job_" + base64.urlsafe_b64encode(random.randbytes(12)).decode().rstrip("=")
            self._jobs[job_id] = {"rows": rows, "polls": self.slow_polls}
            return self._page(job_id, 0, int(request.get("maxResults") or self.page_cap), "bigquery#queryResponse")
        if method == "GET" and m[2] is not None:
            job = self._jobs.get(m[2])
            if job is None or params.get("location") != LOCATION:
                return 404, _error(404, "notFound", f"Not found: Job {PROJECT}:{LOCATION}.{m[2]}", "NOT_FOUND"), {}
            offset = int(_b64(params["pageToken"]).decode()) if "pageToken" in params else 0
            return self._page(m[2], offset, int(params.get("maxResults") or self.page_cap), "bigquery#getQueryResultsResponse")
        return 405, _error(405, "badRequest", "method not allowed", "INVALID_ARGUMENT"), {}

    def _run(self, request: dict) -> list[str]:
        if request.get("useLegacySql") is not False or request.get("parameterMode") != "NAMED":
            raise ValueError("standard SQL with NAMED parameters expected")
        sql = request["query"]
        if sql.count(f"`{TABLE}`") != 1:
            raise ValueError(f"the query must read `{TABLE}` once")
        self.queries.append(request)
        values = {p["name"]: (p["parameterType"]["type"], p["parameterValue"]["value"]) for p in request["queryParameters"]}
        if values["start"][0] != "TIMESTAMP" or values["end"][0] != "TIMESTAMP":
            raise ValueError("@start and @end are TIMESTAMP parameters")
        if ("@services" in sql) != ("services" in values):
            raise ValueError("@services is used iff it is given")
        start, end = (datetime.fromisoformat(values[k][1]) for k in ("start", "end"))
        floor = start.date() - timedelta(days=1) if "_PARTITIONTIME >=" in sql else None
        pattern = values["services"][1] if "services" in values else None
        rows, day = [], start.date()
        while day < end.date() + timedelta(days=1):
            for r in self.export_rows(day):
                t = datetime.fromisoformat(r["usage_start_time"])
                if not start <= t < end or (floor and r["_partition"] < floor):
                    continue
                if pattern is not None and not re.search(pattern, r["service"]["description"].lower()):
                    continue
                rows.append(row_json({k: v for k, v in r.items() if k != "_partition"}))
            day += timedelta(days=1)
        return rows

    def _page(self, job_id: str, offset: int, max_results: int, kind: str) -> tuple[int, object, dict[str, str]]:
        job = self._jobs[job_id]
        ref = {"projectId": PROJECT, "jobId": job_id, "location": LOCATION}
        if job["polls"] > 0:
            job["polls"] -= 1
            return 200, {"kind": kind, "jobReference": ref, "jobComplete": False}, {}
        size = min(max_results, self.page_cap)
        page_no = offset // size + 1 if size else 1
        rows = [{"f": [{"v": r}]} for r in job["rows"][offset:offset + size]]
        if (fault := self._fault(page_no)) is not None:
            if fault.kind == "429":
                return 429, _error(429, "rateLimitExceeded", "Too many requests.", "RESOURCE_EXHAUSTED"), \
                    {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            if fault.kind == "ratelimit":
                return 403, _error(403, "rateLimitExceeded", "Exceeded rate limits: too many api requests per user "
                                   "per method for this user_method.", "PERMISSION_DENIED"), {}
            if fault.kind == "500":
                return 500, _error(500, "backendError", "Error encountered during execution. Retrying may solve "
                                   "the problem.", "INTERNAL"), {}
            if fault.kind == "malformed":
                return 200, b'{"kind": "bigquery#queryResponse", "rows": [{"f": [{"v": "{\\"cost', {}
            if fault.kind == "bad_record" and rows:
                bad = json.loads(rows[0]["f"][0]["v"])
                bad["cost"] = "n/a"
                rows[0] = {"f": [{"v": json.dumps(bad)}]}
        body = {"kind": kind, "schema": _SCHEMA, "jobReference": ref, "totalRows": str(len(job["rows"])),
                "rows": rows, "totalBytesProcessed": str(len(job["rows"]) * 900), "jobComplete": True,
                "cacheHit": False}
        if offset + size < len(job["rows"]):
            body["pageToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        if not rows:
            del body["rows"]  # BigQuery omits an empty `rows`
        return 200, body, {}

    def _fault(self, page_no: int) -> Fault | None:
        return next_fault(self.faults, page_no)


_SCHEMA = {"fields": [{"name": "row", "type": "STRING", "mode": "NULLABLE"}]}


def _number(value: Decimal) -> str:
    """FLOAT64 as BigQuery's TO_JSON_STRING writes it: exact digits, tiny values in exponent form."""
    if value != 0 and abs(value) < Decimal("0.0001"):
        return f"{value.normalize():E}".replace("E", "e")
    text = format(value.normalize(), "f")
    return text


def row_json(row: dict) -> str:
    return dumps_exact(row, lambda o: _number(o) if isinstance(o, Decimal) else None, separators=(",", ":"))


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _error(code: int, reason: str, message: str, status: str) -> dict:
    return {"error": {"code": code, "message": message,
                      "errors": [{"message": message, "domain": "global", "reason": reason}], "status": status}}
