"""OpenAI Costs API pages and the dashboard's cost CSV export -> billed ledger rows.

Two file kinds, detected by content:

* saved pages of ``GET /v1/organization/costs`` (one page, a JSON array of pages, or JSON lines):
  results whose ``object`` is ``organization.costs.result``;
* the usage dashboard's cost export, a CSV whose header has ``amount_value`` and ``start_time``
  (columns ``start_time, end_time, start_time_iso, end_time_iso, amount_value, amount_currency,
  quantity, quantity_unit, line_item, user_id, api_key_id, project_id, organization_id,
  project_name, organization_name, user_email, api_source``; UNCONFIRMED, read tolerantly).

These are the invoice-relevant numbers (``cost_source = 'billed'``). ``amount.value`` is read from
the JSON text as a decimal, never through a float. ``line_item`` is kept as the SKU and parsed,
best effort, into model, token direction (``input``, ``cached input``, ``cache writes``,
``output``), modality and a ``priority | `` style tier prefix; with ``quantity_unit`` ``tokens``
(or ``1000_tokens``) a text line item's quantity fills the token columns, so cached input counts
in ``input_tokens`` and ``cache_read_tokens`` both, as the ledger's semantics want.
``user_email`` is never read: it is personal data (``user_id`` is kept as a tag).

Usage API pages are a different format (``openai-usage``): they describe the same money, so they
import under their own source and never restate these rows.
"""

from __future__ import annotations

from ...schema import MONEY_SQL
from .. import sqlparts as s
from . import Context, Probe
from . import _openai as oa
from . import _pagesql as ps

COSTS_OBJECT = "organization.costs.result"
SPEC = {
    **oa.TIME_FIELDS,
    "object": ("object", None),
    "amount": ("amount.value", "amount_value"),
    "currency": ("amount.currency", "amount_currency"),
    "line_item": ("line_item", "line_item"),
    "project_id": ("project_id", "project_id"),
    "api_key_id": ("api_key_id", "api_key_id"),
    "user_id": ("user_id", "user_id"),
    "quantity": ("quantity", "quantity"),
    "quantity_unit": ("quantity_unit", "quantity_unit"),
    **{x: (x, x) for x in oa.CSV_EXTRAS},
}
_TIER_PREFIX = r"^\s*([A-Za-z_]+)\s*\|\s*"
_WRITES = "'cache writes', 'cache write'"
# Token counts from a text line item's quantity (audio and image tokens are priced apart: kept out).
_TOKENS = ("CASE WHEN p_li_model IS NOT NULL AND coalesce(p_li_modality, 'text') = 'text' THEN CAST(round("
           "p_quantity * CASE p_unit WHEN 'tokens' THEN 1 WHEN '1000_tokens' THEN 1000 END) AS BIGINT) END")
# An empty bucket in the CSV export has neither amount nor currency: a $0 row.
_AMOUNT = f"CASE WHEN r_amount IS NULL AND r_currency IS NULL THEN CAST(0 AS {MONEY_SQL}) ELSE p_amount END"
_CATEGORY = ("CASE WHEN regexp_matches(lower(r_line_item), '\\btax\\b') THEN 'tax' WHEN p_amount < 0 "
             "OR regexp_matches(lower(r_line_item), '\\bcredit') THEN 'credit' ELSE 'usage' END")
_DESCRIPTION = ("coalesce(r_line_item, "
                "CASE WHEN r_amount IS NULL THEN 'no costs in this bucket' ELSE 'OpenAI costs' END)")
_MODALITY = r"\s+(text|audio|image|video)$"


def _line_item_parts() -> dict[str, str]:
    """``priority | gpt-5.5-2026-04-23 text, cached input, long context`` taken apart."""
    rest = f"regexp_replace(r_line_item, {s.lit(_TIER_PREFIX)}, '')"
    head = f"trim(split_part({rest}, ',', 1))"
    bare = f"regexp_replace({head}, {s.lit(_MODALITY)}, '')"
    has_comma = f"strpos({rest}, ',') > 0"
    return {
        "p_li_tier": f"nullif(lower(regexp_extract(r_line_item, {s.lit(_TIER_PREFIX)}, 1)), '')",
        "p_li_dir": f"CASE WHEN {has_comma} THEN nullif(lower(trim(split_part({rest}, ',', 2))), '') END",
        "p_li_extra": f"CASE WHEN {has_comma} THEN nullif(lower(trim(split_part({rest}, ',', 3))), '') END",
        "p_li_modality": f"nullif(lower(regexp_extract({head}, {s.lit(_MODALITY)}, 1)), '')",
        # A model is one word: before the first comma, or alone if it has a digit (gpt-4o).
        "p_li_model": (f"CASE WHEN {bare} <> '' AND NOT regexp_matches({bare}, '\\s') "
                       f"AND ({has_comma} OR regexp_matches({bare}, '[0-9]')) THEN {bare} END"),
    }


class OpenAICosts(ps.PageFormat):
    name = "openai"
    raw_table = "openai_costs_raw"
    spec = SPEC
    priority = 40
    # A costs page for a set of days holds all of the organization's costs on those days: a newer
    # import of the same source that covers every day of an older one replaces it.
    restates_by = "period_start"
    header_lines = 1

    def matches(self, probe: Probe) -> bool:
        if probe.container == "csv":
            have = set(probe.headers)
            return "amount_value" in have and bool({"start_time", "start_time_iso"} & have)
        return oa.is_openai_page(probe, COSTS_OBJECT)

    def normalize_sql(self, probe: Probe, ctx: Context) -> str:
        json_mode = probe.container == "json"
        fields = oa.fields(SPEC, json_mode)
        raw, from_sql = self.raw_source(probe, fields)
        checks = ps.Checks(json_mode, fields)
        parsed = {
            "p_amount": ps.money("r_amount"),
            "p_quantity": s.decimal("r_quantity"),
            "p_unit": "lower(r_quantity_unit)",
            **_line_item_parts(),
        }
        values = oa.period(checks, parsed)
        checks.add("object", f"r_object IS NOT NULL AND r_object <> {s.lit(COSTS_OBJECT)}",
                   f"not {COSTS_OBJECT} (Usage API pages import as --format openai-usage)")
        checks.add("amount", "r_amount IS NULL AND r_currency IS NOT NULL", "required value is missing", "''")
        checks.optional("amount", "p_amount", "a decimal number")
        checks.optional("quantity", "p_quantity", "a decimal number")

        values.update(
            ps.lineage(ctx, "openai"),
            **oa.AI_VALUES,
            model="p_li_model",
            model_raw="p_li_model",
            sku="r_line_item",
            service_tier=oa.TIER.format(x="p_li_tier"),
            charge_category=_CATEGORY,
            description=_DESCRIPTION,
            input_tokens=f"CASE WHEN p_li_dir IN ('input', {_WRITES}, 'cached input') THEN {_TOKENS} END",
            cache_read_tokens=f"CASE WHEN p_li_dir = 'cached input' THEN {_TOKENS} END",
            cache_write_tokens=f"CASE WHEN p_li_dir IN ({_WRITES}) THEN {_TOKENS} END",
            output_tokens=f"CASE WHEN p_li_dir = 'output' THEN {_TOKENS} END",
            quantity="p_quantity",
            unit="r_quantity_unit",
            billed_cost=_AMOUNT,
            billing_currency="upper(coalesce(r_currency, 'usd'))",
            cost_source="'billed'",
            account_id="r_organization_id",
            project="r_project_id",
            api_key_id="r_api_key_id",
            tags=ps.tags({
                "user_id": "r_user_id",
                "project_name": "r_project_name",
                "organization_name": "r_organization_name",
                "api_source": "r_api_source",
                "token_type": "CASE WHEN p_li_model IS NOT NULL THEN p_li_dir END",
                "modality": "p_li_modality",
                "long_context": "CASE WHEN p_li_extra = 'long context' THEN 'true' END",
            }),
        )
        return s.ledger_select(raw, parsed, values, checks.items, from_sql)


FORMAT = OpenAICosts()
