"""Tokens-per-request jumps: a prompt template that went from 4k to 40k input tokens per request.

Rows are bucketed by the hour their period starts in, so hourly usage is judged hour by hour
(a jump shows in the first hour it happens) and daily usage day by day. A bucket with at least
``min_requests`` requests is compared, for input and for output tokens per request, with the
judged buckets of the ``baseline_days`` before it (at least ``min_points`` of them): it jumps when
it is ``min_ratio`` x their median and ``z`` spreads above it (spread as for spend spikes).

Consecutive jumping buckets of a scope are one anomaly (one alert for one incident), starting at
the first. Its impact is the cost of its requests above the baseline's median cost per request,
and it must reach ``min_impact_usd``. The cost of usage rows whose money comes from a bill is
their estimate (``superseded_usd`` of the counted ledger): the tokens are theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import ibis
import numpy as np

from ...config import AnomalySettings
from ...store import Store
from ..report import counted_ledger
from .model import Anomaly, Scope, money, scope_text, severity, usd
from .series import robust

METRICS = {"input": "input_tokens_per_request", "output": "output_tokens_per_request"}
REL_FLOOR = 0.1
_TPR_PLACES = Decimal("0.01")


@dataclass
class _Buckets:
    scope: Scope
    start: list[datetime]
    end: list[datetime]
    requests: np.ndarray
    tokens: dict[str, np.ndarray]  # per metric: the bucket's total tokens
    cost: list[Decimal]

    def __post_init__(self) -> None:
        self.per_request = {m: t / self.requests for m, t in self.tokens.items()}
        self.cost_per_request = np.array([float(c) for c in self.cost]) / self.requests


@dataclass
class _Jump:
    metric: str
    expected: float  # the baseline's median tokens per request
    excess: Decimal  # cost above the baseline's cost per request


def token_anomalies(store: Store, settings: AnomalySettings, dims: list[str], since: datetime,
                    until: datetime) -> list[Anomaly]:
    """Jumps that begin in [since, until); data after ``until`` is not read."""
    cfg = settings.tokens
    out = []
    for b in _buckets(store, dims, since - timedelta(days=cfg.baseline_days + 1), until):
        for run in _runs(b, settings, since - timedelta(days=1)):
            first = run[0][0]
            if since <= b.start[first] and (found := _anomaly(b, run, settings)) is not None:
                out.append(found)
    return out


def _buckets(store: Store, dims: list[str], start: datetime, end: datetime) -> list[_Buckets]:
    t = counted_ledger(store)
    t = t.filter(t.period_start >= start, t.period_start < end, t.requests > 0, t.input_tokens.notnull(),
                 *[t[d].notnull() for d in dims])
    cost = ibis.coalesce(t.superseded_usd, t.cost_usd)  # a superseded estimate still prices its own tokens
    expr = t.group_by([t.period_start.truncate("h").name("bucket"), *dims]).aggregate(
        bucket_end=t.period_end.max(), requests=t.requests.sum(), input=t.input_tokens.sum(),
        output=t.output_tokens.sum(), cost=cost.sum())
    grouped: dict[Scope, list[dict]] = {}
    for row in expr.order_by("bucket").to_pyarrow().to_pylist():
        grouped.setdefault(tuple((d, str(row[d])) for d in dims), []).append(row)
    out = []
    for scope, rows in sorted(grouped.items()):
        out.append(_Buckets(
            scope, [r["bucket"] for r in rows], [r["bucket_end"] or r["bucket"] + timedelta(hours=1) for r in rows],
            np.array([r["requests"] for r in rows], dtype=float),
            {m: np.array([r[m] or 0 for r in rows], dtype=float) for m in METRICS},
            [r["cost"] or Decimal(0) for r in rows]))
    return out


def _runs(b: _Buckets, settings: AnomalySettings, judge_from: datetime) -> list[list[tuple[int, _Jump]]]:
    """Runs of consecutive jumping buckets; a bucket too small to judge neither joins nor breaks one."""
    cfg = settings.tokens
    busy = b.requests >= cfg.min_requests
    times = np.array(b.start, dtype="datetime64[us]")
    window = np.timedelta64(cfg.baseline_days, "D")
    runs: list[list[tuple[int, _Jump]]] = []
    current: list[tuple[int, _Jump]] = []
    for j in range(len(b.start)):
        if b.start[j] < judge_from or not busy[j]:
            continue
        lo = int(np.searchsorted(times, times[j] - window))
        base = lo + np.flatnonzero(busy[lo:j])
        jump = _jump(b, j, base, settings) if len(base) >= cfg.min_points else None
        if jump is not None:
            current.append((j, jump))
        elif current:
            runs.append(current)
            current = []
    return runs + ([current] if current else [])


def _jump(b: _Buckets, j: int, base: np.ndarray, settings: AnomalySettings) -> _Jump | None:
    cfg = settings.tokens
    best: tuple[float, str, float] | None = None
    for metric, per_request in b.per_request.items():
        expected, spread = robust(per_request[base])
        actual = per_request[j]
        if expected <= 0 or actual < float(cfg.min_ratio) * expected:
            continue
        if actual - expected >= cfg.z * max(spread, REL_FLOOR * expected) and (best is None or actual / expected > best[0]):
            best = (actual / expected, metric, expected)
    if best is None:
        return None
    usual = float(np.median(b.cost_per_request[base]))
    return _Jump(best[1], best[2], b.cost[j] - usd(usual * b.requests[j]))


def _anomaly(b: _Buckets, run: list[tuple[int, _Jump]], settings: AnomalySettings) -> Anomaly | None:
    first, jump = run[0]
    last = run[-1][0]
    impact = sum((step.excess for _, step in run), Decimal(0))
    if impact < settings.tokens.min_impact_usd:
        return None
    idx = [i for i, _ in run]
    requests = int(b.requests[idx].sum())
    actual = (Decimal(int(b.tokens[jump.metric][idx].sum())) / requests).quantize(_TPR_PLACES)
    expected = Decimal(repr(jump.expected)).quantize(_TPR_PLACES)
    start, end = b.start[first], b.end[last]
    hours = int((end - start).total_seconds() // 3600)
    span = f"{hours // 24} day(s)" if hours % 24 == 0 else f"{hours} h"
    at = f"{start:%Y-%m-%d %H:%M}" if hours % 24 else f"{start:%Y-%m-%d}"
    ratio = float(actual / expected) if expected else float("inf")
    return Anomaly("tokens_per_request", b.scope, start, end, METRICS[jump.metric], expected, actual, impact,
                   severity(impact, settings),
                   f"{jump.metric} tokens per request of {scope_text(b.scope)} rose to {actual:,.0f} from "
                   f"{expected:,.0f} ({ratio:.1f}x) for {span} from {at} ({requests:,} requests); "
                   f"{money(impact)} above the usual cost per request")
