"""What Anthropic's cost and usage formats share: bucket and CSV times, tiers, detection (private)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import sqlparts as s
from . import Probe
from . import _pages as pg
from . import _pagesql as ps

TIME_FIELDS = {"start": ("bucket.starting_at", "usage_date_utc"), "end": ("bucket.ending_at", None)}
# The usage report's tiers, folded onto the ledger's four (the raw value stays in the tags).
TIER = (
    "CASE lower({x}) WHEN 'standard' THEN 'standard' WHEN 'batch' THEN 'batch' WHEN 'priority' THEN 'priority' "
    "WHEN 'priority_on_demand' THEN 'priority' WHEN 'flex' THEN 'flex' WHEN 'flex_discount' THEN 'flex' END"
)
# The raw tier, kept as a tag only when folding changed it (priority_on_demand, flex_discount).
RAW_TIER = f"CASE WHEN r_service_tier IS DISTINCT FROM ({TIER.format(x='r_service_tier')}) THEN r_service_tier END"
AI_VALUES = {"provider": "'anthropic'", "publisher": "'anthropic'", "service": "'Claude API'",
             "service_category": ps.AI}
_CSV_TIMES = "['%Y-%m-%d %H:%M', '%Y-%m-%d', '%Y-%m-%d %H:%M:%S']"


def fields(spec: dict[str, tuple[str | None, str | None]], json_mode: bool) -> dict[str, str | None]:
    return {alias: names[0 if json_mode else 1] for alias, names in spec.items()}


def period(checks: ps.Checks, parsed: dict[str, str], json_mode: bool) -> dict[str, str]:
    """RFC 3339 bucket bounds, or the console CSV's ``usage_date_utc`` (a day, or an hour)."""
    if json_mode:
        parsed["p_start"] = s.timestamp("r_start")
        parsed["p_end_raw"] = s.timestamp("r_end")
        end = "coalesce(p_end_raw, p_start + INTERVAL 1 DAY)"
        what = "an RFC 3339 date/time"
        checks.optional("end", "p_end_raw", what)
    else:
        parsed["p_start"] = f"coalesce(try_strptime(r_start, {_CSV_TIMES}), {s.timestamp('r_start')})"
        # Hourly exports write "YYYY-MM-DD HH:MM"; daily ones a bare date.
        end = "p_start + CASE WHEN length(r_start) > 10 THEN INTERVAL 1 HOUR ELSE INTERVAL 1 DAY END"
        what = "a date (YYYY-MM-DD or YYYY-MM-DD HH:MM)"
    checks.required("start", "p_start", what)
    checks.add("end", f"{end} < p_start", "ends before the bucket's start")
    return {"period_start": "p_start", "period_end": end, "billing_period": "strftime(p_start, '%Y-%m')"}


def is_anthropic_page(probe: Probe, is_result: Callable[[dict[str, Any]], bool], *needles: str) -> bool:
    """A JSON probe of Anthropic report pages whose first result passes ``is_result``."""
    if probe.container != "json":
        return False
    if probe.json_sample is None:  # too large to sample: sniff the first bytes
        return pg.head_has(probe, '"starting_at"', *needles)
    shape = pg.shape(probe)
    if shape is None or shape.bucket is None or "starting_at" not in shape.bucket:
        return False
    return shape.result is None or is_result(shape.result)
