"""Anthropic usage_report/messages pages and the Console's usage CSV export -> estimated rows.

Detected by content: saved pages of ``GET /v1/organizations/usage_report/messages`` (buckets with
``starting_at`` whose results carry ``uncached_input_tokens``), or the Console usage export
(``claude_api_tokens_YYYY_MM*.csv``: ``usage_date_utc, model_version, api_key, workspace,
usage_type, context_window, usage_input_tokens_no_cache, usage_input_tokens_cache_write_5m,
usage_input_tokens_cache_write_1h, usage_input_tokens_cache_read, usage_output_tokens,
web_search_count, inference_geo, speed``).

Token semantics: Anthropic reports uncached input *separately* from cache reads and writes. The
ledger's ``input_tokens`` counts all input, so it is ``uncached + cache_read + cache_creation
(5m + 1h)``; ``cache_read_tokens`` and ``cache_write_tokens`` (5m + 1h) are subsets of it. The 1h
share is kept as the tag ``cache_write_1h_tokens`` (1h writes cost more than 5m ones; a cache-TTL
recommendation needs it). Web searches go to the tag ``web_search_requests``.

The report has no money: rows are ``cost_source = 'estimated'``; the cost report (``anthropic``
format) bills the same usage, so these rows import under their own source.
"""

from __future__ import annotations

from typing import Any

from .. import sqlparts as s
from . import Context, Probe
from . import _anthropic as an
from . import _pagesql as ps

TOKENS = {
    "uncached": ("uncached_input_tokens", "usage_input_tokens_no_cache"),
    "cache_read": ("cache_read_input_tokens", "usage_input_tokens_cache_read"),
    "cache_5m": ("cache_creation.ephemeral_5m_input_tokens", "usage_input_tokens_cache_write_5m"),
    "cache_1h": ("cache_creation.ephemeral_1h_input_tokens", "usage_input_tokens_cache_write_1h"),
    "output": ("output_tokens", "usage_output_tokens"),
    "web_search": ("server_tool_use.web_search_requests", "web_search_count"),
    "requests": ("requests", None),  # the newer analytics report has it
}
TAGGED = ("context_window", "inference_geo", "speed")
SPEC = {
    **an.TIME_FIELDS,
    **TOKENS,
    "model": ("model", "model_version"),
    "workspace_id": ("workspace_id", None),
    "workspace": (None, "workspace"),
    "api_key_id": ("api_key_id", None),
    "api_key": (None, "api_key"),
    "service_tier": ("service_tier", None),
    "usage_type": (None, "usage_type"),
    "account_id": ("account_id", None),
    "service_account_id": ("service_account_id", None),
    **{t: (t, t) for t in TAGGED},
}
CSV_SIGNS = {"usage_input_tokens_no_cache", "usage_input_tokens_cache_read", "usage_output_tokens"}


def _is_usage(result: dict[str, Any]) -> bool:
    return "uncached_input_tokens" in result or "cache_read_input_tokens" in result


class AnthropicUsage(ps.PageFormat):
    name = "anthropic-usage"
    raw_table = "anthropic_usage_raw"
    spec = SPEC
    priority = 43
    # One endpoint, so a newer import of the same source covering every bucket start of an older
    # one restates it (a 1h and a 1d import of the same days do not cover each other: see docs).
    restates_by = "period_start"
    header_lines = 1

    def matches(self, probe: Probe) -> bool:
        if probe.container == "csv":
            have = set(probe.headers)
            return "usage_date_utc" in have and bool(CSV_SIGNS & have)
        return an.is_anthropic_page(probe, _is_usage, '"uncached_input_tokens"')

    def normalize_sql(self, probe: Probe, ctx: Context) -> str:
        json_mode = probe.container == "json"
        fields = an.fields(SPEC, json_mode)
        raw, from_sql = self.raw_source(probe, fields)
        checks = ps.Checks(json_mode, fields)
        parsed = {f"p_{t}": s.integer(f"r_{t}") for t in TOKENS}
        values = an.period(checks, parsed, json_mode)
        for t in TOKENS:
            if json_mode and t in ("uncached", "output"):  # documented as never null
                checks.required(t, f"p_{t}", "a whole number")
            else:
                checks.optional(t, f"p_{t}", "a whole number")
            checks.add(t, f"p_{t} < 0", "negative")

        n = {t: f"coalesce(p_{t}, 0)" for t in TOKENS}
        values.update(
            ps.lineage(ctx, "anthropic-usage"),
            **an.AI_VALUES,
            model="r_model",
            model_raw="r_model",
            sku="'messages'",
            service_tier=an.TIER.format(x="coalesce(r_service_tier, r_usage_type)"),
            charge_category="'usage'",
            description="'usage: messages'",
            # uncached input is reported apart from cache reads and writes: add them up once
            input_tokens=f"{n['uncached']} + {n['cache_read']} + {n['cache_5m']} + {n['cache_1h']}",
            output_tokens=n["output"],
            cache_read_tokens=n["cache_read"],
            cache_write_tokens=f"{n['cache_5m']} + {n['cache_1h']}",
            requests="p_requests",
            cost_source="'estimated'",
            project="coalesce(r_workspace_id, r_workspace)",
            api_key_id="r_api_key_id",
            tags=ps.tags({
                "cache_write_1h_tokens": "CASE WHEN p_cache_1h > 0 THEN p_cache_1h END",
                "web_search_requests": "CASE WHEN p_web_search > 0 THEN p_web_search END",
                **{t: f"r_{t}" for t in TAGGED},
                "service_tier": an.RAW_TIER,
                "usage_type": "r_usage_type",
                "api_key_name": "r_api_key",
                "account_id": "r_account_id",
                "service_account_id": "r_service_account_id",
            }),
        )
        return s.ledger_select(raw, parsed, values, checks.items, from_sql)


FORMAT = AnthropicUsage()
