"""A fake OpenRouter activity API on 127.0.0.1 speaking the real wire format (vendors.md §7).

A real HTTP server (stdlib, one daemon thread, stops itself after ``max_seconds``) so the
connector's httpx client and retries run exactly as against openrouter.ai:

* ``Authorization: Bearer <management key>`` checked, with OpenRouter's error JSON
  ``{"error": {"code": 401, "message": ...}}``: no header -> 401 "No auth credentials found", an
  unknown key -> 401 "User not found.", an inference key (``inference_key``) -> 403 (the message is
  invented: UNCONFIRMED what the real API says);
* ``GET /api/v1/activity``: the last 30 *completed* UTC days (relative to ``today``), all of them,
  or one with ``date=YYYY-MM-DD`` (a day outside that range, or not a date -> 400);
  ``api_key_hash`` (64 hex digits) and ``workspace_id`` filter; unknown parameters -> 400;
  no pagination;
* scriptable faults: 429 with ``Retry-After``, 500, a malformed (non-JSON) page, a bad record;
  empty days; restated days whose values change.

Data is deterministic from (seed, day, restatement version). ``usage`` and
``byok_usage_inference`` are JSON numbers, shortest round-trip floats as a JavaScript server prints
them (tiny ones in exponent form, like ``1.3e-05``); the truth for tests is those numbers' text.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

from ._http import LocalServer, Request

KEY = "sk-or-v1-mgmt-FAKE.test.key"
INFERENCE_KEY = "sk-or-v1-infer-FAKE.test.key"
PATH = "/api/v1/activity"
HISTORY_DAYS = 30
KNOWN = {"date", "api_key_hash", "workspace_id", "user_id", "group_by"}
KEY_HASHES = ("a" * 63 + "1", "b" * 63 + "2")  # the account's two API keys
# (model, permaslug, endpoint id, provider name, reasoning model?, BYOK?, USD per M prompt, per M completion)
ENDPOINTS = [
    ("openai/gpt-4.1", "openai/gpt-4.1-2025-04-14", "ep-0a1b2c3d-gpt41-openai", "OpenAI", False, False, "2", "8"),
    ("openai/o3-mini", "openai/o3-mini-2025-01-31", "ep-1b2c3d4e-o3mini-openai", "OpenAI", True, False, "1.1", "4.4"),
    ("anthropic/claude-sonnet-4.5", "anthropic/claude-4.5-sonnet-20250929", "ep-2c3d4e5f-sonnet-anthropic",
     "Anthropic", False, False, "3", "15"),
    ("anthropic/claude-sonnet-4.5", "anthropic/claude-4.5-sonnet-20250929", "ep-3d4e5f6a-sonnet-bedrock",
     "Amazon Bedrock", False, True, "3", "15"),  # BYOK: your AWS key; OpenRouter bills a 5% fee
    ("deepseek/deepseek-r1", "deepseek/deepseek-r1", "ep-4e5f6a7b-r1-deepinfra", "DeepInfra", True, False,
     "0.7", "2.4"),
    ("meta-llama/llama-3.3-70b-instruct", "meta-llama/llama-3.3-70b-instruct", "ep-5f6a7b8c-llama-groq", "Groq",
     False, False, "0.0000059", "0.0000079"),  # tiny bills: exponent-form numbers (1.3e-05)
]
BYOK_FEE = Decimal("0.05")


@dataclass
class Fault:
    kind: str  # 429 | 500 | malformed | bad_record
    day: date | None = None  # the `date` asked for; None: any request
    times: int = 1
    retry_after: int | None = 1


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class FakeOpenRouter(LocalServer):
    seed: int = 7
    key: str = KEY
    inference_key: str = INFERENCE_KEY
    today: date | None = None  # None: the real UTC today
    max_seconds: float = 120.0
    faults: list[Fault] = field(default_factory=list)
    empty_days: set[date] = field(default_factory=set)
    versions: dict[date, int] = field(default_factory=dict)  # restated days
    requests: list[tuple[str, list[tuple[str, str]], int]] = field(default_factory=list)

    def respond(self, request: Request) -> tuple[int, object, dict[str, str]]:
        if request.method != "GET":
            return 405, b"", {}
        return self.handle(request.path, dict(request.headers.items()))

    @property
    def base_url(self) -> str:
        return f"{self.origin}/api/v1"

    def utc_today(self) -> date:
        return self.today or datetime.now(UTC).date()

    def restate(self, day: date) -> None:
        self.versions[day] = self.versions.get(day, 0) + 1

    def dates(self) -> list[str]:
        """The ``date`` of each activity request, in order."""
        return [dict(q).get("date", "") for p, q, _ in self.requests if p == PATH]

    # -- the truth, for tests -------------------------------------------------------------------

    def items(self, start: date, end: date, api_key_hash: str | None = None) -> list[dict]:
        """Every activity item over [start, end) as the API reports it (numbers as floats)."""
        return [item for d in _days(start, end) for item in self._day(d, api_key_hash)]

    def usage_total(self, start: date, end: date, api_key_hash: str | None = None) -> Decimal:
        """The billed USD over [start, end), summed exactly from the numbers' decimal text."""
        return sum((Decimal(repr(i["usage"])) for i in self.items(start, end, api_key_hash)), Decimal(0))

    # -- the API ------------------------------------------------------------------------------

    def handle(self, raw_path: str, headers: dict[str, str]) -> tuple[int, object, dict[str, str]]:
        url = urlsplit(raw_path)
        params = parse_qsl(url.query, keep_blank_values=True)
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            status, body, extra = self._answer(url.path, params, lower)
        except Refused as exc:
            status, body, extra = exc.status, {"error": {"code": exc.status, "message": exc.message}}, {}
        self.requests.append((url.path, params, status))
        return status, body, extra

    def _answer(self, path: str, params: list[tuple[str, str]], headers: dict[str, str]):
        auth = headers.get("authorization", "")
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            raise Refused(401, "No auth credentials found")
        token = auth[7:].strip()
        if token == self.inference_key:
            raise Refused(403, "Only management keys can access this endpoint")
        if token != self.key:
            raise Refused(401, "User not found.")
        if path != PATH:
            raise Refused(404, "Not Found")
        q: dict[str, str] = {}
        for k, v in params:
            if k not in KNOWN:
                raise Refused(400, f"Invalid query parameter: {k}")
            if k in q:
                raise Refused(400, f"{k}: expected a single value")
            q[k] = v
        key_hash = q.get("api_key_hash")
        if key_hash is not None and not re.fullmatch(r"[0-9a-f]{64}", key_hash):
            raise Refused(400, "api_key_hash: must be a SHA-256 hex string")
        today = self.utc_today()
        earliest = today - timedelta(days=HISTORY_DAYS)
        if "date" in q:
            try:
                day = date.fromisoformat(q["date"]) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", q["date"]) else None
            except ValueError:
                day = None
            if day is None:
                raise Refused(400, "date: must be a date in YYYY-MM-DD format")
            if not earliest <= day < today:
                raise Refused(400, f"date: must be within the last {HISTORY_DAYS} completed UTC days "
                                   f"({earliest.isoformat()} to {(today - timedelta(days=1)).isoformat()})")
            days = [day]
        else:
            days = list(_days(earliest, today))
        fault = self._fault(days[0] if "date" in q else None)
        if fault is not None:
            if fault.kind == "429":
                extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                return 429, {"error": {"code": 429, "message": "Rate limit exceeded"}}, extra
            if fault.kind == "500":
                return 500, {"error": {"code": 500, "message": "Internal Server Error"}}, {}
            if fault.kind == "malformed":
                return 200, b'{"data": [{"date": "2026-01-01", "model": "openai/gpt-4.1", "usa', {}
        data = [item for d in days for item in self._day(d, key_hash)]
        if q.get("workspace_id"):
            data = [i for i in data if q["workspace_id"] == "default"]  # one workspace: all activity
        if fault is not None and fault.kind == "bad_record":
            data.insert(0, {**(data[0] if data else self._row(days[0], ENDPOINTS[0], 1, 1, 1, 0)),
                            "usage": "twelve cents"})
        return 200, {"data": data}, {}

    def _fault(self, day: date | None) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and (fault.day is None or fault.day == day):
                fault.times -= 1
                return fault
        return None

    # -- data ---------------------------------------------------------------------------------

    def _day(self, day: date, key_hash: str | None) -> list[dict]:
        """The day's items: per endpoint, summed over the API keys (or one key's share)."""
        if day in self.empty_days:
            return []
        out = []
        for ep in ENDPOINTS:
            acc = [0, 0, 0, 0]  # requests, prompt, completion, reasoning
            for h in KEY_HASHES:
                rng = random.Random(f"{self.seed}|{day}|{ep[2]}|{h}|{self.versions.get(day, 0)}")
                if rng.random() < 0.15 or (key_hash is not None and h != key_hash):
                    continue  # this key did not use the endpoint that day
                requests = rng.randint(1, 400)
                prompt = requests * rng.randint(200, 6000)
                completion = requests * rng.randint(20, 900)
                reasoning = int(completion * rng.uniform(0.3, 0.9)) if ep[4] else 0
                for i, v in enumerate((requests, prompt, completion, reasoning)):
                    acc[i] += v
            if acc[0]:
                out.append(self._row(day, ep, *acc))
        return out

    def _row(self, day: date, ep: tuple, requests: int, prompt: int, completion: int, reasoning: int) -> dict:
        model, permaslug, endpoint_id, provider, _, byok, p_in, p_out = ep
        cost = (Decimal(prompt) * Decimal(p_in) + Decimal(completion) * Decimal(p_out)) / 1_000_000
        inference = float(cost.quantize(Decimal("1e-10")) if cost >= Decimal("1e-4") else cost.quantize(Decimal("1e-12")))
        usage = float(Decimal(repr(inference)) * BYOK_FEE) if byok else inference
        return {"date": day.isoformat(), "model": model, "model_permaslug": permaslug, "endpoint_id": endpoint_id,
                "provider_name": provider, "usage": usage, "byok_usage_inference": inference if byok else 0,
                "requests": requests, "prompt_tokens": prompt, "completion_tokens": completion,
                "reasoning_tokens": reasoning}


def _days(start: date, end: date) -> Iterator[date]:
    d = start
    while d < end:
        yield d
        d += timedelta(days=1)
