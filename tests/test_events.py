"""Per-request events end to end: real OTel SDK spans exported over HTTP to the real receiver (a
uvicorn server on a free localhost port), LiteLLM spend logs through the real CLI, and the daily
rollup surviving pruning. Costs are checked against genai-prices' own calc_price."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from genai_prices import Usage, calc_price
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from aispend.config import SecretRef, Settings
from aispend.errors import ConfigError
from aispend.events import EventsValidationError, import_events, spans_to_events
from aispend.server import check_exposure, otlp
from aispend.store import open_store

from .conftest import run_cli
from .serving import serving

FIXTURES = Path(__file__).parent / "fixtures" / "events"
LITELLM = FIXTURES / "litellm_spend_logs.jsonl"


# ---------------------------------------------------------------- helpers


def query(settings: Settings, sql: str) -> list[tuple]:
    with open_store(settings.store.url) as store:
        return store.query(sql)


def genai_spans() -> list:
    """What an instrumented app emits for one user request: an HTTP root span carrying attribution,
    an agent span aggregating two LLM calls (OpenAI with cached input, Anthropic with cache writes),
    a tool HTTP call, a call to a model the price book lacks, and a GenAI span with no model."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(
        {"service.name": "support-bot", "deployment.environment.name": "prod", "service.version": "1.4.2"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test.genai")
    root_attrs = {"http.request.method": "POST", "aispend.customer": "acme", "app.feature": "summarize",
                  "aispend.branch": "main", "aispend.project": "proj_support", "aispend.ticket": "T-17"}
    with tracer.start_as_current_span("POST /summarize", attributes=root_attrs):
        # An aggregate (pydantic-ai style "agent run"): its usage is its children's, never counted twice.
        with tracer.start_as_current_span("agent run", attributes={
                "gen_ai.system": "openai", "gen_ai.usage.input_tokens": 6200, "gen_ai.usage.output_tokens": 480}):
            with tracer.start_as_current_span("chat gpt-4o-mini", attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 180,
                    "gen_ai.usage.cache_read.input_tokens": 1024, "openai.response.service_tier": "default",
                    "gen_ai.prompt": "never stored"}):
                pass
            with tracer.start_as_current_span("chat claude-sonnet-4-5", attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.system": "anthropic",
                    "gen_ai.request.model": "claude-sonnet-4-5-20250929",
                    "gen_ai.usage.input_tokens": 5000, "gen_ai.usage.output_tokens": 300,
                    "gen_ai.usage.cache_creation.input_tokens": 3000, "gen_ai.usage.cache_read.input_tokens": 1000,
                    "customer.id": "globex"}):
                pass
        with tracer.start_as_current_span("GET", attributes={"http.request.method": "GET", "url.full": "https://example.com/kb"}):
            pass
        with tracer.start_as_current_span("chat acme-internal-llm", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "acme-internal-llm", "gen_ai.usage.input_tokens": 100,
                "gen_ai.usage.output_tokens": 50}) as span:
            span.set_status(Status(StatusCode.ERROR, "timeout"))
        with tracer.start_as_current_span("chat", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 10}):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def otlp_json(spans: list) -> dict:
    """OTLP/JSON as the specification writes it: the protobuf message, with hex trace and span ids."""
    data = json_format.MessageToDict(encode_spans(spans))
    for rs in data["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return data


def export(base: str, spans: list, encoding: str) -> None:
    if encoding == "protobuf":
        exporter = OTLPSpanExporter(endpoint=f"{base}/v1/traces", compression=Compression.Gzip, timeout=10)
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        exporter.shutdown()
        return
    reply = httpx.post(f"{base}/v1/traces", content=json.dumps(otlp_json(spans)),
                       headers={"Content-Type": "application/json"})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    partial = reply.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1" and "no gen_ai.response.model or gen_ai.request.model" in partial["errorMessage"]


EVENT_SQL = """SELECT model_raw, model, provider, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
  requests, status, service, environment, project, customer, feature, attributes, estimated_cost_usd, pricing_status,
  source, service_tier FROM events ORDER BY model_raw"""
ROLLUP_SQL = """SELECT sum(events), sum(requests), sum(error_events), sum(input_tokens), sum(output_tokens),
  sum(cache_read_tokens), sum(cache_write_tokens), sum(estimated_cost_usd), sum(unpriced_events) FROM events_daily"""


# ---------------------------------------------------------------- OTLP receiver


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_sdk_spans_sent_to_the_receiver_become_priced_events_once(settings, workdir, encoding, ledger_url):
    settings.store.url = ledger_url("ledger")
    spans = genai_spans()
    with serving(settings) as base:
        export(base, spans, encoding)
        rows = query(settings, EVENT_SQL)
        assert [r[0] for r in rows] == ["acme-internal-llm", "claude-sonnet-4-5-20250929", "gpt-4o-mini-2024-07-18"]
        internal, claude, mini = rows

        # Attribution: span first, then its ancestors in the request, then the resource.
        assert mini[2:15] == ("openai", 1200, 180, 1024, None, 1, "ok", "support-bot", "prod", "proj_support", "acme",
                              "summarize", json.dumps({"aispend.ticket": "T-17", "branch": "main"}, sort_keys=True))
        assert mini[1] == "gpt-4o-mini" and mini[17:] == ("otlp", "standard")
        # Anthropic-style exclusive counts would break the subset rule; these are inclusive and kept.
        assert claude[2:8] == ("anthropic", 5000, 300, 1000, 3000, 1) and claude[12] == "globex"
        assert internal[8] == "error" and internal[15] is None and internal[16] == "unpriced"

        # Estimated cost: the book, checked against genai-prices' own calculator.
        span_time = datetime.fromtimestamp(spans[0].start_time / 1e9, UTC)
        expected_mini = calc_price(Usage(input_tokens=1200, cache_read_tokens=1024, output_tokens=180),
                                   "gpt-4o-mini-2024-07-18", provider_id="openai", genai_request_timestamp=span_time)
        expected_claude = calc_price(Usage(input_tokens=5000, cache_write_tokens=3000, cache_read_tokens=1000,
                                           output_tokens=300), "claude-sonnet-4-5-20250929", provider_id="anthropic",
                                     genai_request_timestamp=span_time)
        assert mini[15] == expected_mini.total_price and mini[16] == "priced"
        assert claude[15] == expected_claude.total_price
        assert isinstance(mini[15], Decimal)

        expected_rollup = (3, 3, 1, 6300, 530, 2024, 3000, expected_mini.total_price + expected_claude.total_price, 1)
        assert query(settings, ROLLUP_SQL)[0] == expected_rollup
        assert "never stored" not in json.dumps([list(map(str, r)) for r in rows])

        # The exporter retries, a collector re-sends: same span ids, same totals.
        export(base, spans, encoding)
        assert query(settings, "SELECT count(*) FROM events")[0][0] == 3
        assert query(settings, ROLLUP_SQL)[0] == expected_rollup


def test_a_bad_body_gets_400_with_a_reason_and_stores_nothing(settings, workdir, monkeypatch, ledger_url):
    settings.store.url = ledger_url("ledger")
    good = otlp_json(genai_spans())
    bad_hex = json.loads(json.dumps(good))
    bad_hex["resourceSpans"][0]["scopeSpans"][0]["spans"][-1]["spanId"] = "not-hex!"
    cases = [
        ("application/x-protobuf", None, b"\x0a\xff\xff\xff\xff garbage", "not a protobuf ExportTraceServiceRequest"),
        ("application/json", None, b"{not json", "body is not JSON"),
        ("application/json", None, b'{"resourceSpans": "nope"}', "not an OTLP/JSON ExportTraceServiceRequest"),
        ("application/json", None, json.dumps(bad_hex).encode(), "is not hex"),
        ("application/x-protobuf", "gzip", b"plain text", "not valid gzip"),
        ("application/x-protobuf", "gzip", gzip.compress(b"\x0a\x00" * 50)[:20], "truncated gzip"),
    ]
    with serving(settings) as base:
        for media_type, encoding, body, reason in cases:
            headers = {"Content-Type": media_type, **({"Content-Encoding": encoding} if encoding else {})}
            reply = httpx.post(f"{base}/v1/traces", content=body, headers=headers)
            assert reply.status_code == 400, (body, reply.text)
            if media_type == "application/json":
                status = json_format.Parse(reply.text, status_pb2.Status())
            else:
                status = status_pb2.Status.FromString(reply.content)
            assert status.code == 3 and reason in status.message, status.message
        other = httpx.post(f"{base}/v1/traces", content=b"x", headers={"Content-Type": "text/plain"})
        assert other.status_code == 415
        with monkeypatch.context() as patch:
            patch.setattr(otlp, "MAX_BODY", 1000)
            bomb = gzip.compress(b"\x0a" * 100_000)  # small on the wire, past the limit once inflated
            too_big = httpx.post(f"{base}/v1/traces", content=bomb,
                                 headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
            assert too_big.status_code == 413
        assert query(settings, "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM events_daily)")[0] == (0, 0)

        # The same good body, gzip-compressed by hand, is accepted: the failures were the bodies.
        reply = httpx.post(f"{base}/v1/traces", content=gzip.compress(json.dumps(good).encode()),
                           headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        assert reply.status_code == 200
        assert query(settings, "SELECT count(*) FROM events")[0][0] == 3


@pytest.mark.duckdb_only  # another process holding DuckDB's file lock; a server has no such lock
def test_a_busy_ledger_answers_503_with_retry_after_then_accepts(settings, workdir, ledger_url):
    settings.store.url = ledger_url("ledger")
    open_store(settings.store.url).close()
    hold = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", hold, settings.store.url], stdout=subprocess.PIPE, text=True)
    body = encode_spans(genai_spans()).SerializeToString()
    headers = {"Content-Type": "application/x-protobuf"}
    try:
        assert holder.stdout.readline().strip() == "locked"
        with serving(settings) as base:
            busy = httpx.post(f"{base}/v1/traces", content=body, headers=headers)
            assert busy.status_code == 503 and busy.headers["retry-after"] == "2"
            holder.kill()
            holder.wait(10)
            accepted = httpx.post(f"{base}/v1/traces", content=body, headers=headers)
            assert accepted.status_code == 200
            response = ExportTraceServiceResponse.FromString(accepted.content)
            assert response.partial_success.rejected_spans == 1
    finally:
        holder.kill()
        holder.wait(10)
    assert query(settings, "SELECT count(*) FROM events")[0][0] == 3


def test_a_configured_token_is_required_and_exposure_needs_one(settings, monkeypatch, workdir, ledger_url):
    settings.store.url = ledger_url("ledger")
    monkeypatch.setenv("AISPEND_TEST_RECEIVER_TOKEN", "s3cret-token")
    settings.events.receiver_token = SecretRef(env="AISPEND_TEST_RECEIVER_TOKEN")
    body = encode_spans(genai_spans()).SerializeToString()
    with serving(settings) as base:
        for auth in (None, "Bearer wrong"):
            reply = httpx.post(f"{base}/v1/traces", content=body,
                               headers={"Content-Type": "application/x-protobuf", **({"Authorization": auth} if auth else {})})
            assert reply.status_code == 401 and reply.headers["www-authenticate"] == "Bearer"
            assert status_pb2.Status.FromString(reply.content).code == 16  # UNAUTHENTICATED
        ok = httpx.post(f"{base}/v1/traces", content=body,
                        headers={"Content-Type": "application/x-protobuf", "Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
    check_exposure("0.0.0.0", settings)  # a token is configured: fine
    with pytest.raises(ConfigError, match="receiver_token"):
        check_exposure("0.0.0.0", Settings())
    check_exposure("127.0.0.1", Settings())
    check_exposure("::1", Settings())
    refused = run_cli("serve", "--host", "0.0.0.0", "--port", "1", cwd=workdir)
    assert refused.returncode == 1 and "receiver_token" in refused.stderr and "Traceback" not in refused.stderr


# ---------------------------------------------------------------- files and the CLI


def summary(workdir: Path, by: str = "provider,model") -> list[dict]:
    result = run_cli("events", "summary", "--by", by, "--format", "json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_litellm_spend_logs_import_through_the_cli_once(workdir, ledger_url):
    first = run_cli("events", "import", str(LITELLM), "--json", cwd=workdir)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["format"], report["events"], report["unpriced"], report["replaced"]) == ("litellm", 7, 1, 0)

    by_model = {(r["provider"], r["model"]): r for r in summary(workdir)}
    mini = by_model[("openai", "gpt-4o-mini")]
    # The cache hit is an event, but LiteLLM answered it: no request reached OpenAI, no tokens billed.
    assert (mini["events"], mini["requests"], mini["input_tokens"], mini["cache_read_tokens"]) == (2, 1, 1200, 1024)
    expected = calc_price(Usage(input_tokens=1200, cache_read_tokens=1024, output_tokens=180),
                          "gpt-4o-mini-2024-07-18", provider_id="openai").total_price
    assert Decimal(mini["estimated_cost_usd"]) == expected
    assert by_model[("openai", "o3-mini")]["reasoning_tokens"] == 512
    assert by_model[("openai", "gpt-4o")]["error_events"] == 1
    assert by_model[("anthropic", "claude-sonnet-4-5")]["cache_write_tokens"] == 3000
    assert ("aws", "regional.anthropic.claude-3-5-haiku-20241022-v1:0") in by_model
    assert by_model[("openai", "acme-internal-llm-v2")]["unpriced_events"] == 1

    by_customer = {r["customer"]: r["events"] for r in summary(workdir, "customer")}
    assert by_customer == {"cust_acme": 3, "cust_globex": 1, "cust_initech": 1, None: 2}

    again = run_cli("events", "import", str(LITELLM), "--json", cwd=workdir)
    assert json.loads(again.stdout)["replaced"] == 7
    assert {(r["provider"], r["model"]): r for r in summary(workdir)} == by_model

    # Keys: LiteLLM's hash is its id; a value that may be a raw key is hashed, never stored.
    with open_store(ledger_url("aispend")) as store:
        keys = {k for (k,) in store.query("SELECT DISTINCT api_key_id FROM events")}
        dump = json.dumps(store.query("SELECT * FROM events"), default=str)
    assert "e4f1e63f22a84ed3d917d1241dfd86173f43d03d99b46e2753590092673ac24f" in keys
    assert any(k.startswith("sha256:") for k in keys)
    assert "sk-test-FAKE-key" not in dump and "requester_ip_address" not in dump

    listed = run_cli("events", "list", "--where", "customer=cust_acme", "--format", "csv", cwd=workdir)
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 4


def test_a_malformed_line_fails_the_file_with_its_line_number(workdir, ledger_url):
    lines = LITELLM.read_text().splitlines()
    broken = workdir / "spend.jsonl"
    broken.write_text("\n".join([*lines[:2], '{"request_id": "x", "model": ', *lines[2:]]) + "\n")
    result = run_cli("events", "import", str(broken), cwd=workdir)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{broken}:3: not valid JSON" in result.stderr and "nothing was imported" in result.stderr
    with open_store(ledger_url("aispend")) as store:
        assert store.query("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM events_daily)")[0] == (0, 0)

    skipped = run_cli("events", "import", "--skip-invalid", "--json", str(broken), cwd=workdir)
    assert skipped.returncode == 0
    assert (json.loads(skipped.stdout)["events"], json.loads(skipped.stdout)["rejected"]) == (7, 1)
    assert f"{broken}:3" in skipped.stderr


def test_an_otlp_json_file_from_a_collector_imports_with_its_rejects_named(workdir, store, settings):
    path = workdir / "traces.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps(otlp_json(genai_spans())) + "\n").encode()))
    with pytest.raises(EventsValidationError, match=r"traces.jsonl.gz:1: span [0-9a-f]{16} \(chat\): no gen_ai"):
        import_events(store, settings, path)
    assert store.query("SELECT count(*) FROM events")[0][0] == 0
    result = import_events(store, settings, path, skip_invalid=True)
    assert (result.format, result.loaded.stored, result.rejected, result.ignored_spans) == ("otlp-json", 3, 1, 3)
    assert store.query("SELECT DISTINCT source FROM events") == [("otlp-json:traces.jsonl.gz",)]


def test_exclusive_anthropic_style_counts_are_made_inclusive():
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("chat", attributes={
            "gen_ai.system": "anthropic", "gen_ai.request.model": "claude-3-5-haiku-20241022",
            "gen_ai.usage.input_tokens": 200, "gen_ai.usage.cache_read.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 40}):
        pass
    (row,) = spans_to_events(encode_spans(memory.get_finished_spans())).rows
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (1200, 1000, 40)


def test_generic_jsonl_is_checked_field_by_field(workdir, store, settings):
    path = workdir / "events.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"id": "a", "time": "2026-11-03T10:00:00Z", "provider": "openai", "model": "gpt-4o-mini", "input_tokens": 10},
        {"id": "b", "time": "2026-11-03T10:00:00Z", "provider": "openai", "model": "gpt-4o-mini", "custmer": "acme"},
        {"id": "c", "time": "2026-11-03T10:00:00Z", "provider": "openai", "model": "gpt-4o-mini", "input_tokens": 5,
         "cache_read_tokens": 9},
        {"id": "d", "time": "yesterday", "provider": "openai", "model": "gpt-4o-mini"},
        {"id": "e", "time": "2026-11-03T10:00:00Z", "provider": "openai", "model": "gpt-4o-mini", "output_tokens": -1},
    ]) + "\n")
    with pytest.raises(EventsValidationError) as info:
        import_events(store, settings, path)
    problems = [(e.line, e.column) for e in info.value.errors]
    assert problems == [(2, "custmer"), (3, None), (4, "time"), (5, "output_tokens")]
    assert "exceed input_tokens" in info.value.errors[1].reason
    assert store.query("SELECT count(*) FROM events")[0][0] == 0


def test_prune_keeps_the_rollup_and_late_copies_are_not_counted_again(workdir):
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    records = [{"id": f"ev-{age}-{i}", "time": (now - timedelta(days=age)).isoformat() + "Z", "provider": "openai",
                "model": "gpt-4o-mini", "input_tokens": 1000 + i, "output_tokens": 100, "customer": f"c{i % 3}"}
               for age in (120, 45, 2) for i in range(5)]
    path = workdir / "events.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    (workdir / "aispend.toml").write_text("[events]\nretention_days = 30\n")
    assert run_cli("events", "import", str(path), cwd=workdir).returncode == 0
    before = summary(workdir, "customer")
    assert sum(r["events"] for r in before) == 15

    pruned = run_cli("events", "prune", cwd=workdir)  # retention_days from aispend.toml
    assert pruned.returncode == 0 and "pruned 10 events" in pruned.stderr
    listed = run_cli("events", "list", "--limit", "100", "--format", "json", cwd=workdir)
    assert len(json.loads(listed.stdout)) == 5
    assert summary(workdir, "customer") == before

    again = run_cli("events", "import", "--json", str(path), cwd=workdir)
    assert (json.loads(again.stdout)["too_old"], json.loads(again.stdout)["replaced"]) == (10, 5)
    assert summary(workdir, "customer") == before
