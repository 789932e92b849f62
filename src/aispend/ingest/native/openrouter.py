"""OpenRouter activity pages (``GET /api/v1/activity``) -> billed ledger rows.

Detected by content: a saved response ``{"data": [item, ...]}`` (one page, a JSON array of pages,
JSON lines of pages, or a bare array of items) whose items carry ``model_permaslug`` or
``date`` + ``usage`` + ``prompt_tokens``. Wire format: shared/reference/vendors.md §7; one item is
one UTC day of one endpoint (a model served by one provider)::

    {"date": "2025-08-24", "model": "openai/gpt-4.1", "model_permaslug": "openai/gpt-4.1-2025-04-14",
     "endpoint_id": "550e8400-...", "provider_name": "OpenAI", "usage": 0.015,
     "byok_usage_inference": 0.012, "requests": 5, "prompt_tokens": 50, "completion_tokens": 125,
     "reasoning_tokens": 25}

Money: ``usage`` is what OpenRouter charged (USD, credits spent) as a JSON *number*. It is read
from the JSON text as a ``Decimal`` (``_pages`` parses numbers that way, exponent forms such as
``1.5e-07`` included), never through a binary float, so sums match the vendor's to the last digit.
``byok_usage_inference`` is inference paid to the upstream provider with your own key (BYOK): it is
not on the OpenRouter bill, so it goes to the tag ``byok_usage_inference`` and never into
``billed_cost`` (the BYOK *fee* OpenRouter charges is already inside ``usage``).

Tokens: ``prompt_tokens`` -> ``input_tokens``; ``completion_tokens`` -> ``output_tokens``, which
already includes ``reasoning_tokens`` (-> ``reasoning_tokens``, a subset). A row whose reasoning
count exceeds its completion count cannot be inclusive: its output is then completion + reasoning
and the tag ``reasoning_tokens_separate`` says so (UNCONFIRMED that this ever happens).

Who: ``provider`` is ``openrouter`` (who bills), ``publisher`` the slug's prefix (``openai`` in
``openai/gpt-4.1``), ``model_raw`` the slug (``model``; the genai-prices book resolves it for
provider ``openrouter``; the dated ``model_permaslug`` is a tag), ``sku`` the endpoint id.
``workspace_id`` (sent with ``group_by=workspace``) -> ``project``.

Tolerant where the wire format is not pinned down: camelCase keys (as the SDK docs show them)
are read as their snake_case twins; numbers may come as strings; unknown fields are ignored;
everything but ``date``, ``model`` (or ``model_permaslug``) and ``usage`` may be missing or null.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from .. import sqlparts as s
from . import Context, NativeFormat, Probe
from . import _pages as pg
from . import _pagesql as ps

RAW_TABLE = "openrouter_activity_raw"
FIELDS = ("date", "model", "model_permaslug", "endpoint_id", "provider_name", "usage", "byok_usage_inference",
          "requests", "prompt_tokens", "completion_tokens", "reasoning_tokens", "workspace_id")
COUNTS = ("requests", "prompt_tokens", "completion_tokens", "reasoning_tokens")
_CAMEL = {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), f): f for f in FIELDS if "_" in f}
_SIGNS = ("model_permaslug", "modelPermaslug")


def _whole(raw: str) -> str:
    """A whole number from text; NULL for a fraction (1.5 tokens is not rounded away)."""
    d = s.decimal(raw)
    return f"CASE WHEN {d} = trunc({d}) THEN CAST({d} AS BIGINT) END"


def _is_item(obj: Any) -> bool:
    return isinstance(obj, dict) and (any(k in obj for k in _SIGNS) or
                                      ("date" in obj and "usage" in obj and
                                       ("prompt_tokens" in obj or "promptTokens" in obj)))


def _items(path: str, page: Any) -> Iterator[tuple[str, Any]]:
    """A page's items with their jq paths; a page of the wrong shape yields one problem."""
    if isinstance(page, pg._Broken) or _is_item(page):  # a bare item: a saved `data` array
        yield path, page
    elif not isinstance(page, dict):
        yield path, pg._Broken("not a page object")
    elif "error" in page and "data" not in page:
        err = page["error"]
        message = err.get("message") if isinstance(err, dict) else err
        yield path, pg._Broken(f"an error response, not a page: {message}")
    elif not isinstance(page.get("data"), list):
        yield path, pg._Broken("not a page: no `data` list of activity items")
    else:
        for i, item in enumerate(page["data"]):
            yield f"{path}.data[{i}]", item


def flatten(path: Any) -> pa.Table:
    """One row of strings per activity item: the fields, ``_pos`` (jq path), ``_problem``."""
    names = (pg.POS, pg.BPOS, pg.PROBLEM, *FIELDS)
    cols: dict[str, list[str | None]] = {n: [] for n in names}
    for prefix, page_path, page in pg.documents(path):
        for item_path, item in _items(page_path, page):
            pos = prefix + item_path if item_path else (prefix.removesuffix(": ") or ".")
            problem = None
            fields: dict[str, Any] = {}
            if isinstance(item, pg._Broken):
                problem = item.problem
            elif not isinstance(item, dict):
                problem = "not an activity item (an object)"
            else:
                fields = {_CAMEL.get(k, k): v for k, v in item.items()}
            cols[pg.POS].append(pos)
            cols[pg.BPOS].append(pos)
            cols[pg.PROBLEM].append(problem)
            for n in FIELDS:
                cols[n].append(pg._text_of(fields.get(n)))
    return pa.table({n: pa.array(v, pa.string()) for n, v in cols.items()})


def _looks_like_activity(sample: Any) -> bool:
    pages = sample if isinstance(sample, list) else [sample]
    empty_pages = False
    for page in pages:
        if _is_item(page):
            return True
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            return False
        for item in page["data"]:
            return _is_item(item)
        empty_pages = empty_pages or set(page) == {"data"}
    return empty_pages  # only `{"data": []}` pages: nothing will be loaded either way


class OpenRouterActivity(NativeFormat):
    name = "openrouter"
    priority = 44
    # A page for a day holds all of that day's activity (for the key it was asked with): a newer
    # import of the same source covering every day of an older one restates it.
    restates_by = "period_start"
    header_lines = 0

    def matches(self, probe: Probe) -> bool:
        if probe.container != "json":
            return False
        if probe.json_sample is None:  # too large to sample: sniff the first bytes
            return pg.head_has(probe, '"data"', '"model_permaslug"')
        return _looks_like_activity(probe.json_sample)

    def tables(self, probe: Probe) -> dict[str, pa.Table]:
        return {RAW_TABLE: flatten(probe.path)}

    def normalize_sql(self, probe: Probe, ctx: Context) -> str:
        fields: dict[str, str | None] = {f: f for f in FIELDS}
        raw = ps.json_raw(fields)
        checks = ps.Checks(True, fields)
        parsed = {
            "p_day": f"date_trunc('day', coalesce(try_strptime(r_date, '%Y-%m-%d'), {s.timestamp('r_date')}))",
            "p_usage": s.decimal("r_usage"),
            "p_byok": s.decimal("r_byok_usage_inference"),
            "p_slug": "coalesce(r_model, r_model_permaslug)",
            **{f"p_{c}": _whole(f"r_{c}") for c in COUNTS},
        }
        checks.required("date", "p_day", "a date (YYYY-MM-DD)")
        checks.add("model", "p_slug IS NULL", "required value is missing (model or model_permaslug)", "''")
        checks.required("usage", "p_usage", "a number (USD)")
        checks.optional("byok_usage_inference", "p_byok", "a number (USD)")
        for c in COUNTS:
            checks.optional(c, f"p_{c}", "a whole number")
            checks.add(c, f"p_{c} < 0", "negative")

        separate = "coalesce(p_reasoning_tokens > p_completion_tokens, false)"
        publisher = ("CASE WHEN strpos(p_slug, '/') > 1 "
                     "THEN nullif(lower(ltrim(split_part(p_slug, '/', 1), '~')), '') END")
        values = {
            **ps.lineage(ctx, "openrouter"),
            "period_start": "p_day",
            "period_end": "p_day + INTERVAL 1 DAY",
            "billing_period": "strftime(p_day, '%Y-%m')",
            "provider": "'openrouter'",
            "publisher": publisher,
            "service": "'OpenRouter'",
            "service_category": ps.AI,
            "model": "p_slug",
            "model_raw": "p_slug",
            "sku": "coalesce(r_endpoint_id, r_model_permaslug, p_slug)",
            "charge_category": "'usage'",
            "description": "p_slug || ' via ' || coalesce(r_provider_name, 'unknown provider')",
            "input_tokens": "p_prompt_tokens",
            "output_tokens": f"CASE WHEN {separate} THEN p_completion_tokens + p_reasoning_tokens "
                             "ELSE p_completion_tokens END",
            "reasoning_tokens": "p_reasoning_tokens",
            "requests": "p_requests",
            "billed_cost": "p_usage",
            "billing_currency": "'USD'",
            "cost_source": "'billed'",
            "project": "r_workspace_id",
            "tags": ps.tags({
                "model_permaslug": "r_model_permaslug",
                "endpoint_id": "r_endpoint_id",
                "provider_name": "r_provider_name",
                # exact text of the vendor's number; BYOK inference is never billed by OpenRouter
                "byok_usage_inference": "CASE WHEN p_byok <> 0 THEN r_byok_usage_inference END",
                "reasoning_tokens_separate": f"CASE WHEN {separate} THEN 'true' END",
            }),
        }
        return s.ledger_select(raw, parsed, values, checks.items, RAW_TABLE)


FORMAT = OpenRouterActivity()
