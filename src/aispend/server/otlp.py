"""``POST /v1/traces``: the OTLP/HTTP trace receiver, per the OTLP 1.x specification.

* Bodies: ``application/x-protobuf`` or ``application/json`` (OTLP/JSON), optionally
  ``Content-Encoding: gzip`` (or deflate); at most :data:`MAX_BODY` bytes once decompressed.
* 200 with an ``ExportTraceServiceResponse`` in the request's encoding; GenAI spans that could not
  become events are counted in ``partial_success.rejected_spans`` with the reasons in
  ``error_message`` (the others are stored). Non-GenAI spans are accepted and ignored.
* 400 (undecodable body), 401 (token), 413 (too large), 415 (media type): a ``google.rpc.Status``
  body, nothing stored; the exporter must not retry.
* 503 with ``Retry-After`` while the ledger is busy (another process holds the DuckDB file):
  OTLP exporters retry, so nothing is lost.

Each request is stored in one transaction: all its events, or none.
"""

from __future__ import annotations

import logging
import zlib
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.exception_handlers import http_exception_handler
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.concurrency import run_in_threadpool

from ..events import PayloadError, decode_json, decode_protobuf, spans_to_events, store_events
from .ledger import Ledger, StoreBusy

log = logging.getLogger("aispend.server")
router = APIRouter()
PROTOBUF, JSON = "application/x-protobuf", "application/json"
MAX_BODY = 32 * 1024 * 1024
RETRY_AFTER_SECONDS = 2
_GRPC_CODES = {400: code_pb2.INVALID_ARGUMENT, 401: code_pb2.UNAUTHENTICATED, 413: code_pb2.RESOURCE_EXHAUSTED,
               415: code_pb2.INVALID_ARGUMENT, 503: code_pb2.UNAVAILABLE}


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _encode(message: Any, media_type: str) -> Response:
    if media_type == JSON:
        return Response(json_format.MessageToJson(message, indent=None), media_type=JSON)
    return Response(message.SerializeToString(), media_type=PROTOBUF)


def install(app: FastAPI) -> None:
    """Render errors on OTLP paths as ``google.rpc.Status`` bodies, as the specification asks."""

    @app.exception_handler(HTTPException)
    async def _otlp_errors(request: Request, exc: HTTPException) -> Response:
        if not request.url.path.startswith("/v1/"):
            return await http_exception_handler(request, exc)
        status = status_pb2.Status(code=_GRPC_CODES.get(exc.status_code, code_pb2.UNKNOWN), message=str(exc.detail))
        response = _encode(status, JSON if _media_type(request) == JSON else PROTOBUF)
        response.status_code = exc.status_code
        response.headers.update(exc.headers or {})
        return response


async def _read(request: Request) -> bytes:
    """The raw body, refused past MAX_BODY bytes before it is all in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise HTTPException(413, f"body larger than {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise HTTPException(413, f"body larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _decompress(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise HTTPException(415, f"Content-Encoding {encoding!r} is not supported (use gzip, deflate or none)")
    # Bounded inflation: a small bomb never grows past MAX_BODY in memory.
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, MAX_BODY + 1)
    except zlib.error as exc:
        raise HTTPException(400, f"body is not valid {encoding}: {exc}") from None
    if len(data) > MAX_BODY or inflater.unconsumed_tail:
        raise HTTPException(413, f"body larger than {MAX_BODY} bytes once decompressed")
    if not inflater.eof:
        raise HTTPException(400, f"body is truncated {encoding}")
    return data


@router.post("/v1/traces", summary="OTLP/HTTP trace export (GenAI spans become events)")
async def export_traces(request: Request) -> Response:
    media_type = _media_type(request)
    if media_type not in (PROTOBUF, JSON):
        raise HTTPException(415, f"Content-Type {media_type or '(none)'!r}: send {PROTOBUF} or {JSON}")
    body = _decompress(await _read(request), request.headers.get("content-encoding", ""))
    return await run_in_threadpool(_export, request.app.state.ledger, body, media_type)


def _export(ledger: Ledger, body: bytes, media_type: str) -> Response:
    try:
        message = decode_json(body) if media_type == JSON else decode_protobuf(body)
    except PayloadError as exc:
        raise HTTPException(400, str(exc)) from None
    batch = spans_to_events(message, ledger.attributes, source="otlp")
    try:
        with ledger.open() as store:
            loaded = store_events(store, batch.rows, ledger.pricer(store), ledger.settings) if batch.rows else None
    except StoreBusy as exc:
        log.warning("ledger busy, asked the exporter to retry: %s", exc)
        raise HTTPException(503, "ledger busy; retry", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from None
    response = ExportTraceServiceResponse()
    if batch.rejected:
        response.partial_success.rejected_spans = len(batch.rejected)
        response.partial_success.error_message = "; ".join(batch.rejected[:5]) + (
            f"; and {len(batch.rejected) - 5} more" if len(batch.rejected) > 5 else "")
    log.info("traces: %d events stored (%d replaced), %d spans ignored, %d rejected",
             loaded.stored if loaded else 0, loaded.replaced if loaded else 0, batch.ignored, len(batch.rejected))
    return _encode(response, media_type)
