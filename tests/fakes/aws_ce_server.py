"""A fake AWS Cost Explorer on 127.0.0.1 speaking the real wire format (vendors.md §3.1, §3.3).

A real HTTP server (stdlib, one daemon thread, stops itself after ``max_seconds``) so boto3's
signing, serialization and error parsing run exactly as against ce.us-east-1.amazonaws.com:

* AWS JSON 1.1: ``POST /`` only, ``Content-Type: application/x-amz-json-1.1``, ``X-Amz-Target:
  AWSInsightsIndexService.GetCostAndUsage``; errors as ``{"__type": ..., "message": ...}``;
* SigV4 checked for real: ``Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/ce/
  aws4_request, SignedHeaders=..., Signature=...`` is recomputed with the known secret. An unknown
  key id is 403 ``UnrecognizedClientException``, a wrong secret 403 ``InvalidSignatureException``,
  a key without the permission (``denied_keys``) 400 ``AccessDeniedException`` naming
  ``ce:GetCostAndUsage``;
* the request validated as the botocore model says: ``TimePeriod`` (dates, or ``...T..Z`` for
  HOURLY), ``Granularity``, ``Metrics``, at most two ``GroupBy``, the ``Filter`` expression
  (``Or``/``And`` need two operands), ``NextPageToken`` only with the request it came from
  (``RequestChangedException``) and known (``InvalidNextTokenException``);
* the Filter is applied (SERVICE, BILLING_ENTITY, USAGE_TYPE, RECORD_TYPE) and the groups summed by
  the GroupBy keys; one ``ResultsByTime`` entry per period, ``Estimated`` for periods on or after
  ``final_before``; pages of at most ``page_groups`` groups (a period may continue on the next
  page), ``NextPageToken`` opaque;
* scriptable faults: 400 ``ThrottlingException`` / ``LimitExceededException``, 500
  ``InternalFailure``, 503 ``ServiceUnavailable``, a malformed (non-JSON) page, a bad record.

Data is deterministic from (seed, period, restatement version). ``UsageQuantity`` of token usage
types is in thousands of tokens (vendors.md §3.1); ``Amount`` strings have 10 decimals.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from ._http import LocalServer, Request, next_fault

KEY_ID = "AKIA.FAKE.TEST.KEY.1"
SECRET = "fakeSecretAccessKey/0123456789+ABCDEFGHIJklmnopq"
TARGET = "AWSInsightsIndexService.GetCostAndUsage"
ACCOUNT = "123456789012"
METRICS = {"AmortizedCost", "BlendedCost", "NetAmortizedCost", "NetUnblendedCost", "NormalizedUsageAmount",
           "UnblendedCost", "UsageQuantity"}
GROUP_KEYS = {"AZ", "INSTANCE_TYPE", "LEGAL_ENTITY_NAME", "INVOICING_ENTITY", "LINKED_ACCOUNT", "OPERATION",
              "PLATFORM", "PURCHASE_TYPE", "SERVICE", "TENANCY", "RECORD_TYPE", "USAGE_TYPE"}
FILTER_KEYS = {"SERVICE", "BILLING_ENTITY", "USAGE_TYPE", "RECORD_TYPE", "LINKED_ACCOUNT", "REGION"}
Q10 = Decimal("0.0000000001")


@dataclass(frozen=True)
class Line:
    service: str
    usage_type: str
    unit: str  # UsageQuantity.Unit
    price: Decimal  # USD per unit of quantity (1K tokens for token lines)
    entity: str = "AWS"  # BILLING_ENTITY
    record_type: str = "Usage"


# What the account uses: first-party Bedrock, Marketplace Claude, and spend the filter must drop.
LINES = [
    Line("Amazon Bedrock", "USE1-NovaLite-input-tokens", "N/A", Decimal("0.00006")),
    Line("Amazon Bedrock", "USE1-NovaLite-output-tokens", "N/A", Decimal("0.00024")),
    Line("Amazon Bedrock", "USE1-Claude4.6Sonnet-input-tokens", "N/A", Decimal("0.003")),
    Line("Amazon Bedrock", "USE1-Claude4.6Sonnet-output-tokens", "N/A", Decimal("0.015")),
    Line("Amazon Bedrock", "USE1-Claude4.6Sonnet-cache-read-input-token-count", "N/A", Decimal("0.0003")),
    Line("Amazon Bedrock", "USW2-Llama3.3-70B-input-tokens", "N/A", Decimal("0.00072")),
    Line("Claude 3 Haiku (Amazon Bedrock Edition)", "USE1-MP:USE1_InputTokenCount-Units", "Units",
         Decimal("0.00025"), "AWS Marketplace"),
    Line("Claude 3 Haiku (Amazon Bedrock Edition)", "USE1-MP:USE1_OutputTokenCount-Units", "Units",
         Decimal("0.00125"), "AWS Marketplace"),
    Line("Claude Sonnet 4.5 (Amazon Bedrock Edition)", "USW2-MP:USW2_InputTokenCount-Units", "Units",
         Decimal("0.003"), "AWS Marketplace"),
    Line("Amazon Simple Storage Service", "USE1-TimedStorage-ByteHrs", "GB-Mo", Decimal("0.023")),
    Line("Amazon Elastic Compute Cloud - Compute", "USE1-BoxUsage:t3.micro", "Hrs", Decimal("0.0104")),
]


@dataclass
class Fault:
    kind: str  # throttle | limit | 500 | 503 | malformed | bad_record
    page: int | None = None  # 1-based page of a pull (None: any)
    times: int = 1


class Refused(Exception):
    def __init__(self, status: int, kind: str, message: str):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


@dataclass
class FakeCostExplorer(LocalServer):
    seed: int = 7
    key: str = SECRET  # the secret access key (what the source's api_key holds)
    key_id: str = KEY_ID
    denied_keys: set[str] = field(default_factory=set)  # key ids without ce:GetCostAndUsage
    page_groups: int = 100
    final_before: date = date(2026, 3, 1)  # periods from here on are Estimated
    max_seconds: float = 120.0
    faults: list[Fault] = field(default_factory=list)
    empty_days: set[date] = field(default_factory=set)
    versions: dict[date, int] = field(default_factory=dict)  # restated days
    requests: list[tuple[dict[str, Any], int]] = field(default_factory=list)  # (request body, status)
    _tokens: dict[str, tuple[str, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    content_type = "application/x-amz-json-1.1"

    def respond(self, request: Request) -> tuple[int, object, dict[str, str]]:
        if request.method != "POST":
            return 404, b"", {}
        status, body = self.handle(request.path, dict(request.headers.items()), request.body)
        return status, body, {"x-amzn-RequestId": f"fake-{len(self.requests):08d}"}

    @property
    def base_url(self) -> str:
        return self.origin

    def restate(self, day: date) -> None:
        self.versions[day] = self.versions.get(day, 0) + 1

    # -- the truth, for tests -------------------------------------------------------------------

    def usage(self, start: datetime, hours: int, line: Line) -> tuple[Decimal, Decimal] | None:
        """(quantity, cost) of one line over one period, or None when it was not used."""
        day = start.date()
        if day in self.empty_days:
            return None
        version = self.versions.get(day, 0)
        rng = random.Random(f"{self.seed}|{start.isoformat()}|{hours}|{line.usage_type}|{line.service}|{version}")
        if rng.random() < 0.15:
            return None
        qty = Decimal(rng.randint(1, 400_000) * hours) / 100  # thousands of tokens, 2 decimals
        return qty, (qty * line.price).quantize(Q10, ROUND_HALF_EVEN)

    def cost(self, start: date, end: date, ai_only: bool = True) -> Decimal:
        """UnblendedCost the connector's query should see over [start, end), daily."""
        total = Decimal(0)
        day = start
        while day < end:
            for line in LINES:
                if ai_only and not (line.service == "Amazon Bedrock" or line.entity == "AWS Marketplace"):
                    continue
                got = self.usage(datetime(day.year, day.month, day.day), 24, line)
                total += got[1] if got else 0
            day += timedelta(days=1)
        return total

    # -- HTTP -----------------------------------------------------------------------------------

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        with self._lock:
            try:
                request = self._check(path, headers, raw)
                status, body = self._answer(request)
            except Refused as exc:
                request, status, body = {}, exc.status, {"__type": exc.kind, "message": exc.message}
            self.requests.append((request, status))
            return status, body

    def _check(self, path: str, headers: dict[str, str], raw: bytes) -> dict[str, Any]:
        h = {k.lower(): v for k, v in headers.items()}
        if path != "/":
            raise Refused(404, "UnknownOperationException", f"unknown path {path}")
        auth = h.get("authorization", "")
        m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([a-z0-9-]+)/([a-z0-9]+)/aws4_request, "
                         r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})", auth)
        if not m:
            raise Refused(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        key_id, day, region, service, signed, signature = m.groups()
        if service != "ce":
            raise Refused(403, "InvalidSignatureException", "Credential should be scoped to correct service: 'ce'.")
        if key_id != self.key_id:
            raise Refused(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
        if signature != self._signature(h, raw, day, region, signed):
            raise Refused(403, "InvalidSignatureException",
                          "The request signature we calculated does not match the signature you provided. "
                          "Check your AWS Secret Access Key and signing method. Consult the service documentation "
                          "for details.")
        if key_id in self.denied_keys:
            raise Refused(400, "AccessDeniedException",
                          f"User: arn:aws:iam::{ACCOUNT}:user/aispend-reader is not authorized to perform: "
                          f"ce:GetCostAndUsage on resource: arn:aws:ce:us-east-1:{ACCOUNT}:/GetCostAndUsage "
                          "because no identity-based policy allows the ce:GetCostAndUsage action")
        if h.get("x-amz-target") != TARGET:
            raise Refused(400, "UnknownOperationException", f"X-Amz-Target must be {TARGET}")
        if h.get("content-type", "").split(";")[0].strip() != "application/x-amz-json-1.1":
            raise Refused(400, "SerializationException", "Content-Type must be application/x-amz-json-1.1")
        try:
            request = json.loads(raw)
        except ValueError:
            raise Refused(400, "SerializationException", "the body is not JSON") from None
        if not isinstance(request, dict):
            raise Refused(400, "SerializationException", "the body is not a JSON object")
        return request

    def _signature(self, h: dict[str, str], raw: bytes, day: str, region: str, signed: str) -> str:
        names = signed.split(";")
        if "host" not in names or "x-amz-date" not in names:
            raise Refused(403, "IncompleteSignatureException", "host and x-amz-date must be signed")
        canonical_headers = "".join(f"{n}:{' '.join(h.get(n, '').split())}\n" for n in names)
        canonical = "\n".join(["POST", "/", "", canonical_headers, signed, hashlib.sha256(raw).hexdigest()])
        scope = f"{day}/{region}/ce/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", h["x-amz-date"], scope, hashlib.sha256(canonical.encode()).hexdigest()])
        k = _sign(("AWS4" + self.key).encode(), day)
        for part in (region, "ce", "aws4_request"):
            k = _sign(k, part)
        return hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()

    def _fault(self, page: int) -> Fault | None:
        return next_fault(self.faults, page)

    def _answer(self, request: dict[str, Any]) -> tuple[int, Any]:
        granularity, periods = self._validate(request)
        plain = {k: v for k, v in request.items() if k != "NextPageToken"}
        digest = hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()
        offset, page = 0, 1
        if "NextPageToken" in request:
            token = request["NextPageToken"]
            if token not in self._tokens:
                raise Refused(400, "InvalidNextTokenException", "The pagination token is invalid. Try again "
                              "without a pagination token.")
            was, offset = self._tokens[token]
            if was != digest:
                raise Refused(400, "RequestChangedException", "Your request parameters changed between pages. "
                              "Try again with the old parameters or without a pagination token.")
            page = 1 + len({o for d, o in self._tokens.values() if d == digest and o <= offset})
        fault = self._fault(page)
        if fault is not None and fault.kind == "throttle":
            raise Refused(400, "ThrottlingException", "Rate exceeded")
        if fault is not None and fault.kind == "limit":
            raise Refused(400, "LimitExceededException", "You have exceeded the rate limit for this API.")
        if fault is not None and fault.kind in ("500", "503"):
            kind = "InternalFailure" if fault.kind == "500" else "ServiceUnavailable"
            raise Refused(int(fault.kind), kind, "We encountered an internal error. Please try again.")
        if fault is not None and fault.kind == "malformed":
            return 200, b'{"GroupDefinitions": [], "ResultsByTime": [{"TimePeriod": '
        keys = [g["Key"] for g in request.get("GroupBy") or []]
        items: list[tuple[int, list[Any] | None]] = []  # (period index, group or None for an empty period)
        results = []
        for i, (start, hours) in enumerate(periods):
            groups = self._groups(request, start, hours, keys)
            results.append((start, hours, groups))
            items.extend((i, g) for g in groups) if groups else items.append((i, None))
        chunk = items[offset:offset + self.page_groups]
        nxt = offset + len(chunk)
        body: dict[str, Any] = {"GroupDefinitions": [dict(g) for g in request.get("GroupBy") or []],
                                "ResultsByTime": [], "DimensionValueAttributes": []}
        by_period: dict[int, list[Any]] = {}
        for i, g in chunk:
            by_period.setdefault(i, [])
            if g is not None:
                by_period[i].append(g)
        for i, groups in by_period.items():
            start, hours, all_groups = results[i]
            entry: dict[str, Any] = {"TimePeriod": {"Start": _fmt(start, granularity),
                                                    "End": _fmt(start + timedelta(hours=hours), granularity)},
                                     "Total": {}, "Groups": groups,
                                     "Estimated": start.date() >= self.final_before}
            if not keys:
                entry["Groups"], entry["Total"] = [], all_groups[0]["Metrics"] if all_groups else {}
            body["ResultsByTime"].append(entry)
        if fault is not None and fault.kind == "bad_record" and body["ResultsByTime"]:
            for entry in body["ResultsByTime"]:
                if entry["Groups"]:
                    entry["Groups"][0]["Metrics"]["UnblendedCost"]["Amount"] = "12,50"
                    break
        if nxt < len(items):
            token = base64.b64encode(f"{digest[:16]}:{nxt}:{random.random()}".encode()).decode()
            self._tokens[token] = (digest, nxt)
            body["NextPageToken"] = token
        return 200, body

    def _validate(self, request: dict[str, Any]) -> tuple[str, list[tuple[datetime, int]]]:
        def bad(message: str) -> Refused:
            return Refused(400, "ValidationException", message)

        unknown = set(request) - {"TimePeriod", "Granularity", "Filter", "Metrics", "GroupBy", "BillingViewArn",
                                  "NextPageToken"}
        if unknown:
            raise Refused(400, "SerializationException", f"Unknown members: {sorted(unknown)}")
        granularity = request.get("Granularity")
        if granularity not in ("DAILY", "HOURLY", "MONTHLY"):
            raise bad("Granularity is required: DAILY, MONTHLY or HOURLY")
        tp = request.get("TimePeriod") or {}
        fmt = "%Y-%m-%dT%H:%M:%SZ" if granularity == "HOURLY" else "%Y-%m-%d"
        try:
            start, end = (datetime.strptime(str(tp.get(k)), fmt) for k in ("Start", "End"))
        except ValueError:
            raise bad(f"TimePeriod Start and End must be {'yyyy-MM-ddThh:mm:ssZ' if granularity == 'HOURLY' else 'yyyy-MM-dd'}") from None
        if start >= end:
            raise bad("Start date (inclusive) must be before End date (exclusive)")
        metrics = request.get("Metrics")
        if not isinstance(metrics, list) or not metrics or set(metrics) - METRICS:
            raise bad(f"Metrics must be a non-empty list of {sorted(METRICS)}")
        group_by = request.get("GroupBy") or []
        if len(group_by) > 2:
            raise bad("You can only group by up to two dimensions")
        for g in group_by:
            if g.get("Type") != "DIMENSION" or g.get("Key") not in GROUP_KEYS:
                raise bad(f"Invalid group by: {g}")
        if "Filter" in request:
            self._valid_filter(request["Filter"])
        if granularity == "MONTHLY":
            raise bad("the fake serves DAILY and HOURLY only")
        hours = 1 if granularity == "HOURLY" else 24
        periods = []
        t = start
        while t < end:
            periods.append((t, hours))
            t += timedelta(hours=hours)
        return granularity, periods

    def _valid_filter(self, expr: Any) -> None:
        if not isinstance(expr, dict) or len(expr) != 1:
            raise Refused(400, "ValidationException", "Expression must have exactly one of Or, And, Not, Dimensions")
        (op, value), = expr.items()
        if op in ("Or", "And"):
            if not isinstance(value, list) or len(value) < 2:
                raise Refused(400, "ValidationException", f"{op} expression must have at least 2 operands")
            for v in value:
                self._valid_filter(v)
        elif op == "Not":
            self._valid_filter(value)
        elif op == "Dimensions":
            if value.get("Key") not in FILTER_KEYS or not value.get("Values"):
                raise Refused(400, "ValidationException", f"Invalid dimension filter: {value}")
            if set(value.get("MatchOptions") or ["EQUALS"]) - {"EQUALS", "CASE_SENSITIVE"}:
                raise Refused(400, "ValidationException", "Dimensions MatchOptions must be EQUALS or CASE_SENSITIVE")
        else:
            raise Refused(400, "ValidationException", f"unsupported expression {op}")

    def _matches(self, expr: Any, line: Line) -> bool:
        if expr is None:
            return True
        (op, value), = expr.items()
        if op == "Or":
            return any(self._matches(v, line) for v in value)
        if op == "And":
            return all(self._matches(v, line) for v in value)
        if op == "Not":
            return not self._matches(value, line)
        actual = {"SERVICE": line.service, "BILLING_ENTITY": line.entity, "USAGE_TYPE": line.usage_type,
                  "RECORD_TYPE": line.record_type, "LINKED_ACCOUNT": ACCOUNT, "REGION": "us-east-1"}[value["Key"]]
        return actual in value["Values"]

    def _groups(self, request: dict[str, Any], start: datetime, hours: int, keys: list[str]) -> list[dict[str, Any]]:
        sums: dict[tuple[str, ...], list[Any]] = {}
        for line in LINES:
            if not self._matches(request.get("Filter"), line):
                continue
            got = self.usage(start, hours, line)
            if got is None:
                continue
            values = {"SERVICE": line.service, "USAGE_TYPE": line.usage_type, "LINKED_ACCOUNT": ACCOUNT,
                      "RECORD_TYPE": line.record_type}
            k = tuple(values.get(key, "NoValue") for key in keys)
            acc = sums.setdefault(k, [Decimal(0), Decimal(0), line.unit if "USAGE_TYPE" in keys else "N/A"])
            acc[0] += got[0]
            acc[1] += got[1]
        metrics = set(request["Metrics"])
        out = []
        for k, (qty, cost, unit) in sums.items():
            m: dict[str, Any] = {}
            if "UnblendedCost" in metrics:
                m["UnblendedCost"] = {"Amount": format(cost.quantize(Q10), "f"), "Unit": "USD"}
            if "UsageQuantity" in metrics:
                m["UsageQuantity"] = {"Amount": format(qty, "f"), "Unit": unit}
            out.append({"Keys": list(k), "Metrics": m})
        return out


def _fmt(when: datetime, granularity: str) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if granularity == "HOURLY" else when.strftime("%Y-%m-%d")
