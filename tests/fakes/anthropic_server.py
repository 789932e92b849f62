"""A fake Anthropic Admin API on 127.0.0.1 speaking the real wire format (vendors.md §2).

A real HTTP server (stdlib, one daemon thread, stops itself after ``max_seconds``) so the
connector's httpx client, retries and paging run exactly as against api.anthropic.com:

* ``x-api-key: <admin key>`` checked (401 with Anthropic's error JSON
  ``{"type": "error", "error": {"type": "authentication_error", ...}, "request_id"}``), and
  ``anthropic-version`` required (400 without it);
* ``starting_at`` required and RFC 3339 (``ending_at`` too when given), ``bucket_width`` 1d/1h/1m
  (cost report: 1d only), ``limit`` within the API's bounds per width, array parameters only in
  bracket form (``group_by[]=model``) with values checked per endpoint, unknown parameters refused;
* pages of ``limit`` buckets, ``has_more``/``next_page`` (``page_`` + base64 of the next bucket's
  start, as the docs' example), empty buckets as ``results: []``;
* scriptable faults: 429 with ``retry-after``, 500 ``api_error``, 529 ``overloaded_error``, a
  malformed (non-JSON) page, a bad record; empty days; restated days whose values change.

Data is deterministic, generated from (seed, bucket start, width, restatement version). The cost
report is the daily usage priced at list prices: ``amount`` is a decimal string in CENTS with
fractional cents, as the real API sends it.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

from ._http import LocalServer, Request, next_fault

KEY = "sk-ant-admin01-FAKE.test.key"
VERSION = "2023-06-01"
WIDTHS = {"1m": 60, "1h": 3600, "1d": 86400}
USAGE_LIMITS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}  # (default, max)
COST_LIMITS = (7, 31)
USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"
USAGE_GROUPS = ["api_key_id", "workspace_id", "model", "service_tier", "context_window", "inference_geo",
                "speed", "account_id", "service_account_id"]
COST_GROUPS = ["workspace_id", "description"]
USAGE_FILTERS = {"api_key_ids[]", "workspace_ids[]", "models[]", "account_ids[]", "service_account_ids[]",
                 "service_tiers[]", "context_window[]", "inference_geos[]", "speeds[]"}
COMMON = {"starting_at", "ending_at", "bucket_width", "limit", "page", "group_by[]"}
# Cost lines that follow the description (null when not grouping by it).
DESCRIBED = ("cost_type", "model", "token_type", "service_tier", "context_window", "inference_geo")
TOKENS = ("uncached_input_tokens", "output_tokens", "cache_read_input_tokens",
          "cache_creation.ephemeral_5m_input_tokens", "cache_creation.ephemeral_1h_input_tokens")
# model -> (name in descriptions, USD per million tokens for each of TOKENS)
MODELS = {
    "claude-sonnet-4-5-20250929": ("Claude Sonnet 4.5", ("3", "15", "0.30", "3.75", "6")),
    "claude-haiku-4-5-20251001": ("Claude Haiku 4.5", ("1", "5", "0.10", "1.25", "2")),
}
LABELS = dict(zip(TOKENS, ("Input Tokens", "Output Tokens", "Cache Read", "Cache Write (5m)", "Cache Write (1h)"),
                  strict=True))
WORKSPACE = "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"  # None is the default workspace
# (workspace, api key, model, service tier): the callers whose usage the fake reports
CALLERS = [
    (None, "apikey_01Rj2N8SVvo6BePZj99NhmiT", "claude-sonnet-4-5-20250929", "standard"),
    (None, None, "claude-sonnet-4-5-20250929", "standard"),  # the Console / Workbench: no key id
    (WORKSPACE, "apikey_01Ab3CDeFgHiJkLmNoPqRsTu", "claude-sonnet-4-5-20250929", "standard"),
    (WORKSPACE, "apikey_01Ab3CDeFgHiJkLmNoPqRsTu", "claude-haiku-4-5-20251001", "standard"),
    (WORKSPACE, "apikey_01Zz9YXwVuTsRqPoNmLkJiHg", "claude-haiku-4-5-20251001", "batch"),
]
WEB_SEARCH_CENTS = Decimal(1)  # $10 per 1,000 searches
CODE_EXECUTION_CENTS = Decimal(5)  # per container-hour


@dataclass
class Fault:
    kind: str  # 429 | 500 | 529 | malformed | bad_record
    endpoint: str | None = None  # a substring of the path; None: any
    page: int | None = None  # 1-based page of that pull; None: any
    times: int = 1
    retry_after: int | None = 1


class Refused(Exception):
    def __init__(self, status: int, kind: str, message: str):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


@dataclass
class FakeAnthropic(LocalServer):
    seed: int = 7
    key: str = KEY
    max_seconds: float = 120.0
    faults: list[Fault] = field(default_factory=list)
    empty_days: set[date] = field(default_factory=set)
    versions: dict[date, int] = field(default_factory=dict)  # restated days
    requests: list[tuple[str, list[tuple[str, str]], int]] = field(default_factory=list)
    _ids: int = 0

    def respond(self, request: Request) -> tuple[int, object, dict[str, str]]:
        if request.method != "GET":
            return 405, b"", {}
        return self.handle(request.path, dict(request.headers.items()))

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def restate(self, day: date) -> None:
        self.versions[day] = self.versions.get(day, 0) + 1

    def hits(self, fragment: str = "") -> int:
        return sum(1 for path, _, _ in self.requests if fragment in path)

    # -- the truth, for tests -------------------------------------------------------------------

    def cost_cents(self, start: date, end: date) -> Decimal:
        """The organization's total cost over [start, end), in cents, as the cost report sums it."""
        return sum((Decimal(r["amount"]) for d in _days(start, end) for r in self._cost_rows(_ts(d))), Decimal(0))

    def usage_totals(self, start: date, end: date, width: str = "1d") -> dict[str, int]:
        """Each token field summed over [start, end) at ``width``, from the report's own records."""
        out = dict.fromkeys(TOKENS, 0)
        step, t = WIDTHS[width], _ts(start)
        while t < _ts(end):
            for rec in self._usage_records(t, width):
                for k in TOKENS:
                    out[k] += rec[k]
            t += step
        return out

    # -- the API ------------------------------------------------------------------------------

    def handle(self, raw_path: str, headers: dict[str, str]) -> tuple[int, object, dict[str, str]]:
        url = urlsplit(raw_path)
        params = parse_qsl(url.query, keep_blank_values=True)
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            status, body, extra = self._answer(url.path, params, lower)
        except Refused as exc:
            status, body, extra = exc.status, self._error(exc.kind, exc.message), {}
        self.requests.append((url.path, params, status))
        return status, body, extra

    def _error(self, kind: str, message: str) -> dict:
        self._ids += 1
        return {"type": "error", "error": {"type": kind, "message": message}, "request_id": f"req_fake{self._ids:06d}"}

    def _answer(self, path: str, params: list[tuple[str, str]], headers: dict[str, str]):
        if headers.get("x-api-key") != self.key:
            raise Refused(401, "authentication_error", "invalid x-api-key")
        if "anthropic-version" not in headers:
            raise Refused(400, "invalid_request_error", "anthropic-version: header is required")
        if headers["anthropic-version"] != VERSION:
            raise Refused(400, "invalid_request_error", f"anthropic-version: invalid version {headers['anthropic-version']!r}")
        if path == COST_PATH:
            kind, allowed = "cost", COST_GROUPS
        elif path == USAGE_PATH:
            kind, allowed = "usage", USAGE_GROUPS
        else:
            raise Refused(404, "not_found_error", "Not found")
        start, end, width, limit, group_by, cursor = _validate(kind, params, allowed, headers)
        step = WIDTHS[width]
        first = cursor if cursor is not None else start
        page_no = (first - start) // (step * limit) + 1
        fault = self._fault(path, page_no)
        if fault is not None and fault.kind in ("429", "500", "529"):
            if fault.kind == "429":
                extra = {"retry-after": str(fault.retry_after)} if fault.retry_after is not None else {}
                return 429, self._error("rate_limit_error", "Number of requests has exceeded your rate limit. "
                                        "Please try again later."), extra
            if fault.kind == "500":
                return 500, self._error("api_error", "Internal server error"), {}
            return 529, self._error("overloaded_error", "Overloaded"), {}
        if fault is not None and fault.kind == "malformed":
            return 200, b'{"data": [{"starting_at": "2026-01-01T00:00:00Z", "ending_at": "2026-01-02T0', {}
        buckets, t = [], first
        while t < end and len(buckets) < limit:
            b_end = min(t - t % step + step, end)
            results = (_group_costs(self._cost_rows(t), group_by) if kind == "cost"
                       else _group_usage(self._usage_records(t, width), group_by))
            buckets.append({"starting_at": _rfc(t), "ending_at": _rfc(b_end), "results": results})
            t = b_end
        if fault is not None and fault.kind == "bad_record" and buckets:
            bad = {"amount": "n/a", "currency": "USD"} if kind == "cost" else \
                {**_usage_result(dict.fromkeys((*TOKENS, "web_search_requests"), 0), group_by), "output_tokens": "lots"}
            buckets[0]["results"].insert(0, bad)
        more = t < end
        next_page = "page_" + base64.b64encode(_rfc(t).encode()).decode() if more else None
        return 200, {"data": buckets, "has_more": more, "next_page": next_page}, {}

    def _fault(self, path: str, page_no: int) -> Fault | None:
        return next_fault(self.faults, page_no, path)

    # -- data ---------------------------------------------------------------------------------

    def _usage_records(self, t: int, width: str) -> list[dict]:
        """One record per caller and bucket: every token field and every dimension, ungrouped."""
        day = datetime.fromtimestamp(t, UTC).date()
        if day in self.empty_days:
            return []
        rng = random.Random(f"{self.seed}|usage|{t}|{width}|{self.versions.get(day, 0)}")
        scale = WIDTHS[width] / 86400
        records = []
        for workspace, key, model, tier in CALLERS:
            uncached = int(rng.randint(20_000, 900_000) * scale)
            records.append({
                "uncached_input_tokens": uncached,
                "output_tokens": uncached // 7,
                "cache_read_input_tokens": int(rng.randint(0, 3_000_000) * scale),
                "cache_creation.ephemeral_5m_input_tokens": int(rng.randint(0, 200_000) * scale),
                "cache_creation.ephemeral_1h_input_tokens": int(rng.randint(0, 50_000) * scale) if tier == "standard" else 0,
                "web_search_requests": int(rng.randint(0, 40) * scale) if model.startswith("claude-sonnet") else 0,
                "api_key_id": key, "workspace_id": workspace, "model": model, "service_tier": tier,
                "context_window": "0-200k", "inference_geo": "global", "speed": None,
                "account_id": None, "service_account_id": None,
            })
        return records

    def _cost_rows(self, t: int) -> list[dict]:
        """The day's usage at list prices (batch half price), one line per workspace and description."""
        day_start = t - t % 86400
        rows: list[dict] = []
        searches: dict[str | None, int] = {}
        for rec in self._usage_records(day_start, "1d"):
            name, prices = MODELS[rec["model"]]
            for token, price in zip(TOKENS, prices, strict=True):
                if not rec[token]:
                    continue
                cents = Decimal(rec[token]) * Decimal(price) / 10_000  # tokens x USD/Mtok x 100 / 1e6
                if rec["service_tier"] == "batch":
                    cents /= 2
                rows.append({"amount": cents, "currency": "USD", "workspace_id": rec["workspace_id"],
                             "description": f"{name} Usage - {LABELS[token]}"
                                            + (" (Batch)" if rec["service_tier"] == "batch" else ""),
                             "cost_type": "tokens", "model": rec["model"], "token_type": token,
                             "service_tier": rec["service_tier"], "context_window": "0-200k", "inference_geo": None})
            searches[rec["workspace_id"]] = searches.get(rec["workspace_id"], 0) + rec["web_search_requests"]
        for workspace, n in searches.items():
            if n:
                rows.append(_other(workspace, "Web Search Usage", "web_search", n * WEB_SEARCH_CENTS))
        if rows:
            hours = random.Random(f"{self.seed}|code|{day_start}|{self.versions.get(_day(day_start), 0)}").randint(1, 9)
            rows.append(_other(WORKSPACE, "Code Execution Usage", "code_execution", hours * CODE_EXECUTION_CENTS))
        return _group_costs(rows, COST_GROUPS)


def _other(workspace: str | None, description: str, cost_type: str, cents: Decimal) -> dict:
    return {"amount": cents, "currency": "USD", "workspace_id": workspace, "description": description,
            "cost_type": cost_type, "model": None, "token_type": None, "service_tier": None,
            "context_window": None, "inference_geo": None}


def _group_costs(rows: list[dict], group_by: list[str]) -> list[dict]:
    """Lines with the same requested keys summed; the description's details null without it."""
    out: dict[tuple, dict] = {}
    for row in rows:
        row = dict(row)
        if "workspace_id" not in group_by:
            row["workspace_id"] = None
        if "description" not in group_by:
            row.update(dict.fromkeys(("description", *DESCRIBED)))
        ident = (row["workspace_id"], row["description"], *(row[k] for k in DESCRIBED))
        if ident in out:
            out[ident]["amount"] += Decimal(row["amount"])
        else:
            out[ident] = row | {"amount": Decimal(row["amount"])}
    return [row | {"amount": _cents_text(row["amount"])} for row in out.values()]


def _cents_text(cents: Decimal) -> str:
    """A decimal string in cents with up to 5 decimals (fractional cents occur), e.g. ``123.78912``."""
    return format(cents.quantize(Decimal("0.00001")).normalize(), "f")


def _group_usage(records: list[dict], group_by: list[str]) -> list[dict]:
    out: dict[tuple, dict] = {}
    for rec in records:
        ident = tuple(rec[k] if k in group_by else None for k in USAGE_GROUPS)
        acc = out.setdefault(ident, dict.fromkeys((*TOKENS, "web_search_requests"), 0)
                             | {k: rec[k] for k in USAGE_GROUPS if k in group_by})
        for k in (*TOKENS, "web_search_requests"):
            acc[k] += rec[k]
    return [_usage_result(acc, group_by) for acc in out.values()]


def _usage_result(acc: dict, group_by: list[str]) -> dict:
    result = {
        "uncached_input_tokens": acc["uncached_input_tokens"],
        "cache_creation": {"ephemeral_1h_input_tokens": acc["cache_creation.ephemeral_1h_input_tokens"],
                           "ephemeral_5m_input_tokens": acc["cache_creation.ephemeral_5m_input_tokens"]},
        "cache_read_input_tokens": acc["cache_read_input_tokens"],
        "output_tokens": acc["output_tokens"],
        "server_tool_use": {"web_search_requests": acc["web_search_requests"]},
    }
    for k in USAGE_GROUPS:
        if k == "speed" and "speed" not in group_by:
            continue  # only present with the fast-mode beta
        result[k] = acc.get(k) if k in group_by else None  # null when not grouped by
    return result


def _validate(kind: str, params: list[tuple[str, str]], allowed: list[str],
              headers: dict[str, str]) -> tuple[int, int, str, int, list[str], int | None]:
    known = COMMON | (USAGE_FILTERS if kind == "usage" else set())
    q: dict[str, list[str]] = {}
    for k, v in params:
        if k not in known:
            hint = f" (array parameters are written {k}[])" if f"{k}[]" in known else ""
            raise Refused(400, "invalid_request_error", f"{k}: Extra inputs are not permitted{hint}")
        q.setdefault(k, []).append(v)
    if "starting_at" not in q:
        raise Refused(400, "invalid_request_error", "starting_at: Field required")
    width = q.get("bucket_width", ["1d"])[0]
    if width not in WIDTHS or (kind == "cost" and width != "1d"):
        choices = "'1d'" if kind == "cost" else "'1d', '1h' or '1m'"
        raise Refused(400, "invalid_request_error", f"bucket_width: Input should be {choices}")
    step = WIDTHS[width]
    start = _parse("starting_at", q["starting_at"][0])
    start -= start % step  # snapped to the start of the bucket
    end = _parse("ending_at", q["ending_at"][0]) if "ending_at" in q else start + 7 * step
    if end <= start:
        raise Refused(400, "invalid_request_error", "ending_at: must be after starting_at")
    default, top = COST_LIMITS if kind == "cost" else USAGE_LIMITS[width]
    try:
        limit = int(q.get("limit", [str(default)])[0])
    except ValueError:
        raise Refused(400, "invalid_request_error", "limit: Input should be a valid integer") from None
    if not 1 <= limit <= top:
        raise Refused(400, "invalid_request_error", f"limit: must be between 1 and {top} for bucket_width {width}")
    group_by = q.get("group_by[]", [])
    if bad := [g for g in group_by if g not in allowed]:
        raise Refused(400, "invalid_request_error", f"group_by[]: Input should be one of {', '.join(allowed)} "
                                                    f"(got {bad[0]!r})")
    if "speed" in group_by and "fast-mode" not in headers.get("anthropic-beta", ""):
        raise Refused(400, "invalid_request_error", "group_by[]: 'speed' requires the anthropic-beta header")
    cursor = None
    if "page" in q:
        try:
            cursor = _parse("page", base64.b64decode(q["page"][0].removeprefix("page_")).decode())
        except (ValueError, Refused):
            raise Refused(400, "invalid_request_error", "page: invalid page token") from None
    return start, end, width, limit, group_by, cursor


def _parse(name: str, text: str) -> int:
    """An RFC 3339 date-time with a zone (``Z`` or an offset) -> epoch seconds."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is None or "T" not in text.upper() or when.tzinfo is None:
        raise Refused(400, "invalid_request_error", f"{name}: Input should be a valid RFC 3339 datetime")
    return int(when.timestamp())


def _rfc(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ts(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def _day(t: int) -> date:
    return datetime.fromtimestamp(t, UTC).date()


def _days(start: date, end: date) -> Iterator[date]:
    d = start
    while d < end:
        yield d
        d += timedelta(days=1)
