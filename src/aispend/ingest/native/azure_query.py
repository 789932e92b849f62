"""Azure Cost Management Query API results (saved responses, or pages of ``aispend sync``) -> ledger.

A Query result (vendors.md §5.1) is ``{properties: {nextLink, columns: [{name, type}], rows: [[...]]}}``:
each row is a positional array aligned with ``columns``. A file holds one result, a JSON array of
results (a sync's pages), JSON lines of results, or an azure-rest-api-specs example
(``{parameters, responses: {"200": {body}}}``), whose request tells the period of a result without dates.

Columns are matched case-insensitively through the ``azure`` format's field table: ``UsageDate``
(an integer ``yyyymmdd``; Daily) or ``BillingMonth`` (Monthly), ``Cost``/``PreTaxCost``/``CostUSD``
(JSON numbers read from their text as decimals, never through a float), ``Currency``, and the
grouping dimensions (``Meter``/``MeterName``, ``ServiceName``/``MeterCategory``,
``MeterSubCategory``, ``ResourceGroup``, ``SubscriptionId``, ``ResourceLocation``, ``ChargeType``,
...). Any other column (``TagKey``, ``ServiceTier``, ...) is kept as a tag ``azure.<Name>``.
Azure OpenAI / Foundry meter names are parsed by the ``azure`` format's meter parser (model, token
type, deployment type, batch); the Query API has no unit of measure, so no token counts.

A result without a date column (granularity ``None``: totals over the query's timeframe) needs its
request: ``Custom`` uses ``timePeriod``; relative timeframes (``TheLastMonth``, ``MonthToDate``,
...) are resolved against the time of the import. Without a request such a result is refused.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from ...vendors import provider_sql_case
from .. import sqlparts as s
from . import Context, NativeFormat, Probe
from . import _pagesql as ps
from ._pages import _Broken, _text_of, documents, head_has
from .azure import (
    _AI_SERVICE,
    AI_CATEGORY,
    CHARGE_TYPES,
    CONSUMED_SERVICE_CATEGORY,
    FIELDS,
    METER_CATEGORY,
    _case,
    _columns,
    _regex,
    layered,
    meter_sql,
)

RAW_TABLE = "azure_query_raw"
POS, PROBLEM, EXTRA, P_START, P_END, DATE_KIND = "_pos", "_problem", "_extra", "_pstart", "_pend", "_date_kind"
CHECKED = ("date", "cost", "currency")  # fields whose cell position is kept for error messages
COLUMNS = (POS, PROBLEM, EXTRA, P_START, P_END, DATE_KIND, *(f"_at_{f}" for f in CHECKED), *(f"c_{f}" for f in FIELDS))
# Columns that are neither a ledger field nor worth a tag.
_NOT_TAGS = {"tags"}


# -- reading (Python: positional rows to named cells) ----------------------------------------------


def _period(request: Any, now: datetime) -> tuple[str, str] | None:
    """[start, end) of a request's timeframe as ISO dates, or None when it cannot be known."""
    if not isinstance(request, dict):
        return None
    frame = str(request.get("timeframe") or "").lower()
    today = now.date()
    first = today.replace(day=1)
    next_month = (first + timedelta(days=32)).replace(day=1)
    if frame == "custom":
        tp = request.get("timePeriod") or {}
        try:
            start = datetime.fromisoformat(str(tp["from"])).date()
            end = datetime.fromisoformat(str(tp["to"])).date() + timedelta(days=1)
        except (KeyError, TypeError, ValueError):
            return None
    elif frame in ("thelastmonth", "thelastbillingmonth"):
        end, start = first, (first - timedelta(days=1)).replace(day=1)
    elif frame in ("monthtodate", "billingmonthtodate"):
        start, end = first, today + timedelta(days=1)
    elif frame == "thecurrentmonth":
        start, end = first, next_month
    elif frame == "weektodate":
        start, end = today - timedelta(days=today.weekday()), today + timedelta(days=1)
    else:
        return None
    return start.isoformat(), end.isoformat()


def _results(path: Path) -> list[tuple[str, Any, Any]]:
    """(jq path of the result, the result, its request or None) for each result in the file."""
    out = []
    for prefix, page_path, doc in documents(path):
        where = prefix + page_path
        if isinstance(doc, dict) and isinstance(doc.get("responses"), dict):  # a spec example
            params = doc.get("parameters")
            request = params.get("parameters") if isinstance(params, dict) else None
            ok = doc["responses"].get("200")
            out.append((f'{where}.responses."200".body', ok.get("body") if isinstance(ok, dict) else
                        _Broken("an example without a 200 response body"), request))
        else:
            out.append((where, doc, None))
    return out


def read(path: Path, now: datetime | None = None) -> pa.Table:
    """One row of strings per Query row: logical fields ``c_<field>``, positions, problems, tags."""
    now = now or datetime.now(UTC)
    cols: dict[str, list[str | None]] = {n: [] for n in COLUMNS}

    def emit(pos: str, problem: str | None = None, **values: str | None) -> None:
        for n in COLUMNS:
            cols[n].append(values.get(n))
        cols[POS][-1], cols[PROBLEM][-1] = pos, problem

    for where, result, request in _results(path):
        shown = where or "."
        if isinstance(result, _Broken):
            emit(shown, result.problem)
            continue
        if isinstance(result, dict) and "error" in result and "properties" not in result:
            err = result["error"]
            emit(shown, f"an error response, not a result: {err.get('message') if isinstance(err, dict) else err}")
            continue
        props = result.get("properties") if isinstance(result, dict) else None
        if not isinstance(props, dict) or not isinstance(props.get("columns"), list) or not isinstance(props.get("rows"), list):
            emit(shown, "not a Cost Management Query result: no properties.columns and properties.rows lists")
            continue
        names = [c.get("name") if isinstance(c, dict) else None for c in props["columns"]]
        if not all(isinstance(n, str) and n for n in names):
            emit(f"{where}.properties.columns", "a column without a name")
            continue
        lower = [n.strip().lower() for n in names]
        fields = _columns(tuple(lower))  # logical field -> lower-case column name
        index = {f: lower.index(c) for f, c in fields.items()}
        extra_idx = [i for i, n in enumerate(lower) if n not in fields.values() and n not in _NOT_TAGS]
        period: tuple[str, str] | None = None
        if "date" not in fields and props["rows"]:
            period = _period(request, now)
            if period is None:
                emit(f"{where}.properties.columns", "no UsageDate or BillingMonth column (a query with granularity "
                     "None): import it with its request (timePeriod), or query with granularity Daily")
                continue
        kind = fields.get("date")
        for r, row in enumerate(props["rows"]):
            pos = f"{where}.properties.rows[{r}]"
            if not isinstance(row, list) or len(row) != len(names):
                emit(pos, f"not a row of {len(names)} values (one per column)")
                continue
            values: dict[str, str | None] = {f"c_{f}": _text_of(row[i]) for f, i in index.items()}
            values.update({f"_at_{f}": f"{pos}[{index[f]}] ({names[index[f]]})" for f in CHECKED if f in index})
            extra = {f"azure.{names[i]}": _text_of(row[i]) for i in extra_idx if row[i] not in (None, "")}
            values[EXTRA] = json.dumps(extra, sort_keys=True) if extra else None
            values[DATE_KIND] = kind
            if period is not None:
                values[P_START], values[P_END] = period
            emit(pos, None, **values)
    return pa.table({n: pa.array(v, pa.string()) for n, v in cols.items()})


# -- the format ----------------------------------------------------------------------------------


def _is_result(doc: Any) -> bool:
    if isinstance(doc, dict) and isinstance(doc.get("responses"), dict):
        ok = doc["responses"].get("200")
        doc = ok.get("body") if isinstance(ok, dict) else None
    props = doc.get("properties") if isinstance(doc, dict) else None
    return isinstance(props, dict) and isinstance(props.get("columns"), list) and "rows" in props


class AzureQuery(NativeFormat):
    name = "azure-query"
    priority = 45
    # A result for a set of days holds all of the scope's (filtered) costs on those days.
    restates_by = "period_start"
    header_lines = 0

    def matches(self, probe: Probe) -> bool:
        if probe.container != "json":
            return False
        sample = probe.json_sample
        if sample is None:  # too large to sample
            return head_has(probe, '"properties"') and head_has(probe, '"columns"')
        docs = sample if isinstance(sample, list) else [sample]
        results = [_is_result(d) for d in docs]
        # saved error responses among results are reported at import, with their position
        return any(results) and all(ok or (isinstance(d, dict) and "error" in d) for ok, d in zip(results, docs))

    def tables(self, probe: Probe) -> dict[str, pa.Table]:
        return {RAW_TABLE: read(probe.path)}

    def normalize_sql(self, probe: Probe, ctx: Context) -> str:
        raw = {f"r{POS}": POS, f"r{PROBLEM}": PROBLEM, "r_extra": EXTRA, "r_pstart": P_START, "r_pend": P_END,
               "r_date_kind": DATE_KIND, **{f"r_at_{f}": f"_at_{f}" for f in CHECKED},
               **{f"r_{f}": s.blank(f"c_{f}") for f in FIELDS}}
        category = ("coalesce(r_meter_category, '') || ' ' || coalesce(r_meter_subcategory, '') || ' ' "
                    "|| coalesce(r_consumed_service, '')")
        ai_service = _regex(f"lower({category})", _AI_SERVICE)
        parsed = {
            "p_date": f"coalesce({s.timestamp('r_date', '%Y%m%d')}, {s.timestamp('r_date')})",
            "p_start": f"coalesce(date_trunc('day', p_date), {s.timestamp('r_pstart')})",
            "p_end": ("CASE WHEN r_pend IS NOT NULL AND r_date IS NULL THEN " + s.timestamp("r_pend") +
                      " WHEN r_date_kind = 'billingmonth' THEN date_trunc('day', p_date) + INTERVAL 1 MONTH "
                      "ELSE date_trunc('day', p_date) + INTERVAL 1 DAY END"),
            "p_cost": s.decimal("r_cost"),
            "p_quantity": s.decimal("r_quantity"),
            "p_charge_type": "lower(replace(r_charge_type, ' ', ''))",
            "p_tags": ("json_merge_patch(coalesce(try_cast(r_extra AS JSON), '{}'), "
                       "json_object('azure.deployment_type', m_deployment))"),
        }
        checks: list[s.Check] = [ps.At("", f"r{PROBLEM} IS NOT NULL", "malformed record", f"r{PROBLEM}")]
        for field, parse, what in (("date", "p_date", "a date (yyyymmdd or ISO 8601)"),
                                   ("cost", "p_cost", "a decimal number"), ("currency", "r_currency", "a currency")):
            at = f"coalesce(r_at_{field}, r{POS} || ' ({field})')"
            if field == "date":
                checks.append(ps.At("", f"r{PROBLEM} IS NULL AND r_date IS NULL AND r_pstart IS NULL",
                                    "required value is missing", "''", where=at))
            else:
                checks.append(ps.At("", f"r{PROBLEM} IS NULL AND r_{field} IS NULL", "required value is missing", "''",
                                    where=at))
            checks.append(ps.At("", f"r_{field} IS NOT NULL AND {parse} IS NULL", f"not {what}", f"r_{field}", where=at))

        service_category = " ".join(
            f"WHEN lower({column}) IN ({', '.join(s.lit(v) for v in names)}) THEN {s.lit(cat)}"
            for column, table in (("r_meter_category", METER_CATEGORY), ("r_consumed_service", CONSUMED_SERVICE_CATEGORY))
            for cat, names in table.items()
        )
        values = {
            **ps.lineage(ctx, "azure"),
            "period_start": "p_start",
            "period_end": "p_end",
            "billing_period": "strftime(p_start, '%Y-%m')",
            "provider": "'azure'",
            "publisher": f"coalesce(m_publisher, {provider_sql_case('r_publisher')})",
            "service": "coalesce(r_meter_category, r_consumed_service, CASE WHEN m_is_model THEN 'Azure OpenAI' END)",
            "service_category": (f"CASE WHEN m_is_model OR m_ai_service THEN {s.lit(AI_CATEGORY)} {service_category} "
                                 "ELSE 'Other' END"),
            "model": "m_model",
            "model_raw": "m_model",
            "sku": "r_meter",
            "region": "r_region",
            "service_tier": "CASE WHEN m_batch THEN 'batch' WHEN m_is_model THEN 'standard' END",
            "charge_category": _case("p_charge_type", CHARGE_TYPES,
                                     "CASE WHEN p_charge_type IS NULL THEN 'usage' ELSE 'adjustment' END"),
            "description": "coalesce(r_product, r_meter_subcategory, r_meter, r_resource_group, 'Azure costs')",
            "quantity": "p_quantity",
            "billed_cost": "p_cost",
            "billing_currency": "upper(r_currency)",
            "cost_source": "'billed'",
            "account_id": "coalesce(r_subscription, r_billing_account)",
            "project": "r_resource_group",
            "tags": "CASE WHEN p_tags <> '{}' THEN p_tags END",
            "invoice_id": "r_invoice",
        }
        raw_sql = "(SELECT " + ", ".join(f"{expr} AS {alias}" for alias, expr in raw.items()) + f" FROM {RAW_TABLE})"
        from_sql, names = layered(raw_sql, meter_sql("r_meter", "CAST(NULL AS VARCHAR)", ai_service))
        passthrough = {name: name for name in [*raw, *names]}
        return s.ledger_select(passthrough, parsed, values, checks, from_sql)


FORMAT = AzureQuery()

