"""A fake OpenAI Admin API on 127.0.0.1 speaking the real wire format (vendors.md §1).

A real HTTP server (stdlib, one daemon thread, stops itself after ``max_seconds``) so the
connector's httpx client, retries and paging run exactly as against api.openai.com:

* ``Authorization: Bearer <admin key>`` checked; a bad key gets 401 and OpenAI's error JSON (the
  message echoes the whole key presented: worse than the real API, so redaction is tested);
* ``start_time`` required, ``bucket_width`` 1m/1h/1d (costs: 1d only), ``limit`` within the API's
  bounds per width, ``group_by`` repeated or comma-joined and checked per endpoint;
* pages of ``limit`` buckets, ``has_more``/``next_page`` cursors, empty buckets as ``results: []``;
* scriptable faults: 429 with Retry-After, 500, a malformed (non-JSON) page, a bad record, empty
  days, and restated days whose values change on the next pull.

Data is deterministic: generated from (seed, endpoint, bucket start, restatement version).
"""

from __future__ import annotations

import base64
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from urllib.parse import parse_qsl, urlsplit

from ._http import LocalServer, Request, next_fault

KEY = "sk-admin-FAKE.test.key.0123"
WIDTHS = {"1m": 60, "1h": 3600, "1d": 86400}
USAGE_LIMITS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}  # (default, max)
MODEL_KEYS = ["project_id", "user_id", "api_key_id", "model"]
# path -> (result object kind, group_by allowed, model used)
USAGE = {
    "completions": ("completions", [*MODEL_KEYS, "batch", "service_tier"], "gpt-4o-mini-2024-07-18"),
    "embeddings": ("embeddings", MODEL_KEYS, "text-embedding-3-small"),
    "moderations": ("moderations", MODEL_KEYS, "omni-moderation-latest"),
    "images": ("images", [*MODEL_KEYS, "size", "source"], "gpt-image-1"),
    "audio_speeches": ("audio_speeches", MODEL_KEYS, "tts-1"),
    "audio_transcriptions": ("audio_transcriptions", MODEL_KEYS, "whisper-1"),
    "vector_stores": ("vector_stores", ["project_id"], None),
    "code_interpreter_sessions": ("code_interpreter_sessions", ["project_id"], None),
    "file_search_calls": ("file_searches", ["project_id", "user_id", "api_key_id", "vector_store_id"], None),
    "web_search_calls": ("web_searches", [*MODEL_KEYS, "context_level"], "gpt-4o-mini-2024-07-18"),
}
COST_GROUPS = ["project_id", "line_item", "api_key_id"]
PROJECTS = ("proj_alpha", "proj_beta")
PRICES = {"gpt-4o-2024-08-06": (2.5, 10.0), "gpt-4o-mini-2024-07-18": (0.15, 0.6)}  # USD / Mtok in, out


@dataclass
class Fault:
    kind: str  # 429 | 500 | malformed | bad_record
    endpoint: str | None = None  # a substring of the path; None: any
    page: int | None = None  # 1-based page of that pull; None: any
    times: int = 1
    retry_after: int | None = 1


@dataclass
class FakeOpenAI(LocalServer):
    seed: int = 7
    key: str = KEY
    max_seconds: float = 120.0
    faults: list[Fault] = field(default_factory=list)
    empty_days: set[date] = field(default_factory=set)
    versions: dict[date, int] = field(default_factory=dict)  # restated days
    requests: list[tuple[str, list[tuple[str, str]], int]] = field(default_factory=list)

    def respond(self, request: Request) -> tuple[int, object, dict[str, str]]:
        if request.method != "GET":
            return 405, b"", {}
        return self.handle(request.path, request.headers.get("Authorization", ""))

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def restate(self, day: date) -> None:
        self.versions[day] = self.versions.get(day, 0) + 1

    def hits(self, fragment: str = "") -> int:
        return sum(1 for path, _, _ in self.requests if fragment in path)

    # -- the API ------------------------------------------------------------------------------

    def handle(self, raw_path: str, auth: str) -> tuple[int, object, dict[str, str]]:
        url = urlsplit(raw_path)
        params = parse_qsl(url.query, keep_blank_values=True)
        status, body, headers = self._answer(url.path, params, auth)
        self.requests.append((url.path, params, status))
        return status, body, headers

    def _answer(self, path: str, params: list[tuple[str, str]], auth: str) -> tuple[int, object, dict[str, str]]:
        if auth != f"Bearer {self.key}":
            presented = auth.removeprefix("Bearer ")
            return 401, _error(f"Incorrect API key provided: {presented}. You can find your API key at "
                               "https://platform.openai.com/account/api-keys.", "invalid_request_error",
                               code="invalid_api_key"), {}
        if path == "/v1/organization/costs":
            kind, allowed, model = "costs", COST_GROUPS, None
        elif path.startswith("/v1/organization/usage/") and path.rsplit("/", 1)[1] in USAGE:
            kind, allowed, model = USAGE[path.rsplit("/", 1)[1]]
        else:
            return 404, _error(f"Invalid URL (GET {path})", "invalid_request_error"), {}
        q: dict[str, list[str]] = {}
        for k, v in params:
            q.setdefault(k, []).extend(v.split(",") if k == "group_by" else [v])
        try:
            start, end, width, limit, group_by, cursor = _validate(kind, q, allowed)
        except ValueError as exc:
            return 400, _error(str(exc), "invalid_request_error", param=str(exc.args[1])), {}
        step = WIDTHS[width]
        first = cursor if cursor is not None else start
        page_no = (first - start) // (step * limit) + 1
        if (fault := self._fault(path, page_no)) is not None:
            if fault.kind == "429":
                extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                return 429, _error("Rate limit reached for requests", "requests", code="rate_limit_exceeded"), extra
            if fault.kind == "500":
                return 500, _error("The server had an error while processing your request.", "server_error"), {}
            if fault.kind == "malformed":
                return 200, b'{"object": "page", "data": [{"object": "bucket", "start_ti', {}
        buckets, t = [], first
        while t < end and len(buckets) < limit:
            b_end = min(t - t % step + step, end)
            buckets.append({"object": "bucket", "start_time": t, "end_time": b_end,
                            "results": self._results(kind, model, t, width, group_by)})
            t = b_end
        if fault is not None and fault.kind == "bad_record" and buckets:
            buckets[0]["results"].append({"object": f"organization.usage.{kind}.result", "input_tokens": "lots"}
                                         if kind != "costs" else {"object": "organization.costs.result",
                                                                  "amount": {"value": "n/a", "currency": "usd"}})
        more = t < end
        cursor_text = "page_" + base64.b64encode(str(t).encode()).decode() if more else None
        return 200, {"object": "page", "data": buckets, "has_more": more, "next_page": cursor_text}, {}

    def _fault(self, path: str, page_no: int) -> Fault | None:
        return next_fault(self.faults, page_no, path)

    def _results(self, kind: str, model: str | None, t: int, width: str, group_by: list[str]) -> list[dict]:
        day = datetime.fromtimestamp(t, UTC).date()
        if day in self.empty_days:
            return []
        rng = random.Random(f"{self.seed}|{kind}|{t}|{width}|{self.versions.get(day, 0)}")
        scale = WIDTHS[width] / 86400
        rows = _cost_rows(rng, scale) if kind == "costs" else _usage_rows(kind, model, rng, scale)
        return _group(rows, group_by, kind)


def _validate(kind: str, q: dict[str, list[str]], allowed: list[str]) -> tuple[int, int, str, int, list[str], int | None]:
    if "start_time" not in q:
        raise ValueError("Missing required parameter: 'start_time'.", "start_time")
    try:
        start = int(q["start_time"][0])
        end = int(q["end_time"][0]) if "end_time" in q else int(time.time())
    except ValueError:
        raise ValueError("Invalid integer value for start_time/end_time.", "start_time") from None
    width = q.get("bucket_width", ["1d"])[0]
    if width not in WIDTHS or (kind == "costs" and width != "1d"):
        raise ValueError(f"Invalid value for 'bucket_width': {width!r}.", "bucket_width")
    default, top = (7, 180) if kind == "costs" else USAGE_LIMITS[width]
    limit = int(q.get("limit", [default])[0])
    if not 1 <= limit <= top:
        raise ValueError(f"Invalid 'limit': must be between 1 and {top} for bucket_width {width}.", "limit")
    group_by = q.get("group_by", [])
    if bad := [g for g in group_by if g not in allowed]:
        raise ValueError(f"Invalid value for 'group_by': {bad[0]!r}.", "group_by")
    cursor = None
    if "page" in q:
        try:
            cursor = int(base64.b64decode(q["page"][0].removeprefix("page_")).decode())
        except ValueError:
            raise ValueError("Invalid 'page' cursor.", "page") from None
    return start, end, width, limit, group_by, cursor


def _cost_rows(rng: random.Random, scale: float) -> list[dict]:
    rows = []
    for project in PROJECTS:
        for model, (p_in, p_out) in PRICES.items():
            for direction, price in (("input", p_in), ("output", p_out)):
                qty = int(rng.randint(10_000, 2_000_000) * scale)
                rows.append({"object": "organization.costs.result",
                             "amount": {"value": round(qty * price / 1e6, 6), "currency": "usd"},
                             "line_item": f"{model}, {direction}", "project_id": project,
                             "api_key_id": f"key_{project}", "quantity": qty, "quantity_unit": "tokens"})
        rows.append({"object": "organization.costs.result", "amount": {"value": round(rng.uniform(0, 2), 4),
                     "currency": "usd"}, "line_item": "web search tool calls", "project_id": project,
                     "api_key_id": None, "quantity": None, "quantity_unit": None})
    return rows


def _usage_rows(kind: str, model: str | None, rng: random.Random, scale: float) -> list[dict]:
    rows = []
    for project in PROJECTS:
        n = max(1, int(rng.randint(5, 500) * scale))
        row: dict = {"object": f"organization.usage.{kind}.result", "project_id": project, "user_id": None,
                     "api_key_id": f"key_{project}", "model": model}
        if kind == "completions":
            inp = int(rng.randint(50_000, 900_000) * scale)
            row |= {"input_tokens": inp, "input_cached_tokens": inp // 3, "output_tokens": inp // 9,
                    "input_audio_tokens": 0, "output_audio_tokens": 0, "num_model_requests": n,
                    "batch": False, "service_tier": "default"}
        elif kind in ("embeddings", "moderations"):
            row |= {"input_tokens": int(rng.randint(1_000, 90_000) * scale), "num_model_requests": n}
        elif kind == "images":
            row |= {"images": n, "num_model_requests": n, "size": "1024x1024", "source": "image.generation"}
        elif kind == "audio_speeches":
            row |= {"characters": n * 120, "num_model_requests": n}
        elif kind == "audio_transcriptions":
            row |= {"seconds": n * 30, "num_model_requests": n}
        elif kind == "vector_stores":
            row = {"object": row["object"], "project_id": project, "usage_bytes": n * 1_048_576}
        elif kind == "code_interpreter_sessions":
            row = {"object": row["object"], "project_id": project, "num_sessions": n}
        elif kind == "file_searches":
            row = {k: row[k] for k in ("object", "project_id", "user_id", "api_key_id")}
            row |= {"vector_store_id": "vs_main", "num_requests": n}
        elif kind == "web_searches":
            row |= {"num_model_requests": n, "num_requests": n, "context_level": "medium"}
        rows.append(row)
    return rows


def _group(rows: list[dict], group_by: list[str], kind: str) -> list[dict]:
    """Group keys not asked for are null and their rows summed, as the real API does."""
    keys = COST_GROUPS if kind == "costs" else ["project_id", "user_id", "api_key_id", "model", "batch",
                                                "service_tier", "size", "source", "vector_store_id", "context_level"]
    out: dict[tuple, dict] = {}
    for row in rows:
        row = {k: (v if k not in keys or k in group_by else None) for k, v in row.items()}
        ident = tuple(row.get(k) for k in keys)
        if ident not in out:
            out[ident] = row
            continue
        acc = out[ident]
        for k, v in row.items():
            if isinstance(v, int) and not isinstance(v, bool) and k not in keys:
                acc[k] = (acc.get(k) or 0) + v
            elif k == "amount":
                acc[k] = {"value": round(acc[k]["value"] + v["value"], 6), "currency": "usd"}
    return list(out.values())


def _error(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
