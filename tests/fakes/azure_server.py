"""A fake Entra ID token endpoint and Cost Management Query API on 127.0.0.1 (vendors.md §5.1).

A real HTTP server (stdlib, one daemon thread, stops itself after ``max_seconds``), serving both
``login.microsoftonline.com`` and ``management.azure.com`` paths, so the connector's httpx client,
token request, retries and nextLink paging run exactly as against Azure:

* ``POST /{tenant}/oauth2/v2.0/token`` (form: client_credentials, client_id, client_secret, scope)
  answers ``{token_type, expires_in, access_token}``; a wrong secret gets Entra's 401 ``invalid_client``;
* ``POST /{scope}/providers/Microsoft.CostManagement/query?api-version=...``: the bearer token is
  checked (401 ``AuthenticationFailed``; 403 ``AuthorizationFailed`` when the principal has no
  role on the scope), the body validated (type, Custom timePeriod, granularity, at most 2
  aggregations and 2 groupings of known dimensions, the ServiceName filter applied), rows
  ``[cost, UsageDate (int yyyymmdd), *groups, Currency]`` served ``page_rows`` at a time with a
  ``nextLink`` (``$skiptoken``) that must be POSTed with the same body;
* scriptable faults: 429 with the QPU retry-after header, 500, a malformed page, a bad record,
  a 204, empty days, and restated days whose values change on the next pull.

Costs are decimals with 12 places, written as JSON numbers from their exact text; :meth:`total`
is the fake's own total, computed without the connector.
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

from ._http import LocalServer, Request, dumps_exact, next_fault

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
SECRET = "azFAKE~client.secret-0123456789abcdefXYZ"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
SCOPE = f"subscriptions/{SUBSCRIPTION}"
QPU_HEADER = "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after"
DIMENSIONS = {"ServiceName", "Meter", "MeterSubCategory", "ResourceGroup", "ResourceGroupName", "SubscriptionId",
              "ResourceLocation"}
# (ServiceName, MeterSubCategory, Meter, daily cost range in USD)
METERS = (
    ("Cognitive Services", "Azure OpenAI", "gpt-4o-0806-Inp-glbl Tokens", (1, 40)),
    ("Cognitive Services", "Azure OpenAI", "gpt-4o-0806-Outp-glbl Tokens", (2, 90)),
    ("Cognitive Services", "Azure OpenAI", "gpt-4o-mini-0718-Inp-glbl Tokens", (0, 3)),
    ("Cognitive Services", "Azure OpenAI", "gpt 4o 1120 cached Inp glbl", (0, 5)),
    ("Foundry Models", "DeepSeek", "R1 Outp glbl Tokens", (0, 8)),
    ("Cognitive Services", "Language", "Standard Text Records", (0, 1)),
    ("Storage", "Blob", "Hot LRS Data Stored", (1, 4)),  # not AI: filtered out by ServiceName
)
RESOURCE_GROUPS = ("rg-chat-prod", "rg-lab")
PLACES = Decimal("1e-12")


@dataclass
class Fault:
    kind: str  # 429 | 500 | malformed | bad_record | 204
    page: int | None = None  # 1-based page of a pull; None: any
    times: int = 1
    retry_after: int | None = 1  # seconds, in the QPU header
    retry_after_std: int | None = None  # seconds, in a standard Retry-After header


@dataclass
class FakeAzure(LocalServer):
    seed: int = 7
    key: str = SECRET  # the client secret the principal has
    page_rows: int = 100
    has_role: bool = True  # Cost Management Reader on the scope
    accept_tokens: bool = True  # False: every token is refused (as if expired)
    token_lifetime: int = 3599  # expires_in of the tokens issued, seconds
    max_seconds: float = 120.0
    faults: list[Fault] = field(default_factory=list)
    empty_days: set[date] = field(default_factory=set)
    versions: dict[date, int] = field(default_factory=dict)  # restated days
    requests: list[tuple[str, list[tuple[str, str]], int]] = field(default_factory=list)
    bodies: list[dict] = field(default_factory=list)  # query bodies received, in order
    tokens: set[str] = field(default_factory=set)

    content_type = "application/json; charset=utf-8"

    def respond(self, request: Request) -> tuple[int, object, dict[str, str]]:
        if request.method != "POST":
            return 405, b"", {}
        return self.handle(request.path, request.headers.get("Authorization", ""), request.body.decode(),
                           request.headers.get("Content-Type", ""))

    def encode(self, body: object) -> bytes:
        return _dumps(body).encode()

    @property
    def base_url(self) -> str:
        return self.origin

    def restate(self, day: date) -> None:
        self.versions[day] = self.versions.get(day, 0) + 1

    def queries(self) -> list[tuple[str, list[tuple[str, str]], int]]:
        return [r for r in self.requests if r[0].endswith("/query")]

    def total(self, start: date, end: date, services: tuple[str, ...] = ("Cognitive Services", "Foundry Models")) -> Decimal:
        """The fake's own total of the days [start, end) for those services (current versions)."""
        total, day = Decimal(0), start
        while day < end:
            total += sum((r["cost"] for r in self._day_rows(day) if r["ServiceName"] in services), Decimal(0))
            day += timedelta(days=1)
        return total

    # -- the API ------------------------------------------------------------------------------

    def handle(self, raw_path: str, auth: str, raw: str, content_type: str) -> tuple[int, object, dict[str, str]]:
        url = urlsplit(raw_path)
        params = parse_qsl(url.query, keep_blank_values=True)
        if url.path.endswith("/oauth2/v2.0/token"):
            status, body, headers = self._token(url.path, raw, content_type)
        else:
            status, body, headers = self._query(url.path, params, auth, raw)
        self.requests.append((url.path, params, status))
        return status, body, headers

    def _token(self, path: str, raw: str, content_type: str) -> tuple[int, object, dict[str, str]]:
        form = dict(parse_qsl(raw))
        tenant = path.split("/")[1]
        if tenant != TENANT:
            return 400, {"error": "invalid_request", "error_description": f"AADSTS90002: Tenant '{tenant}' not found."}, {}
        if "application/x-www-form-urlencoded" not in content_type or form.get("grant_type") != "client_credentials" \
                or form.get("scope") != "https://management.azure.com/.default":
            return 400, {"error": "invalid_request", "error_description": "AADSTS900144: bad request"}, {}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != self.key:
            # Entra does not echo the secret; this fake does, so that redaction is tested.
            return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret "
                         f"provided ({form.get('client_secret')})."}, {}
        token = "eyJ0eXAiOiJKV1Qi." + base64.urlsafe_b64encode(random.randbytes(24)).decode().rstrip("=")
        self.tokens.add(token)
        return 200, {"token_type": "Bearer", "expires_in": self.token_lifetime, "ext_expires_in": self.token_lifetime,
                     "access_token": token}, {}

    def _query(self, path: str, params: list[tuple[str, str]], auth: str, raw: str) -> tuple[int, object, dict[str, str]]:
        q = dict(params)
        if not self.accept_tokens or auth.removeprefix("Bearer ") not in self.tokens:
            return 401, _error("AuthenticationFailed", f"Authentication failed. The token ({auth}) is invalid."), {}
        if path != f"/{SCOPE}/providers/Microsoft.CostManagement/query":
            return 404, _error("NotFound", f"The resource '{path}' was not found."), {}
        if not self.has_role:
            return 403, _error("AuthorizationFailed", f"The client '{CLIENT_ID}' with object id '9f8e' does not have "
                               "authorization to perform action 'Microsoft.CostManagement/query/action' over scope "
                               f"'/{SCOPE}' or the scope is invalid."), {}
        if "api-version" not in q:
            return 400, _error("MissingApiVersionParameter", "The api-version query parameter is required."), {}
        try:
            body = json.loads(raw)
            start, end, cost_col, groups, services = _validate(body)
        except (ValueError, KeyError, TypeError) as exc:
            return 400, _error("BadRequest", f"Invalid query definition: {exc}"), {}
        offset = 0
        if "$skiptoken" in q:
            offset = int(base64.b64decode(q["$skiptoken"]).decode())
            if not self.bodies or body != self.bodies[-1]:
                return 400, _error("BadRequest", "The skiptoken does not belong to this query definition."), {}
        self.bodies.append(body)
        page_no = offset // self.page_rows + 1
        if (fault := self._fault(page_no)) is not None:
            if fault.kind == "429":
                headers = {QPU_HEADER: str(fault.retry_after)} if fault.retry_after is not None else {}
                if fault.retry_after_std is not None:
                    headers["Retry-After"] = str(fault.retry_after_std)
                return 429, _error("429", "Too many requests. Please retry."), headers
            if fault.kind == "500":
                return 500, _error("InternalServerError", "An error occurred."), {}
            if fault.kind == "malformed":
                return 200, b'{"id": "x", "properties": {"nextLink": null, "columns": [{"name": "Co', {}
            if fault.kind == "204":
                return 204, b"", {}
        rows = self._rows(start, end, cost_col, groups, services)
        page = rows[offset:offset + self.page_rows]
        if fault is not None and fault.kind == "bad_record" and page:
            page = [["n/a", *page[0][1:]], *page[1:]]
        more = offset + self.page_rows < len(rows)
        token = base64.b64encode(str(offset + self.page_rows).encode()).decode()
        next_link = (f"{self.base_url}{path}?api-version={q['api-version']}&$skiptoken={token}" if more else None)
        columns = [{"name": cost_col, "type": "Number"}, {"name": "UsageDate", "type": "Number"},
                   *({"name": g, "type": "String"} for g in groups), {"name": "Currency", "type": "String"}]
        return 200, {"id": f"{SCOPE}/providers/Microsoft.CostManagement/query/5b1e",
                     "name": "5b1e", "type": "Microsoft.CostManagement/query", "location": None, "sku": None,
                     "eTag": None, "properties": {"nextLink": next_link, "columns": columns, "rows": page}}, {}

    def _fault(self, page_no: int) -> Fault | None:
        return next_fault(self.faults, page_no)

    def _day_rows(self, day: date) -> list[dict]:
        if day in self.empty_days:
            return []
        rng = random.Random(f"{self.seed}|{day.isoformat()}|{self.versions.get(day, 0)}")
        out = []
        for service, sub, meter, (lo, hi) in METERS:
            for rg in RESOURCE_GROUPS:
                cost = (Decimal(rng.randint(lo * 10**6, hi * 10**6)) / 10**6 + Decimal(rng.random())
                        / 10**7).quantize(PLACES)
                out.append({"ServiceName": service, "MeterSubCategory": sub, "Meter": meter, "ResourceGroup": rg,
                            "ResourceGroupName": rg, "SubscriptionId": SUBSCRIPTION, "ResourceLocation": "eastus",
                            "cost": cost})
        return out

    def _rows(self, start: date, end: date, cost_col: str, groups: list[str], services: list[str] | None) -> list[list]:
        acc: dict[tuple, Decimal] = {}
        day = start
        while day <= end:
            for r in self._day_rows(day):
                if services is not None and r["ServiceName"] not in services:
                    continue
                k = (int(day.strftime("%Y%m%d")), *(r[g] for g in groups))
                acc[k] = acc.get(k, Decimal(0)) + r["cost"]
            day += timedelta(days=1)
        return [[_Num(v), k[0], *k[1:], "USD"] for k, v in sorted(acc.items())]


class _Num(str):
    """A decimal written as a bare JSON number from its exact text."""


def _dumps(body: object) -> str:
    return dumps_exact(body, lambda o: str(o) if isinstance(o, _Num) else None)


def _validate(body: dict) -> tuple[date, date, str, list[str], list[str] | None]:
    if body.get("type") not in ("Usage", "ActualCost", "AmortizedCost"):
        raise ValueError(f"type {body.get('type')!r}")
    if body.get("timeframe") != "Custom":
        raise ValueError("this fake answers Custom timeframes only")
    tp = body["timePeriod"]
    start = datetime.fromisoformat(tp["from"]).date()
    end = datetime.fromisoformat(tp["to"]).date()  # inclusive
    if end < start or (end - start).days > 366:
        raise ValueError("timePeriod: 'to' must follow 'from', within a year")
    ds = body["dataset"]
    if ds.get("granularity") != "Daily":
        raise ValueError("this fake answers Daily granularity only")
    aggs = ds["aggregation"]
    if not 1 <= len(aggs) <= 2 or any(a.get("function") != "Sum" for a in aggs.values()):
        raise ValueError("aggregation: 1 or 2 Sum expressions")
    [cost_col] = [a["name"] for a in aggs.values()]
    if cost_col not in ("Cost", "PreTaxCost", "CostUSD", "PreTaxCostUSD"):
        raise ValueError(f"aggregation column {cost_col!r}")
    groups = [g["name"] for g in ds.get("grouping", [])]
    if len(groups) > 2 or any(g not in DIMENSIONS for g in groups):
        raise ValueError(f"grouping: at most 2 of {sorted(DIMENSIONS)}")
    services = None
    if "filter" in ds:
        dim = ds["filter"]["dimensions"]
        if dim["name"] != "ServiceName" or dim["operator"] != "In":
            raise ValueError("this fake filters on ServiceName In only")
        services = list(dim["values"])
    return start, end, cost_col, groups, services


def _error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}
