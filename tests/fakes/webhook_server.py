"""A real HTTP receiver for Slack, Teams and generic webhook posts, on 127.0.0.1.

It records every request, answers with scripted statuses first (``statuses=[500, 500]``: two
failures, then 200), and, given ``signing_key``, verifies ``X-Aispend-Signature`` the way a
receiver would (HMAC-SHA256 of the raw body, constant-time compare; the timestamp header must
equal the body's signed ``timestamp``), answering 401 on a mismatch.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from ._http import LocalServer, Request


def verify(key: bytes, body: bytes, header: str | None) -> bool:
    """The receiver's check: what docs/budgets-alerts.md shows."""
    expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


@dataclass
class WebhookReceiver(LocalServer):
    signing_key: bytes | None = None
    statuses: list[int] = field(default_factory=list)  # answered first, one per request; then 200
    max_seconds: float = 120.0
    requests: list[Request] = field(default_factory=list)
    accepted: list[tuple[str, dict[str, Any], Request]] = field(default_factory=list)  # (path, body, request)
    signature_failures: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def respond(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.requests.append(request)
            body = json.loads(request.body)
            if self.signing_key is not None and request.path.startswith("/hook"):
                signed = verify(self.signing_key, request.body, request.headers.get("X-Aispend-Signature"))
                fresh = request.headers.get("X-Aispend-Timestamp") == str(body.get("timestamp"))
                if not (signed and fresh):
                    self.signature_failures += 1
                    return 401, {"error": "bad signature"}, {}
            status = self.statuses.pop(0) if self.statuses else 200
            if status == 200:
                self.accepted.append((request.path, body, request))
            return status, {"ok": status == 200}, {}

    def bodies(self, prefix: str) -> list[dict[str, Any]]:
        return [body for path, body, _ in self.accepted if path.startswith(prefix)]
