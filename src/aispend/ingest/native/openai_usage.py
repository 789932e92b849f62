"""OpenAI Usage API pages and the dashboard's usage CSV export -> estimated ledger rows.

Detected by content: saved pages of any ``GET /v1/organization/usage/*`` endpoint (results whose
``object`` is ``organization.usage.<kind>.result``: completions, embeddings, moderations, images,
audio_speeches, audio_transcriptions, vector_stores, code_interpreter_sessions, file_searches,
web_searches, and kinds added later), or a usage CSV export (a header with ``start_time`` and a
usage counter such as ``num_model_requests``, without ``amount_value``).

The Usage API has no money: rows are ``cost_source = 'estimated'`` and the price book estimates
them. Token semantics: OpenAI's ``input_tokens`` already includes cached and cache-write tokens,
so it is the ledger's ``input_tokens`` as is; ``input_cached_tokens`` -> ``cache_read_tokens``,
``input_cache_write_tokens`` -> ``cache_write_tokens`` (subsets, never added again).
``num_model_requests`` -> ``requests``; ``batch = true`` -> service tier ``batch``. Other endpoints
put their counter in ``quantity`` / ``unit`` (images, characters, seconds, bytes, sessions, calls).

The Costs API (``openai`` format) bills the same money: these rows import under their own source
(``openai-usage`` by default) for attribution and token mix, not as a second bill.
"""

from __future__ import annotations

from .. import sqlparts as s
from . import Context, Probe
from . import _openai as oa
from . import _pagesql as ps

USAGE_OBJECT = "organization.usage."
_KIND = r"^organization\.usage\.(.+)\.result$"
COUNTERS = ("input_tokens", "output_tokens", "input_cached_tokens", "input_cache_write_tokens", "num_model_requests")
# counter -> unit, for endpoints measured in something other than tokens (first present wins)
QUANTITIES = {"images": "images", "characters": "characters", "seconds": "seconds", "usage_bytes": "bytes",
              "num_sessions": "sessions", "num_requests": "calls"}
GROUP_TAGS = ("user_id", "size", "source", "vector_store_id", "context_level")
SPEC = {
    **oa.TIME_FIELDS,
    "object": ("object", None),
    **{x: (x, x) for x in (*COUNTERS, *QUANTITIES, *GROUP_TAGS, "project_id", "api_key_id", "model", "batch",
                           "service_tier", *oa.CSV_EXTRAS)},
}


def _csv_kind(headers: set[str]) -> str | None:
    """The endpoint a usage CSV export came from, judged by its counters (None if ambiguous)."""
    for column, kind in (("output_tokens", "completions"), ("images", "images"), ("characters", "audio_speeches"),
                         ("seconds", "audio_transcriptions"), ("usage_bytes", "vector_stores"),
                         ("num_sessions", "code_interpreter_sessions"), ("context_level", "web_searches"),
                         ("vector_store_id", "file_searches")):
        if column in headers:
            return kind
    return None


class OpenAIUsage(ps.PageFormat):
    name = "openai-usage"
    raw_table = "openai_usage_raw"
    spec = SPEC
    priority = 41
    # Only the same file (content or path) is replaced: ten endpoints share this source, and a
    # page of one endpoint says nothing about another's days.
    restates_by = None
    header_lines = 1

    def matches(self, probe: Probe) -> bool:
        if probe.container == "csv":
            have = set(probe.headers)
            times = {"start_time", "end_time"} <= have or {"start_time_iso", "end_time_iso"} <= have
            # token columns alone are too common (gateway logs): ask for an API counter
            return times and "amount_value" not in have and bool({"num_model_requests", *QUANTITIES} & have)
        return oa.is_openai_page(probe, USAGE_OBJECT)

    def normalize_sql(self, probe: Probe, ctx: Context) -> str:
        json_mode = probe.container == "json"
        fields = oa.fields(SPEC, json_mode)
        raw, from_sql = self.raw_source(probe, fields)
        if json_mode:
            kind = f"nullif(regexp_extract(r_object, {s.lit(_KIND)}, 1), '')"
        else:
            kind = s.lit(_csv_kind(set(probe.headers)))
        checks = ps.Checks(json_mode, fields)
        parsed = {f"p_{c}": s.integer(f"r_{c}") for c in (*COUNTERS, *QUANTITIES)}
        parsed["p_kind"] = kind
        parsed["p_batch"] = "lower(r_batch)"
        values = oa.period(checks, parsed)

        checks.add("object", f"r_object IS NOT NULL AND NOT regexp_matches(r_object, {s.lit(_KIND)})",
                   "not an organization.usage.*.result (Costs API pages import as --format openai)")
        for c in (*COUNTERS, *QUANTITIES):
            checks.optional(c, f"p_{c}", "a whole number")
        checks.add("batch", "p_batch IS NOT NULL AND p_batch NOT IN ('true', 'false')", "not true or false")
        # input_tokens is inclusive: a cached or cache-write count above it means the file's
        # semantics are not the ones this mapping assumes.
        for c in ("input_cached_tokens", "input_cache_write_tokens"):
            checks.add(c, f"p_{c} > coalesce(p_input_tokens, 0)", "exceeds input_tokens (which includes it)")

        quantity = " ".join(f"WHEN p_{c} IS NOT NULL THEN p_{c}" for c in QUANTITIES)
        unit = " ".join(f"WHEN p_{c} IS NOT NULL THEN {s.lit(u)}" for c, u in QUANTITIES.items())
        values.update(
            ps.lineage(ctx, "openai-usage"),
            **oa.AI_VALUES,
            model="r_model",
            model_raw="r_model",
            sku="p_kind",
            service_tier=f"CASE WHEN p_batch = 'true' THEN 'batch' ELSE {oa.TIER.format(x='r_service_tier')} END",
            charge_category="'usage'",
            description="'usage: ' || coalesce(p_kind, 'unknown endpoint')",
            input_tokens="p_input_tokens",
            output_tokens="p_output_tokens",
            cache_read_tokens="p_input_cached_tokens",
            cache_write_tokens="p_input_cache_write_tokens",
            requests="p_num_model_requests",
            quantity=f"CASE {quantity} END",
            unit=f"CASE {unit} END",
            cost_source="'estimated'",
            account_id="r_organization_id",
            project="r_project_id",
            api_key_id="r_api_key_id",
            tags=ps.tags({
                **{t: f"r_{t}" for t in GROUP_TAGS},
                "project_name": "r_project_name",
                "organization_name": "r_organization_name",
                "api_source": "r_api_source",
            }),
        )
        return s.ledger_select(raw, parsed, values, checks.items, from_sql)


FORMAT = OpenAIUsage()
