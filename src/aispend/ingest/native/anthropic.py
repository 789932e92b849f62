"""Anthropic cost_report pages and the Console's cost CSV export -> billed ledger rows.

Two file kinds, detected by content:

* saved pages of ``GET /v1/organizations/cost_report`` (one page, a JSON array of pages, or JSON
  lines): buckets with ``starting_at`` whose results carry ``amount`` as a decimal string;
* the Console cost export, a CSV with ``usage_date_utc`` and ``cost_usd`` (columns
  ``usage_date_utc, model, workspace, api_key, usage_type, context_window, token_type, cost_usd,
  list_price_usd, cost_type, inference_geo, speed, api_key_id, api_key_status``).

**Cents**: the API's ``amount`` is in the currency's lowest unit (cents) as a decimal string,
``"123.78912"`` is $1.2378912; it is converted exactly (decimal times 0.01, never a float). The
CSV's ``cost_usd`` is read as dollars, as its name says (UNCONFIRMED: no public sample).

The cost report has no token counts (only money per ``token_type``), so these rows carry money
and dimensions; token counts come from ``usage_report/messages`` (the ``anthropic-usage`` format).
"""

from __future__ import annotations

from typing import Any

from ...schema import MONEY_SQL
from .. import sqlparts as s
from . import Context, Probe
from . import _anthropic as an
from . import _pagesql as ps

TAGGED = ("cost_type", "token_type", "context_window", "inference_geo", "speed")
SPEC = {
    **an.TIME_FIELDS,
    "amount_cents": ("amount", None),
    "amount_usd": (None, "cost_usd"),
    "list_usd": (None, "list_price_usd"),
    "currency": ("currency", None),
    "workspace_id": ("workspace_id", None),
    "workspace": (None, "workspace"),
    "description": ("description", None),
    "model": ("model", "model"),
    "service_tier": ("service_tier", None),
    "usage_type": (None, "usage_type"),
    "api_key": (None, "api_key"),
    "api_key_id": (None, "api_key_id"),
    "api_key_status": (None, "api_key_status"),
    **{t: (t, t) for t in TAGGED},
}
_DESCRIPTION = ("coalesce(r_description, "
                "nullif(concat_ws(' ', r_model, coalesce(r_token_type, r_cost_type)), ''), 'Anthropic costs')")
_CENTS = f"CAST(try_cast({{raw}} AS DECIMAL(38, 20)) * CAST(0.01 AS DECIMAL(3, 2)) AS {MONEY_SQL})"


def _is_cost(result: dict[str, Any]) -> bool:
    return "amount" in result and not isinstance(result["amount"], dict) and "uncached_input_tokens" not in result


class AnthropicCosts(ps.PageFormat):
    name = "anthropic"
    raw_table = "anthropic_costs_raw"
    spec = SPEC
    priority = 42
    # A cost report for a set of days holds all of the organization's costs on those days: a newer
    # import of the same source that covers every day of an older one replaces it.
    restates_by = "period_start"
    header_lines = 1

    def matches(self, probe: Probe) -> bool:
        if probe.container == "csv":
            return {"usage_date_utc", "cost_usd"} <= set(probe.headers)
        return an.is_anthropic_page(probe, _is_cost, '"amount"', '"currency"')

    def normalize_sql(self, probe: Probe, ctx: Context) -> str:
        json_mode = probe.container == "json"
        fields = an.fields(SPEC, json_mode)
        raw, from_sql = self.raw_source(probe, fields)
        checks = ps.Checks(json_mode, fields)
        parsed = {
            # cents (API) or dollars (Console CSV) -> dollars, exact
            "p_amount": _CENTS.format(raw="r_amount_cents") if json_mode else ps.money("r_amount_usd"),
            "p_list": ps.money("r_list_usd"),
        }
        values = an.period(checks, parsed, json_mode)
        if json_mode:
            checks.required("amount_cents", "p_amount", "a decimal string (cents)")
        else:
            checks.required("amount_usd", "p_amount", "a decimal number (dollars)")
            checks.optional("list_usd", "p_list", "a decimal number (dollars)")

        values.update(
            ps.lineage(ctx, "anthropic"),
            **an.AI_VALUES,
            model="r_model",
            model_raw="r_model",
            sku="coalesce(r_token_type, r_cost_type)",
            service_tier=an.TIER.format(x="coalesce(r_service_tier, r_usage_type)"),
            charge_category="CASE WHEN p_amount < 0 THEN 'credit' ELSE 'usage' END",
            description=_DESCRIPTION,
            billed_cost="p_amount",
            billing_currency="upper(coalesce(r_currency, 'USD'))",
            list_cost_usd="p_list",
            cost_source="'billed'",
            project="coalesce(r_workspace_id, r_workspace)",
            api_key_id="r_api_key_id",
            tags=ps.tags({
                **{t: f"r_{t}" for t in TAGGED},
                "service_tier": an.RAW_TIER,
                "usage_type": "r_usage_type",
                "api_key_name": "r_api_key",
                "api_key_status": "r_api_key_status",
            }),
        )
        return s.ledger_select(raw, parsed, values, checks.items, from_sql)


FORMAT = AnthropicCosts()
