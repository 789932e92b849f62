"""Saved OpenRouter activity responses (``GET /api/v1/activity``) imported as files.

Fixtures are written here from the documented shape (vendors.md §7 and OpenRouter's API reference
example item) with invented values. Oracles are ``json`` with ``Decimal`` numbers, nothing of aispend.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from aispend.errors import FormatDetectionError, ValidationError
from aispend.ingest import detect, import_file
from aispend.pricing import PriceBook

FIXTURES = Path(__file__).parent / "fixtures"

DAY1 = [
    {"date": "2026-03-01", "model": "openai/gpt-4.1", "model_permaslug": "openai/gpt-4.1-2025-04-14",
     "endpoint_id": "550e8400-e29b-41d4-a716-446655440000", "provider_name": "OpenAI", "usage": 0.015,
     "byok_usage_inference": 0, "requests": 5, "prompt_tokens": 50, "completion_tokens": 125,
     "reasoning_tokens": 0},
    {"date": "2026-03-01", "model": "openai/o3-mini", "model_permaslug": "openai/o3-mini-2025-01-31",
     "endpoint_id": "ep-o3", "provider_name": "OpenAI", "usage": 12.3456789012345,
     "byok_usage_inference": 0, "requests": 40, "prompt_tokens": 120000, "completion_tokens": 90000,
     "reasoning_tokens": 61000},
    {"date": "2026-03-01", "model": "anthropic/claude-sonnet-4.5", "model_permaslug": "anthropic/claude-4.5-sonnet-20250929",
     "endpoint_id": "ep-bedrock", "provider_name": "Amazon Bedrock", "usage": 0.0205,
     "byok_usage_inference": 0.41, "requests": 3, "prompt_tokens": 90000, "completion_tokens": 9333,
     "reasoning_tokens": 0},
]
DAY2 = [
    {"date": "2026-03-02", "model": "meta-llama/llama-3.3-70b-instruct",
     "model_permaslug": "meta-llama/llama-3.3-70b-instruct", "endpoint_id": "ep-llama", "provider_name": "Groq",
     "usage": 1.5e-07, "byok_usage_inference": 0, "requests": 1, "prompt_tokens": 200, "completion_tokens": 10,
     "reasoning_tokens": 0},
    {"date": "2026-03-02", "model": "deepseek/deepseek-r1", "model_permaslug": "deepseek/deepseek-r1",
     "endpoint_id": "ep-r1", "provider_name": "DeepInfra", "usage": 0.1, "byok_usage_inference": 0,
     "requests": 2, "prompt_tokens": 1000, "completion_tokens": 800, "reasoning_tokens": 700},
]


def dump(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc))
    return path


def exact(items) -> Decimal:
    """The items' usage summed from the JSON text (the oracle: json + Decimal)."""
    return sum((i["usage"] for i in json.loads(json.dumps(items), parse_float=Decimal)), Decimal(0))


def total(store):
    return store.query("SELECT count(*), sum(billed_cost), sum(input_tokens), sum(output_tokens), "
                       "sum(reasoning_tokens), sum(requests) FROM ledger")[0]


def test_a_page_imports_exactly(store, settings, workdir):
    path = dump(workdir / "activity.json", {"data": DAY1 + DAY2})
    result = import_file(store, settings, path)
    assert (result.format, result.source, result.rows_loaded) == ("openrouter", "openrouter", 5)
    want = exact(DAY1 + DAY2)
    assert want == Decimal("12.4811790512345")
    assert total(store) == (5, want, 211250, 100268, 61700, 51)
    assert store.query("SELECT billed_cost FROM ledger WHERE sku = 'ep-llama'") == [(Decimal("0.00000015"),)]
    assert store.query("SELECT DISTINCT cost_source, billing_currency, provider, service, charge_category "
                       "FROM ledger") == [("billed", "USD", "openrouter", "OpenRouter", "usage")]


@pytest.mark.parametrize("shape", ["pages", "jsonl", "bare"])
def test_arrays_of_pages_json_lines_and_bare_item_arrays_give_the_same_rows(store, settings, workdir, shape):
    path = workdir / f"activity.{shape}.json"
    if shape == "pages":
        dump(path, [{"data": DAY1}, {"data": DAY2}, {"data": []}])
    elif shape == "jsonl":
        path.write_text(json.dumps({"data": DAY1}) + "\n" + json.dumps({"data": DAY2}) + "\n")
    else:
        dump(path, DAY1 + DAY2)
    assert import_file(store, settings, path).format == "openrouter"
    assert total(store) == (5, exact(DAY1 + DAY2), 211250, 100268, 61700, 51)


def test_who_and_what_publisher_from_the_slug_model_the_price_books_id(store, settings, workdir):
    import_file(store, settings, dump(workdir / "a.json", {"data": DAY1 + DAY2}))
    rows = store.query("SELECT sku, provider, publisher, model_raw, model, description, pricing_status, "
                       "period_start, period_end, billing_period FROM ledger ORDER BY sku")
    by_sku = {r[0]: r[1:] for r in rows}
    assert by_sku["ep-bedrock"][:6] == ("openrouter", "anthropic", "anthropic/claude-sonnet-4.5",
                                        "anthropic/claude-sonnet-4.5", "anthropic/claude-sonnet-4.5 via Amazon Bedrock",
                                        "priced")
    assert {r[2] for r in rows} == {"openai", "anthropic", "meta-llama", "deepseek"}
    book = PriceBook()
    for sku, (_, publisher, model_raw, *_rest) in by_sku.items():
        assert book.resolve("openrouter", publisher, model_raw) == ("openrouter", model_raw), sku
    start, end, month = by_sku["ep-r1"][6:]
    assert (str(start), str(end), month) == ("2026-03-02 00:00:00", "2026-03-03 00:00:00", "2026-03")


def test_byok_inference_is_a_tag_never_billed(store, settings, workdir):
    import_file(store, settings, dump(workdir / "a.json", {"data": DAY1}))
    billed, tags = store.query("SELECT billed_cost, tags FROM ledger WHERE sku = 'ep-bedrock'")[0]
    assert billed == Decimal("0.0205")
    assert json.loads(tags) == {"model_permaslug": "anthropic/claude-4.5-sonnet-20250929", "endpoint_id": "ep-bedrock",
                                "provider_name": "Amazon Bedrock", "byok_usage_inference": "0.41"}
    assert "byok_usage_inference" not in store.query("SELECT tags FROM ledger WHERE sku = 'ep-o3'")[0][0]


def test_reasoning_is_inside_completion_tokens(store, settings, workdir):
    import_file(store, settings, dump(workdir / "a.json", {"data": DAY1}))
    assert store.query("SELECT input_tokens, output_tokens, reasoning_tokens FROM ledger WHERE sku = 'ep-o3'") == \
        [(120000, 90000, 61000)]


def test_reasoning_above_completion_is_read_as_separate_and_flagged(store, settings, workdir):
    odd = {**DAY2[1], "completion_tokens": 100, "reasoning_tokens": 700}
    import_file(store, settings, dump(workdir / "a.json", {"data": [odd]}))
    out, reasoning, tags = store.query("SELECT output_tokens, reasoning_tokens, tags FROM ledger")[0]
    assert (out, reasoning) == (800, 700) and json.loads(tags)["reasoning_tokens_separate"] == "true"


def test_tolerant_camel_case_strings_nulls_and_unknown_fields(store, settings, workdir):
    item = {"date": "2026-03-01", "model": "openai/gpt-4.1", "modelPermaslug": "openai/gpt-4.1-2025-04-14",
            "endpointId": "ep-1", "providerName": "OpenAI", "usage": "0.30000000000000004",
            "byokUsageInference": None, "requests": "7", "promptTokens": 10, "completionTokens": 20,
            "reasoningTokens": None, "something_new": {"x": 1}}
    minimal = {"date": "2026-03-01T00:00:00Z", "model_permaslug": "x-ai/grok-4-07-09", "usage": 2}
    import_file(store, settings, dump(workdir / "a.json", {"data": [item, minimal]}))
    rows = store.query("SELECT sku, model_raw, publisher, billed_cost, requests, input_tokens, output_tokens, "
                       "reasoning_tokens, tags->>'model_permaslug', period_start FROM ledger ORDER BY sku")
    assert rows[0][:8] == ("ep-1", "openai/gpt-4.1", "openai", Decimal("0.30000000000000004"), 7, 10, 20, None)
    assert rows[0][8] == "openai/gpt-4.1-2025-04-14"
    assert rows[1][:4] == ("x-ai/grok-4-07-09", "x-ai/grok-4-07-09", "x-ai", Decimal(2))
    assert str(rows[1][9]) == "2026-03-01 00:00:00"


@pytest.mark.parametrize(("change", "column", "reason"), [
    ({"usage": "twelve cents"}, "usage", "not a number (USD)"),
    ({"usage": None}, "usage", "required value is missing"),
    ({"date": "yesterday"}, "date", "not a date (YYYY-MM-DD)"),
    ({"model": None, "model_permaslug": None}, "model", "required value is missing (model or model_permaslug)"),
    ({"prompt_tokens": -3}, "prompt_tokens", "negative"),
    ({"completion_tokens": 1.5}, "completion_tokens", "not a whole number"),
])
def test_a_bad_item_is_named_by_its_position_and_nothing_loads(store, settings, workdir, change, column, reason):
    path = dump(workdir / "bad.json", [{"data": DAY1}, {"data": [DAY2[0], {**DAY2[1], **change}]}])
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, path)
    err = info.value.errors[0]
    assert (err.column, err.reason) == (f".[1].data[1].{column}", reason), err
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 0


def test_a_saved_error_response_is_reported_not_skipped(store, settings, workdir):
    path = dump(workdir / "err.json", [{"data": DAY1}, {"error": {"code": 401, "message": "User not found."}}])
    with pytest.raises(ValidationError) as info:
        import_file(store, settings, path, fmt="openrouter")
    err = info.value.errors[0]
    assert (err.column, err.reason) == (".[1]", "malformed record")
    assert err.value == "an error response, not a page: User not found."


def test_a_newer_import_of_the_same_days_restates_the_older_one(store, settings, workdir):
    import_file(store, settings, dump(workdir / "v1.json", {"data": DAY1}))
    fixed = [{**DAY1[0], "usage": 0.02}, *DAY1[1:]]
    result = import_file(store, settings, dump(workdir / "v2.json", {"data": fixed}))
    assert result.replaced_rows == 3
    assert total(store)[:2] == (3, exact(fixed))


def test_detection_leaves_other_vendors_pages_alone(settings, workdir):
    for vendor, name in [("openai", "costs_page1.json"), ("openai", "usage_page1.json"),
                         ("anthropic", "cost_report_page1.json"), ("anthropic", "usage_report_page1.json")]:
        assert detect(FIXTURES / vendor / name, settings).kind != "openrouter", name
    assert detect(dump(workdir / "empty.json", {"data": []}), settings, "openrouter").kind == "openrouter"
    with pytest.raises(FormatDetectionError):
        detect(dump(workdir / "other.json", {"data": [{"id": 1}]}), settings, "openrouter")
