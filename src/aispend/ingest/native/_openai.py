"""What OpenAI's Costs and Usage formats share: fields, bucket times, tiers, detection (private)."""

from __future__ import annotations

from .. import sqlparts as s
from . import Probe
from . import _pages as pg
from . import _pagesql as ps

# alias -> (name in a flattened JSON page, name in a dashboard CSV export)
TIME_FIELDS = {
    "start": ("bucket.start_time", "start_time"),
    "end": ("bucket.end_time", "end_time"),
    "start_iso": ("bucket.start_time_iso", "start_time_iso"),
    "end_iso": ("bucket.end_time_iso", "end_time_iso"),
}
# Columns of the dashboard exports that name things (user_email is never read: personal data).
CSV_EXTRAS = ("organization_id", "project_name", "organization_name", "api_source")
TIER = (
    "CASE lower({x}) WHEN 'default' THEN 'standard' WHEN 'auto' THEN 'standard' WHEN 'standard' THEN 'standard' "
    "WHEN 'batch' THEN 'batch' WHEN 'priority' THEN 'priority' WHEN 'flex' THEN 'flex' ELSE lower({x}) END"
)
AI_VALUES = {"provider": "'openai'", "publisher": "'openai'", "service": "'OpenAI API'", "service_category": ps.AI}


def fields(spec: dict[str, tuple[str | None, str | None]], json_mode: bool) -> dict[str, str | None]:
    return {alias: names[0 if json_mode else 1] for alias, names in spec.items()}


def period(checks: ps.Checks, parsed: dict[str, str]) -> dict[str, str]:
    """Parse a bucket's start and end (unix seconds, or the CSV's ISO twins) and check them."""
    parsed["p_start_n"] = ps.epoch_or_iso("r_start")
    parsed["p_start_iso"] = s.timestamp("r_start_iso")
    parsed["p_end_n"] = ps.epoch_or_iso("r_end")
    parsed["p_end_iso"] = s.timestamp("r_end_iso")
    start = "coalesce(p_start_n, p_start_iso)"
    end = f"coalesce(p_end_n, p_end_iso, {start} + INTERVAL 1 DAY)"
    what = "a date/time (unix seconds or ISO 8601)"
    checks.add("start", "r_start IS NULL AND r_start_iso IS NULL", "required value is missing", "''")
    checks.optional("start", "p_start_n", what)
    checks.optional("start_iso", "p_start_iso", what)
    checks.optional("end", "p_end_n", what)
    checks.optional("end_iso", "p_end_iso", what)
    checks.add("end", f"{end} < {start}", "ends before the bucket's start")
    return {"period_start": start, "period_end": end, "billing_period": f"strftime({start}, '%Y-%m')"}


def is_openai_page(probe: Probe, result_object: str) -> bool:
    """A JSON probe of OpenAI report pages whose first result is ``result_object`` (a prefix)."""
    if probe.container != "json":
        return False
    if probe.json_sample is None:  # too large to sample: sniff the first bytes
        return pg.head_has(probe, '"object": "bucket"', f'"object": "{result_object}')
    shape = pg.shape(probe)
    if shape is None or shape.bucket is None or "start_time" not in shape.bucket:
        return False
    if shape.result is None:  # only empty buckets: either kind; nothing will be loaded
        return True
    return str(shape.result.get("object", "")).startswith(result_object)
