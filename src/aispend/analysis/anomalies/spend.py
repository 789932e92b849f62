"""Spend spikes: a day far above what this scope spends on such a day, and the "N x yesterday" rule.

The baseline of a day is the same weekday of the trailing ``baseline_weeks`` weeks (a Monday
against past Mondays, so a quiet weekend never makes Monday look like a spike), each projected to
today by the scope's weekly growth (:func:`growth_per_week`), so a steady ramp is expected rather
than alarming. With fewer than ``min_weeks`` such days it falls back to the last 14 days, and with
fewer than 7 of those it says nothing. A day alerts only when all three hold:

* ``log(actual / expected)`` is at least ``z`` times the scope's daily noise. The noise is the
  MAD of the log ratios of each trailing day to the same weekday a week before
  (:func:`weekly_noise`): ~20 ratios, so a noisy scope needs a bigger jump than a calm one. It is
  floored at 12% (a very regular scope still needs ~1.6x) and widened by the standard error of
  a median of a few days. Measured: with the spread of the 4 same-weekday days instead, 15%
  daily noise gave precision 0.93 instead of 0.99 (docs/anomalies.md);
* actual is at least ``min_ratio`` x expected;
* actual exceeds expected by ``min_impact_usd`` (cents never alert).

Only rises alert: a dip is a saving, and a scope that stops is the silence detector's.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import numpy as np

from ...config import AnomalySettings
from .model import Anomaly, money, scope_text, severity, usd
from .series import DailySeries, growth_per_week, robust, weekly_noise

NOISE_FLOOR = 0.12  # log-noise of at least 12% a day: a very regular scope needs ~1.6x to alert
FALLBACK_DAYS, FALLBACK_MIN = 14, 7


def spend_anomalies(series: list[DailySeries], settings: AnomalySettings, since: date, until: date) -> list[Anomaly]:
    """Spikes (and, when enabled, the yesterday rule) on the days in [since, until)."""
    cfg = settings.spike
    out: list[Anomaly] = []
    for s in series:
        for i in range(max(0, s.index(since)), min(len(s.exact), s.index(until))):
            if (spike := _spike(s, i, settings)) is not None:
                out.append(spike)
            if cfg.yesterday and (jump := _yesterday(s, i, settings)) is not None:
                out.append(jump)
    return out


def _spike(s: DailySeries, i: int, settings: AnomalySettings) -> Anomaly | None:
    cfg = settings.spike
    weeks = [k for k in range(1, cfg.baseline_weeks + 1) if i - 7 * k >= 0]
    noise = None
    if len(weeks) >= cfg.min_weeks:
        growth = growth_per_week(s.values, i, cfg.baseline_weeks)
        base = [s.values[i - 7 * k] * np.exp(growth * k) for k in weeks]
        noise = weekly_noise(s.values, i, 7 * cfg.baseline_weeks)
        trend = f", trend {np.expm1(growth):+.0%}/week" if growth >= 0.005 else ""
        how = f"the last {len(weeks)} {s.day(i):%A}s{trend}"
    else:
        base = list(s.values[max(0, i - FALLBACK_DAYS): i])
        if len(base) < FALLBACK_MIN:
            return None
        how = f"the last {len(base)} days (too few {s.day(i):%A}s yet)"
    expected, spread = robust(base)
    actual = s.exact[i]
    if float(actual) < float(cfg.min_ratio) * expected or actual - usd(expected) < cfg.min_impact_usd:
        return None
    if expected > 0:  # else it spent on a day it never spends on: unusual at any size past min_impact_usd
        if noise is None:
            noise = spread / expected
        # The median of a few days is itself noisy: widen by its standard error (pi/2n for a median).
        sigma = max(noise, NOISE_FLOOR) * math.sqrt(1 + math.pi / (2 * len(base)))
        if math.log(float(actual) / expected) < cfg.z * sigma:
            return None
    ratio = f"{float(actual) / expected:.1f}x" if expected > 0 else "against nothing"
    return _anomaly("spend_spike", s, i, usd(expected), settings,
                    f"{scope_text(s.scope)} spent {money(actual)} on {s.day(i):%a %Y-%m-%d}, {ratio} the "
                    f"{money(usd(expected))} expected from {how}")


def _yesterday(s: DailySeries, i: int, settings: AnomalySettings) -> Anomaly | None:
    cfg = settings.spike
    if i < 1 or s.exact[i - 1] <= 0:
        return None  # nothing yesterday: a weekday-only job's Monday is not a jump
    before, actual = s.exact[i - 1], s.exact[i]
    if actual <= cfg.yesterday_multiplier * before or actual - before < cfg.min_impact_usd:
        return None
    return _anomaly("spend_vs_yesterday", s, i, before, settings,
                    f"{scope_text(s.scope)} spent {money(actual)} on {s.day(i):%a %Y-%m-%d}, "
                    f"{actual / before:.1f}x the {money(before)} of the day before (rule: > {cfg.yesterday_multiplier}x)")


def _anomaly(kind: str, s: DailySeries, i: int, expected: Decimal, settings: AnomalySettings,
             explanation: str) -> Anomaly:
    start = datetime.combine(s.day(i), time())
    impact = s.exact[i] - expected
    return Anomaly(kind, s.scope, start, start + timedelta(days=1), "usd_per_day", expected, s.exact[i], impact,
                   severity(impact, settings), explanation)
