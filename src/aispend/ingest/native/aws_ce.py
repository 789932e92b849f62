"""AWS Cost Explorer ``GetCostAndUsage`` responses -> billed ledger rows (format ``aws-ce``).

A saved file holds one response or a JSON array of them (the ``aws`` connector lands its pages
this way), e.g. ``aws ce get-cost-and-usage ... > ce.json``. Wire format: vendors.md §3.1:
``{GroupDefinitions, ResultsByTime: [{TimePeriod{Start, End}, Groups: [{Keys, Metrics}], Total,
Estimated}], NextPageToken}``. One ledger row per group (or per period's ``Total`` when the query
had no GroupBy).

* **Money**: ``Metrics.UnblendedCost.Amount``, a decimal STRING, read exactly (never a float);
  ``Unit`` is the currency. Other cost metrics are not used (blended and amortized costs are
  different money); a response without ``UnblendedCost`` is refused with its position.
* **Keys** are read by ``GroupDefinitions``: ``SERVICE`` -> service, ``USAGE_TYPE`` -> sku,
  ``LINKED_ACCOUNT`` -> account_id, ``REGION`` -> region, ``RECORD_TYPE`` -> charge category; a
  ``TAG`` key ``Environment$Dev`` -> tags ``{"Environment": "Dev"}`` (``Environment$`` = untagged);
  other dimensions and cost categories go to tags too.
* **Bedrock**: service ``Amazon Bedrock`` and the Marketplace services
  ``<Model> (Amazon Bedrock Edition)``. The model comes from the usage type
  (``USE1-Claude4.6Sonnet-input-tokens``) or else the Marketplace service name, through the CUR
  format's lookup (``aws_cur.model_table``/``_key_sql``/``_claude_sql``), so CE and CUR rows of one
  bill name the same models. The token type comes from the usage type's letters (input, output,
  cache read, cache write). ``UsageQuantity`` of first-party token usage types is in **thousands of
  tokens** (vendors.md §3.1: ``140.45`` input of Claude 4.6 Sonnet costs ``0.42135`` = 140,450
  tokens at $3/M); a ``Unit`` naming a token unit wins. Marketplace ``...-Units`` quantities have
  no documented token scale, so their token columns stay NULL (as in ``aws-cur``); quantity and
  money are kept.
* **Estimated** periods (``Estimated: true``) are billed money that AWS may still restate: the
  rows carry the tag ``estimated = "true"`` and a later sync of the window replaces them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from .. import sqlparts as s
from . import Context, Probe
from . import _pages as pg
from . import _pagesql as ps
from .aws_cur import (
    _PUBLISHER_PREFIXES,
    AI,
    CHARGE_CATEGORIES,
    _claude_sql,
    _key_sql,
    model_table,
    region_sql,
    token_scale_whens,
)

COST, QTY = "UnblendedCost", "UsageQuantity"
# alias -> flattened column (``bucket.`` = a ResultsByTime entry's field, reported at its path)
FIELDS: dict[str, str | None] = {
    "start": "bucket.TimePeriod.Start",
    "end": "bucket.TimePeriod.End",
    "estimated": "bucket.Estimated",
    "service": "key.SERVICE",
    "usage_type": "key.USAGE_TYPE",
    "account": "key.LINKED_ACCOUNT",
    "region": "key.REGION",
    "record_type": "key.RECORD_TYPE",
    "key_tags": "key.tags",
    "cost": f"Metrics.{COST}.Amount",
    "currency": f"Metrics.{COST}.Unit",
    "qty": f"Metrics.{QTY}.Amount",
    "qty_unit": f"Metrics.{QTY}.Unit",
}
_MAPPED_DIMENSIONS = ("SERVICE", "USAGE_TYPE", "LINKED_ACCOUNT", "REGION", "RECORD_TYPE")
_FIRST_PARTY_TOKENS = ("input-tokens|output-tokens|cache-read-input-token-count|cache-write-input-token-count"
                       "|cache-read-input-tokens|cache-write-input-tokens")
_USAGE_RECORDS = ("Usage", "DiscountedUsage", "SavingsPlanCoveredUsage")


# -- reading: one Arrow row of strings per group -----------------------------------------------------


def _keys(definitions: Any, keys: Any) -> dict[str, str | None]:
    """A group's ``Keys`` read by the response's ``GroupDefinitions``."""
    out: dict[str, str | None] = {}
    tags: dict[str, str] = {}
    defs = definitions if isinstance(definitions, list) else []
    for i, key in enumerate(keys if isinstance(keys, list) else []):
        d = defs[i] if i < len(defs) and isinstance(defs[i], dict) else {}
        kind, name, value = d.get("Type"), str(d.get("Key") or f"key{i + 1}"), str(key)
        if kind == "DIMENSION" and name in _MAPPED_DIMENSIONS:
            out[f"key.{name}"] = value or None
        elif kind in ("TAG", "COST_CATEGORY") or "$" in value:
            tag, _, tag_value = value.partition("$")  # "Environment$Dev"; "Environment$" is untagged
            if tag_value:
                tags[tag or name] = tag_value
        elif value:
            tags[name.lower()] = value
    out["key.tags"] = json.dumps(tags, sort_keys=True) if tags else None
    return out


def _metrics(metrics: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for metric in (COST, QTY):
        value = metrics.get(metric) if isinstance(metrics, dict) else None
        if isinstance(value, dict):
            out[f"Metrics.{metric}.Amount"] = value.get("Amount")
            out[f"Metrics.{metric}.Unit"] = value.get("Unit")
    return out


def _rows(path_: str, prefix: str, doc: Any) -> Iterator[tuple[str, str, dict[str, Any], str | None]]:
    """(position, period position, fields, problem) for each group of one response."""
    where = prefix + path_ if path_ else (prefix.removesuffix(": ") or ".")
    if isinstance(doc, pg._Broken):
        yield where, where, {}, doc.problem
        return
    if not isinstance(doc, dict):
        yield where, where, {}, "not a GetCostAndUsage response object"
        return
    if "__type" in doc or ("message" in doc and "ResultsByTime" not in doc):
        yield where, where, {}, f"an error response, not a page: {doc.get('__type', '')} {doc.get('message', '')}"
        return
    results = doc.get("ResultsByTime")
    if not isinstance(results, list):
        yield where, where, {}, "not a GetCostAndUsage response: no `ResultsByTime` list"
        return
    definitions = doc.get("GroupDefinitions")
    for t, period in enumerate(results):
        bpos = f"{prefix}{path_}.ResultsByTime[{t}]"
        if not isinstance(period, dict):
            yield bpos, bpos, {}, "not a ResultsByTime object"
            continue
        time = period.get("TimePeriod") if isinstance(period.get("TimePeriod"), dict) else {}
        head = {"bucket.TimePeriod.Start": time.get("Start"), "bucket.TimePeriod.End": time.get("End"),
                "bucket.Estimated": period.get("Estimated")}
        groups = period.get("Groups")
        if groups is not None and not isinstance(groups, list):
            yield bpos, bpos, head, "`Groups` is not a list"
            continue
        if not groups:  # no GroupBy: the period's Total is the row (grouped: {} when nothing was spent)
            total = period.get("Total")
            if isinstance(total, dict) and total:
                fields = {**head, **_metrics(total)}
                problem = None if f"Metrics.{COST}.Amount" in fields else _NO_COST
                yield f"{bpos}.Total", bpos, fields, problem
            continue
        for g, group in enumerate(groups):
            pos = f"{bpos}.Groups[{g}]"
            if not isinstance(group, dict):
                yield pos, bpos, {}, "not a group object"
                continue
            fields = {**head, **_keys(definitions, group.get("Keys")), **_metrics(group.get("Metrics"))}
            problem = None if f"Metrics.{COST}.Amount" in fields else _NO_COST
            yield pos, bpos, fields, problem


_NO_COST = (f"no {COST} metric: save the response of a query with Metrics {COST} and {QTY} "
            "(aws ce get-cost-and-usage --metrics UnblendedCost UsageQuantity ...)")


def flatten(probe: Probe) -> pa.Table:
    columns = tuple(n for n in FIELDS.values() if n)
    names = (pg.POS, pg.BPOS, pg.PROBLEM, *columns)
    cols: dict[str, list[str | None]] = {n: [] for n in names}
    for prefix, path_, doc in pg.documents(probe.path):
        for pos, bpos, fields, problem in _rows(path_, prefix, doc):
            cols[pg.POS].append(pos)
            cols[pg.BPOS].append(bpos)
            cols[pg.PROBLEM].append(problem)
            for n in columns:
                cols[n].append(pg._text_of(fields.get(n)))
    return pa.table({n: pa.array(v, pa.string()) for n, v in cols.items()})


def _is_ce(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("ResultsByTime"), list)


# -- the SELECT ----------------------------------------------------------------------------------------


class AwsCostExplorer(ps.PageFormat):
    name = "aws-ce"
    raw_table = "aws_ce_raw"
    priority = 44
    # A response for a set of days holds all of that query's costs on those days: a newer import of
    # the same source that covers every day of an older one replaces it.
    restates_by = "period_start"

    def matches(self, probe: Probe) -> bool:
        if probe.container != "json":
            return False
        sample = probe.json_sample
        if sample is None:  # too large to sample: sniff the first bytes
            return pg.head_has(probe, '"ResultsByTime"')
        docs = sample if isinstance(sample, list) else [sample]
        return bool(docs) and all(_is_ce(d) or (isinstance(d, dict) and "__type" in d) for d in docs) \
            and any(_is_ce(d) for d in docs)

    def tables(self, probe: Probe) -> dict[str, pa.Table]:
        """Not the report-page shape (data/results): flattened here, one row per group."""
        return {self.raw_table: flatten(probe)}

    def normalize_sql(self, probe: Probe, ctx: Context) -> str:
        raw = ps.json_raw(FIELDS)
        checks = ps.Checks(True, FIELDS)
        ut, svc = "r_usage_type", "r_service"
        edition = f"coalesce({svc} ILIKE '%(Amazon Bedrock Edition)%', false)"
        bedrock = f"coalesce({svc} ILIKE '%bedrock%', false)"
        letters = f"lower(regexp_replace(coalesce({ut}, ''), '[^A-Za-z]', '', 'g'))"
        usage_record = f"coalesce(r_record_type IN ({', '.join(s.lit(t) for t in _USAGE_RECORDS)}), true)"
        kind = (f"CASE WHEN {bedrock} AND {usage_record} THEN CASE "
                f"WHEN {letters} LIKE '%cacheread%' THEN 'cache_read' "
                f"WHEN {letters} LIKE '%cachewrite%' THEN 'cache_write' "
                f"WHEN {letters} LIKE '%inputtoken%' THEN 'input' "
                f"WHEN {letters} LIKE '%outputtoken%' OR {letters} LIKE '%responsetoken%' THEN 'output' END END")
        segment_ut = (f"CASE WHEN {ut} NOT LIKE '%MP:%' THEN nullif(regexp_extract({ut}, "
                      f"'^(?:[A-Z]{{2,4}}[0-9]?-)?(.+?)-(?i:mantle-)?(?i:{_FIRST_PARTY_TOKENS})', 1), '') END")
        segment_pn = f"CASE WHEN {edition} THEN trim(regexp_replace({svc}, '\\(.*?\\)', '', 'g')) END"
        unit = "lower(trim(r_qty_unit))"
        scale = (f"CASE {token_scale_whens(unit)} "
                 f"WHEN {ut} NOT LIKE '%MP:%' AND regexp_matches({ut}, '(?i:{_FIRST_PARTY_TOKENS})$') THEN 1000 END")

        parsed = {
            "p_start": s.timestamp("r_start"),
            "p_end_raw": s.timestamp("r_end"),
            "p_cost": s.decimal("r_cost"),
            "p_qty": s.decimal("r_qty"),
            "p_edition": edition,
            "p_bedrock": bedrock,
            "p_kind": kind,
            "p_segment": f"CASE WHEN {bedrock} THEN coalesce({segment_ut}, {segment_pn}) END",
            "p_scale": scale,
            "p_estimated": "coalesce(lower(r_estimated) = 'true', false)",
            "p_tags": "try_cast(r_key_tags AS JSON)",
        }
        # One more layer: the lookup key of the model segment (parsed above).
        table = model_table()
        key = f"({_key_sql('p_segment')})"
        known_id = ("CASE " + key + " " + " ".join(f"WHEN {s.lit(k)} THEN {s.lit(m)}"
                                                  for k, (_, m) in sorted(table.items())) + " END")
        known_pub = ("CASE " + key + " " + " ".join(f"WHEN {s.lit(k)} THEN {s.lit(p)}"
                                                   for k, (p, _) in sorted(table.items())) + " END")
        by_prefix = " ".join(f"WHEN {key} LIKE {s.lit(p + '%')} THEN {s.lit(v)}" for p, v in _PUBLISHER_PREFIXES)
        model_id = f"coalesce({known_id}, {_claude_sql(key)})"
        is_global = f"coalesce(lower({ut}) LIKE '%global%', false)"
        model_raw = (f"CASE WHEN p_segment IS NOT NULL THEN coalesce(CASE WHEN {is_global} THEN 'global.' || "
                     f"({model_id}) ELSE {model_id} END, p_segment) END")
        publisher = (f"coalesce(CASE WHEN p_segment IS NOT NULL THEN coalesce({known_pub}, CASE {by_prefix} END, "
                     f"nullif(regexp_extract(lower(p_segment), '^([a-z0-9-]+)\\.[a-z]', 1), '')) END, "
                     f"CASE WHEN NOT p_edition AND {svc} IS NOT NULL THEN 'aws' END)")
        charge_case = " ".join(f"WHEN r_record_type IN ({', '.join(s.lit(t) for t in types)}) THEN {s.lit(cat)}"
                               for cat, types in CHARGE_CATEGORIES.items())
        tokens = "CAST(round(p_qty * p_scale) AS BIGINT)"
        estimated = "CASE WHEN p_estimated THEN json_object('estimated', 'true') END"
        tags = (f"CASE WHEN p_tags IS NOT NULL OR p_estimated THEN "
                f"json_merge_patch(coalesce(p_tags, '{{}}'::JSON), coalesce({estimated}, '{{}}'::JSON)) END")
        end = "coalesce(p_end_raw, p_start + INTERVAL 1 DAY)"

        values = {
            **ps.lineage(ctx, self.name),
            "period_start": "p_start",
            "period_end": end,
            "billing_period": "strftime(p_start, '%Y-%m')",
            "provider": "'aws'",
            "publisher": publisher,
            "service": svc,
            "service_category": f"CASE WHEN p_bedrock THEN {s.lit(AI)} ELSE 'Other' END",
            "model_raw": model_raw,  # the pricer sets model to the book's id (else model_raw)
            "sku": ut,
            "region": f"coalesce(r_region, {region_sql(ut)})",
            "service_tier": (f"CASE WHEN p_kind IS NOT NULL THEN CASE WHEN lower({ut}) LIKE '%batch%' THEN 'batch' "
                             f"WHEN lower({ut}) LIKE '%flex%' THEN 'flex' "
                             f"WHEN lower({ut}) LIKE '%priority%' THEN 'priority' ELSE 'standard' END END"),
            "charge_category": (f"CASE WHEN r_record_type IS NOT NULL THEN CASE {charge_case} ELSE 'adjustment' END "
                                "WHEN p_cost < 0 THEN 'credit' ELSE 'usage' END"),
            "description": f"nullif(concat_ws(' / ', {svc}, {ut}), '')",
            # Cache reads and writes are input too (ledger semantics): counted in input_tokens and
            # in their own column, as the CUR format does.
            "input_tokens": f"CASE WHEN p_kind IN ('input', 'cache_read', 'cache_write') THEN {tokens} END",
            "output_tokens": f"CASE WHEN p_kind = 'output' THEN {tokens} END",
            "cache_read_tokens": f"CASE WHEN p_kind = 'cache_read' THEN {tokens} END",
            "cache_write_tokens": f"CASE WHEN p_kind = 'cache_write' THEN {tokens} END",
            "quantity": "p_qty",
            "unit": ("CASE WHEN p_kind IS NOT NULL AND p_scale = 1000 AND lower(coalesce(r_qty_unit, 'N/A')) = 'n/a' "
                     "THEN '1K tokens' ELSE nullif(r_qty_unit, 'N/A') END"),
            "billed_cost": "p_cost",
            "billing_currency": "upper(r_currency)",
            "cost_source": "'billed'",
            "account_id": "r_account",
            "tags": tags,
        }
        checks.required("start", "p_start", "a date (YYYY-MM-DD) or date/time")
        checks.optional("end", "p_end_raw", "a date (YYYY-MM-DD) or date/time")
        checks.add("end", f"{end} <= p_start", "ends before the period's start")
        checks.required("cost", "p_cost", "a decimal string")
        checks.required("currency", "r_currency", "a currency")
        checks.optional("qty", "p_qty", "a decimal string")
        return s.ledger_select(raw, parsed, values, checks.items, self.raw_table)


FORMAT = AwsCostExplorer()
