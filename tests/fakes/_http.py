"""What every fake vendor shares: a real HTTP server on 127.0.0.1 that stops itself.

A fake is a dataclass with a ``max_seconds`` field that mixes in :class:`LocalServer` and answers
``respond(request) -> (status, body, headers)``; a body that is not bytes is encoded with
``encode`` (JSON by default). The vendor-specific parts (auth, parameters, pages, faults) stay in
each fake.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_MARKED = re.compile(r'"\\u0000N([-0-9.Ee+]+)\\u0000"')


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # with the query string
    headers: Message  # case-insensitive lookups
    body: bytes


class LocalServer:
    content_type = "application/json"
    max_seconds: float

    def respond(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError

    def encode(self, body: Any) -> bytes:
        return json.dumps(body).encode()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Any:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload, headers = fake.respond(Request(method, self.path, self.headers, body))
                data = b"" if status == 204 else payload if isinstance(payload, bytes) else fake.encode(payload)
                self.send_response(status)
                self.send_header("Content-Type", fake.content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._timer = threading.Timer(self.max_seconds, self._server.shutdown)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()


def dumps_exact(body: Any, number: Callable[[Any], str | None], **kw: Any) -> str:
    """JSON where values ``number`` renders (a Decimal, ...) become bare numbers of that exact text,
    as vendors write money; ``json.dumps`` alone would go through a float or quote them."""
    def mark(o: Any) -> Any:
        if (text := number(o)) is not None:
            return "\u0000N" + text + "\u0000"
        if isinstance(o, dict):
            return {k: mark(v) for k, v in o.items()}
        if isinstance(o, list):
            return [mark(v) for v in o]
        return o
    return _MARKED.sub(r"\1", json.dumps(mark(body), **kw))


def next_fault(faults: list[Any], page_no: int, path: str = "") -> Any:
    """The first fault still armed for this page (``page`` None: any page) and, for fakes whose
    faults name an ``endpoint``, this path; used up once."""
    for fault in faults:
        endpoint = getattr(fault, "endpoint", None)
        if fault.times > 0 and (fault.page is None or fault.page == page_no) and (endpoint is None or endpoint in path):
            fault.times -= 1
            return fault
    return None
