"""BigQuery query-result pages of the billing export (``aispend sync`` of a ``gcp`` source).

The ``gcp`` connector asks BigQuery for one STRING column per export row, ``TO_JSON_STRING`` of
the fields the ``gcp`` format reads, so a page (``jobs.query`` or ``jobs.getQueryResults``
response: ``{kind, schema, jobReference, jobComplete, rows: [{f: [{v: "<row JSON>"}]}],
pageToken}``) carries the rows exactly as the JSON-lines export does: nested records, labels as
``[{key, value}]``, FLOAT64 costs as their shortest round-trip decimal text. This format unwraps
those cells and hands them to the ``gcp`` mapping, so a synced row and an imported one are one
normalization. A failing value is named by its jq path in the pages
(``.[1].rows[7].f[0].v.cost``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pyarrow as pa

from . import Context, NativeFormat, Probe
from ._pages import POS, PROBLEM, documents
from .gcp import billing_rows_sql, json_fields

KINDS = ("bigquery#queryResponse", "bigquery#getQueryResultsResponse")
RAW_TABLE = "gcp_bigquery_rows"


def _rows_of(prefix: str, path: str, page: Any) -> list[tuple[str, str | None, str | None]]:
    """(position, row JSON, problem) for each row of one page; an unusable page is one problem."""
    where = f"{prefix}{path}"
    if not isinstance(page, dict):
        return [(where, None, "not a BigQuery query response")]
    if isinstance(page.get("error"), dict):
        return [(where, None, f"an error response, not a page: {page['error'].get('message')}")]
    if page.get("kind") not in KINDS and "jobReference" not in page:
        return [(where, None, "not a BigQuery query response (no kind or jobReference)")]
    rows = page.get("rows") or []
    if not isinstance(rows, list):
        return [(where, None, "`rows` is not a list")]
    out = []
    for r, row in enumerate(rows):
        pos = f"{where}.rows[{r}].f[0].v"
        cells = row.get("f") if isinstance(row, dict) else None
        cell = cells[0] if isinstance(cells, list) and cells else None
        value = cell.get("v") if isinstance(cell, dict) else None
        if not isinstance(value, str):
            out.append((pos, None, "not a row of one STRING cell (the query must select TO_JSON_STRING(...))"))
            continue
        try:
            obj = json.loads(value, parse_float=Decimal)
        except ValueError as exc:
            out.append((pos, None, f"the cell is not JSON ({exc})"))
            continue
        if not isinstance(obj, dict):
            out.append((pos, None, "the cell is not a JSON object"))
            continue
        out.append((pos, value, None))
    return out


class GcpBigQueryFormat(NativeFormat):
    name = "gcp-bigquery"
    priority = 55  # before gcp: a saved query response is not an export row

    def matches(self, probe: Probe) -> bool:
        sample = probe.json_sample
        pages = sample if isinstance(sample, list) else [sample]
        return probe.container == "json" and bool(pages) and all(
            isinstance(p, dict) and p.get("kind") in KINDS for p in pages)

    def tables(self, probe: Probe) -> dict[str, pa.Table]:
        positions, bodies, problems = [], [], []
        for prefix, path, page in documents(probe.path):
            for pos, body, problem in _rows_of(prefix, path, page):
                positions.append(pos)
                bodies.append(body)
                problems.append(problem)
        return {RAW_TABLE: pa.table({POS: pa.array(positions, pa.string()), "json": pa.array(bodies, pa.string()),
                                     PROBLEM: pa.array(problems, pa.string())})}

    def normalize_sql(self, probe: Probe, ctx: Context) -> str:
        return billing_rows_sql(json_fields("json"), RAW_TABLE, ctx, positions={"r_pos": POS, "r_problem": PROBLEM})


FORMAT = GcpBigQueryFormat()
