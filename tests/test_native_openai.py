"""OpenAI Costs and Usage API pages and dashboard CSV exports (formats openai, openai-usage).

Oracles are independent of aispend: ``json`` with ``Decimal`` for the pages, ``csv`` for exports.
Real payloads: OpenAI's 11 official example responses (shared/samples/openai-openapi); the
fixtures under tests/fixtures/openai are built to vendors.md §1 with invented values.
"""

from __future__ import annotations

import csv
import gzip
import json
import shutil
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from aispend.analysis import Window, spend_report
from aispend.errors import FormatDetectionError, ValidationError
from aispend.ingest import detect, import_file
from aispend.store import open_store

from .conftest import SAMPLES, run_cli

FIX = Path(__file__).parent / "fixtures" / "openai"
EXAMPLES = SAMPLES / "openai-openapi" / "openapi.json.x-oaiMeta.examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("organization__*.response.json"))

# The fixture's costs, added by hand: a float sum of the same values is not this number.
COSTS_TOTAL = Decimal("1235.292890123456789041")
CSV_COSTS_TOTAL = Decimal("1235.16789012345678904")


def pages(path: Path) -> list[dict]:
    text = path.read_text()
    try:
        doc = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError:
        return [json.loads(line, parse_float=Decimal) for line in text.splitlines() if line.strip()]
    return doc if isinstance(doc, list) else [doc]


def results(path: Path) -> list[dict]:
    return [r for p in pages(path) for b in p["data"] for r in b["results"]]


def oracle_costs(path: Path) -> Decimal:
    return sum((Decimal(r["amount"]["value"]) for r in results(path)), Decimal(0))


def one(store, sql: str):
    return store.query(sql)[0]


# -- the official examples -----------------------------------------------------------------------


def test_all_eleven_official_examples_are_present():
    assert len(EXAMPLE_FILES) == 11


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name.split("__", 1)[1].split(".")[0])
def test_each_official_example_imports_by_detection(store, settings, path):
    doc = json.loads(path.read_text(), parse_float=Decimal)
    result = doc["data"][0]["results"][0]
    expected_format = "openai" if result["object"] == "organization.costs.result" else "openai-usage"
    imported = import_file(store, settings, path)
    assert (imported.format, imported.rows_loaded, imported.rows_rejected) == (expected_format, 1, 0)
    row = store.query("SELECT period_start, period_end, provider, service_category, cost_source, sku, requests, "
                      "quantity, unit, billed_cost FROM ledger")[0]
    assert row[2:5] == ("openai", "AI and Machine Learning", "billed" if expected_format == "openai" else "estimated")
    assert (row[1] - row[0]).total_seconds() == doc["data"][0]["end_time"] - doc["data"][0]["start_time"]
    if expected_format == "openai":
        assert row[9] == Decimal(result["amount"]["value"]) == Decimal("0.06")
        return
    assert row[5] == result["object"].removeprefix("organization.usage.").removesuffix(".result")
    assert row[6] == result.get("num_model_requests")
    counters = ("images", "characters", "seconds", "usage_bytes", "num_sessions", "num_requests")
    counter = next((result[k] for k in counters if k in result), None)
    assert row[7] == (None if counter is None else Decimal(counter))


def test_official_costs_example_total_matches_exactly(store, settings):
    path = EXAMPLES / "organization__costs.response.json"
    import_file(store, settings, path)
    assert one(store, "SELECT sum(billed_cost), sum(cost_usd) FROM ledger") == (oracle_costs(path),) * 2
    assert oracle_costs(path) == Decimal("0.06")


def test_official_completions_example_keeps_openai_inclusive_input(store, settings):
    path = EXAMPLES / "organization__usage__completions.response.json"
    r = results(path)[0]
    import_file(store, settings, path)
    row = one(store, "SELECT input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, requests FROM ledger")
    # input_tokens already includes cached and cache-write tokens: taken as is, never added to.
    assert row == (r["input_tokens"], r["input_cached_tokens"], r["input_cache_write_tokens"], r["output_tokens"],
                   r["num_model_requests"]) == (1000, 400, 100, 500, 5)
    assert row[0] - row[1] - row[2] == r["input_uncached_tokens"]


# -- Costs API pages -----------------------------------------------------------------------------


def test_costs_total_is_exact_to_the_last_digit(store, settings):
    path = FIX / "costs_pages.json"
    assert oracle_costs(path) == COSTS_TOTAL
    # The fixture catches a float anywhere on the way: summed as floats, the total is not exact.
    assert Decimal(repr(sum(float(r["amount"]["value"]) for r in results(path)))) != COSTS_TOTAL
    import_file(store, settings, path)
    assert one(store, "SELECT sum(billed_cost), sum(cost_usd), count(*) FROM ledger") == (COSTS_TOTAL, COSTS_TOTAL, 7)
    amounts = [r[0] for r in store.query("SELECT billed_cost FROM ledger ORDER BY billed_cost")]
    assert Decimal("0.30000000000000004") in amounts and Decimal("1234.567890123456789") in amounts
    assert Decimal("0.000000000000000001") in amounts  # 18 decimals, the ledger's scale


def test_line_items_give_model_tier_and_tokens_without_counting_cache_twice(store, settings):
    import_file(store, settings, FIX / "costs_pages.json")
    rows = {r[0]: r[1:] for r in store.query(
        "SELECT sku, model_raw, model, service_tier, input_tokens, cache_read_tokens, output_tokens, tags, "
        "pricing_status FROM ledger")}
    assert rows["gpt-4o-2024-08-06, input"][:6] == ("gpt-4o-2024-08-06", "gpt-4o", None, 40000, None, None)
    # cached input is input too (ledger semantics), and its own subset: once in each column
    assert rows["gpt-4o-2024-08-06, cached input"][:6] == ("gpt-4o-2024-08-06", "gpt-4o", None, 160000, 160000, None)
    assert rows["gpt-4o-2024-08-06, output"][3:6] == (None, None, 30000)
    priority = rows["priority | gpt-5-mini-2025-08-07, output, long context"]
    assert priority[:3] == ("gpt-5-mini-2025-08-07", "gpt-5-mini", "priority")
    assert json.loads(priority[6]) == {"token_type": "output", "long_context": "true"}
    audio = rows["gpt-audio-mini-2025-12-15 audio, input"]  # audio tokens are not text tokens
    assert audio[3:6] == (None, None, None) and json.loads(audio[6])["modality"] == "audio"
    assert rows["web search tool calls"][:2] == (None, None)
    assert rows["Vector storage"][:2] == (None, None)
    totals = one(store, "SELECT sum(input_tokens), sum(cache_read_tokens), sum(output_tokens) FROM ledger")
    assert totals == (40000 + 160000, 160000, 30000 + 61728394)
    # list price check on a priced row: 40,000 gpt-4o input tokens at $2.50/MTok
    list_cost = "SELECT list_cost_usd FROM ledger WHERE sku = ?"
    assert store.query(list_cost, ["gpt-4o-2024-08-06, input"])[0][0] == Decimal("0.1")
    assert store.query(list_cost, ["gpt-4o-2024-08-06, cached input"])[0][0] == Decimal("0.2")


@pytest.mark.parametrize(("name", "kind"), [
    ("costs_page1.json", "openai"), ("costs_pages.json", "openai"), ("costs_pages.jsonl", "openai"),
    ("costs_export.csv", "openai"), ("usage_page1.json", "openai-usage"), ("usage_pages.json", "openai-usage"),
    ("usage_pages.jsonl", "openai-usage"), ("usage_export.csv", "openai-usage"),
])
def test_each_file_kind_is_detected_without_format(settings, name, kind):
    assert detect(FIX / name, settings).kind == kind


def test_gzipped_pages_import_too(store, settings, workdir):
    gz = workdir / "costs_pages.jsonl.gz"
    gz.write_bytes(gzip.compress((FIX / "costs_pages.jsonl").read_bytes()))
    assert import_file(store, settings, gz).format == "openai"
    assert one(store, "SELECT sum(billed_cost) FROM ledger")[0] == COSTS_TOTAL


def test_pages_split_across_files_import_to_the_same_totals_as_one_file(store, settings, workdir, ledger_url):
    totals = "SELECT count(*), sum(billed_cost), sum(input_tokens), sum(output_tokens) FROM ledger"
    import_file(store, settings, FIX / "costs_page1.json")
    import_file(store, settings, FIX / "costs_page2.json")
    split = one(store, totals)
    assert split[:2] == (7, COSTS_TOTAL)
    with open_store(ledger_url("whole")) as whole:
        import_file(whole, settings, FIX / "costs_pages.json")
        assert one(whole, totals) == split
    with open_store(ledger_url("lines")) as lines:
        import_file(lines, settings, FIX / "costs_pages.jsonl")
        assert one(lines, totals) == split
    # The whole window saved again, as one file, restates both page files: still not doubled.
    result = import_file(store, settings, FIX / "costs_pages.jsonl")
    assert result.replaced_rows == 7 and len(result.replaced_batches) == 2
    assert one(store, totals) == split


def test_usage_pages_split_across_files_import_to_the_same_totals(store, settings, workdir, ledger_url):
    totals = "SELECT count(*), sum(input_tokens), sum(cache_read_tokens), sum(output_tokens), sum(requests) FROM ledger"
    import_file(store, settings, FIX / "usage_page1.json")
    import_file(store, settings, FIX / "usage_page2.json")
    for name in ("usage_pages.json", "usage_pages.jsonl"):
        with open_store(ledger_url(name)) as other:
            import_file(other, settings, FIX / name)
            assert one(other, totals) == one(store, totals)


def test_restated_days_replace_the_older_import_of_the_same_source(store, settings):
    import_file(store, settings, FIX / "costs_export.csv")  # 2026-01-01 .. 03
    assert one(store, "SELECT sum(billed_cost) FROM ledger")[0] == CSV_COSTS_TOTAL
    result = import_file(store, settings, FIX / "costs_pages.json")  # the same days, re-pulled later
    assert result.replaced_rows == 5
    assert one(store, "SELECT sum(billed_cost) FROM ledger")[0] == COSTS_TOTAL


# -- Usage API pages -----------------------------------------------------------------------------


def test_usage_token_semantics_and_dimensions(store, settings):
    path = FIX / "usage_pages.json"
    raw = results(path)
    import_file(store, settings, path)
    got = one(store, "SELECT sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens), "
                     "sum(requests), count(*) FROM ledger")
    expected = (sum(r.get("input_tokens", 0) for r in raw), sum(r.get("input_cached_tokens", 0) for r in raw),
                sum(r.get("input_cache_write_tokens", 0) for r in raw), sum(r.get("output_tokens", 0) for r in raw),
                sum(r.get("num_model_requests", 0) for r in raw), len(raw))
    assert got == expected == (187500, 64400, 100, 28700, 379, 5)
    rows = {(r[0], r[1]): r[2:] for r in store.query(
        "SELECT sku, model_raw, service_tier, cost_source, billed_cost, project, api_key_id, tags, quantity, unit, "
        "pricing_status FROM ledger")}
    assert rows[("completions", "gpt-4o-2024-08-06")][:5] == ("batch", "estimated", None, "proj_alpha", "key_1")
    assert rows[("completions", "gpt-4o-mini-2024-07-18")][0] == "standard"  # "default"
    assert json.loads(rows[("completions", "gpt-4o-mini-2024-07-18")][5]) == {"user_id": "user-abc"}
    assert rows[("completions", "gpt-5-mini-2025-08-07")][0] == "flex"
    assert rows[("images", "gpt-image-1")][6:8] == (Decimal(3), "images")
    assert json.loads(rows[("images", "gpt-image-1")][5]) == {"size": "1024x1024", "source": "image.generation"}
    assert rows[("completions", "gpt-4o-2024-08-06")][8] == "priced"
    # An estimate is priced from tokens: 1000 gpt-4o input (400 cached) + 500 output, batch tier.
    cost = one(store, "SELECT cost_usd FROM ledger WHERE model_raw = 'gpt-4o-2024-08-06'")[0]
    assert cost == (600 * Decimal("1.25") + 400 * Decimal("0.625") + 500 * Decimal(5)) / 10**6


def test_cached_tokens_above_input_are_rejected_with_their_position(store, settings, workdir):
    doc = json.loads((FIX / "usage_page1.json").read_text())
    doc["data"][0]["results"][1]["input_cached_tokens"] = 5000  # more than its input_tokens (1000)
    bad = workdir / "usage.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, bad)
    err = info.value.errors[0]
    assert (err.column, err.reason, err.value) == (
        ".data[0].results[1].input_cached_tokens", "exceeds input_tokens (which includes it)", "5000")


# -- costs and usage together --------------------------------------------------------------------


def test_costs_and_usage_import_under_separate_sources_and_never_restate_each_other(store, settings):
    import_file(store, settings, FIX / "costs_pages.json")
    import_file(store, settings, FIX / "usage_pages.json")
    import_file(store, settings, FIX / "costs_pages.jsonl")  # restates costs on the same days only
    by = dict(store.query("SELECT source || '/' || cost_source, count(*) FROM ledger GROUP BY 1"))
    assert by == {"openai/billed": 7, "openai-usage/estimated": 5}
    # Reconciled, not added: the bill is the money, the usage rows bring the tokens.
    report = spend_report(store, ["provider"], Window())
    usage_tokens = store.query("SELECT sum(input_tokens) FROM ledger WHERE source = 'openai-usage'")[0][0]
    assert report.rows[0]["cost_usd"] == COSTS_TOTAL
    assert report.rows[0]["input_tokens"] == usage_tokens > 0
    estimate = store.query("SELECT sum(cost_usd) FROM ledger WHERE source = 'openai-usage'")[0][0]
    assert (report.footer.overlap_rows, report.footer.overlap_usd) == (5, estimate)
    by_source = {r["source"]: r["cost_usd"] for r in spend_report(store, ["source"]).rows}
    assert by_source == {"openai": COSTS_TOTAL, "openai-usage": 0}


# -- dashboard CSV exports -----------------------------------------------------------------------


def test_dashboard_cost_csv_totals_and_no_email_stored(store, settings):
    path = FIX / "costs_export.csv"
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sum((Decimal(r["amount_value"]) for r in rows if r["amount_value"]), Decimal(0)) == CSV_COSTS_TOTAL
    result = import_file(store, settings, path)
    assert (result.format, result.source, result.rows_loaded) == ("openai", "openai", 5)
    assert one(store, "SELECT sum(billed_cost), sum(cost_usd) FROM ledger") == (CSV_COSTS_TOTAL, CSV_COSTS_TOTAL)
    empty = one(store, "SELECT billed_cost, description FROM ledger WHERE period_start = '2026-01-02'")
    assert empty == (Decimal(0), "no costs in this bucket")
    first = one(store, "SELECT account_id, project, api_key_id, tags, input_tokens, cache_read_tokens FROM ledger "
                       "WHERE sku = 'gpt-4o-2024-08-06, cached input'")
    assert first[:3] == ("org-example", "proj_alpha", "key_1") and first[4:] == (160000, 160000)
    assert json.loads(first[3]) == {"user_id": "user-abc", "project_name": "Alpha app", "api_source": "api",
                                    "organization_name": "Example Org", "token_type": "cached input"}
    # user_email is personal data: dropped, not stored anywhere in the ledger.
    dump = json.dumps(store.query("SELECT * FROM ledger"), default=str)
    assert "example.com" not in dump and "alice" not in dump


def test_dashboard_usage_csv_reads_float_counts_and_flags(store, settings):
    result = import_file(store, settings, FIX / "usage_export.csv")
    assert (result.format, result.rows_loaded) == ("openai-usage", 3)
    rows = store.query("SELECT model_raw, service_tier, input_tokens, cache_read_tokens, output_tokens, requests, "
                       "sku, cost_source FROM ledger ORDER BY period_start")
    assert rows[0] == ("gpt-4o-2024-08-06", "standard", 59200, 5760, 10646, 10, "completions", "estimated")
    assert rows[1][:2] == ("gpt-5-2025-08-07", "batch")  # batch TRUE
    assert rows[2][2:6] == (None, None, None, None)  # an empty bucket


# -- malformed records ---------------------------------------------------------------------------


def _corrupt_json(src: Path, dst: Path) -> Path:
    dst.write_text(src.read_text().replace('"value": 0.025', '"value": "0.02.5"'))
    return dst


@pytest.mark.parametrize(("name", "column"), [
    ("costs_pages.json", ".[1].data[0].results[0].amount.value"),
    ("costs_pages.jsonl", "line 2: .data[0].results[0].amount.value"),
    ("costs_page2.json", ".data[0].results[0].amount.value"),
])
def test_a_malformed_record_is_reported_with_its_position(store, settings, workdir, name, column):
    import_file(store, settings, FIX / "usage_pages.json")
    before = store.query("SELECT count(*), sum(cost_usd) FROM ledger")
    bad = _corrupt_json(FIX / name, workdir / name)
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, bad)
    err = info.value
    assert err.total == 1
    first = err.errors[0]
    assert (first.column, first.reason, first.value) == (column, "not a decimal number", "0.02.5")
    assert f"column {column}: not a decimal number" in str(err)
    assert store.query("SELECT count(*), sum(cost_usd) FROM ledger") == before


def test_a_malformed_csv_row_is_reported_with_its_line(store, settings, workdir):
    bad = workdir / "costs.csv"
    bad.write_text((FIX / "costs_export.csv").read_text().replace("1234.567890123456789", "12O4.5"))
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, bad)
    err = info.value.errors[0]
    assert (err.line, err.column, err.reason, err.value) == (5, "amount_value", "not a decimal number", "12O4.5")


def test_a_broken_page_and_a_usage_result_in_a_costs_file_are_reported_not_dropped(store, settings, workdir):
    costs, usage = pages(FIX / "costs_pages.json"), json.loads((FIX / "usage_page2.json").read_text())
    mixed = workdir / "mixed.json"
    text = json.dumps([{"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded"}}, "__COSTS__", usage])
    mixed.write_text(text.replace('"__COSTS__"', (FIX / "costs_page1.json").read_text()))
    assert detect(mixed, settings).kind == "openai"
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, mixed)
    got = [(e.column, e.reason) for e in info.value.errors]
    assert got[0] == (".[0]", "malformed record")
    assert got[1][0] == ".[2].data[0].results[0].object" and "openai-usage" in got[1][1]
    assert len(got) == 3  # the error page, then the two usage results
    result = import_file(store, settings, mixed, skip_invalid=True)
    assert (result.rows_loaded, result.rows_rejected) == (5, 3)
    assert one(store, "SELECT sum(billed_cost) FROM ledger")[0] == sum(
        (Decimal(r["amount"]["value"]) for b in costs[0]["data"] for r in b["results"]), Decimal(0))


def test_files_too_large_to_sample_are_sniffed_and_a_broken_json_line_is_reported(store, settings, workdir,
                                                                                   monkeypatch):
    monkeypatch.setattr(sys.modules["aispend.ingest.detect"], "_JSON_SAMPLE_LIMIT", 0)  # as for a >64 MiB file
    first, second = (FIX / "costs_pages.jsonl").read_text().splitlines()
    bad = workdir / "costs.jsonl"
    bad.write_text(first + "\n" + second[:60] + "\n")
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, bad)
    err = info.value.errors[0]
    assert (err.column, err.reason) == ("line 2", "malformed record")
    assert err.value.startswith("not valid JSON")
    assert import_file(store, settings, FIX / "usage_pages.json").format == "openai-usage"


def test_a_usage_page_is_not_taken_for_costs(settings):
    with pytest.raises(FormatDetectionError, match="does not look like a openai file"):
        detect(FIX / "usage_page1.json", settings, "openai")


# -- end to end ----------------------------------------------------------------------------------


def test_cli_import_and_report(workdir):
    for name in ("costs_pages.jsonl", "usage_pages.json"):
        shutil.copy(FIX / name, workdir / name)
        done = run_cli("import", name, cwd=workdir)
        assert done.returncode == 0, done.stderr
    report = run_cli("report", "--by", "source", "--where", "cost_source=billed", "--format", "json", cwd=workdir)
    assert report.returncode == 0, report.stderr
    assert [(r["source"], Decimal(r["cost_usd"])) for r in json.loads(report.stdout)] == [("openai", COSTS_TOTAL)]
