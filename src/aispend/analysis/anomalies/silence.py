"""Silent scopes: steady daily spend, then nothing for ``days`` days in a row.

Steady means: over the ``baseline_days`` before the silence, spend on at least ``min_active_share``
of the days and a median day of at least ``min_daily_usd``. So a weekday-only job is steady
enough to notice (5 of 7 days) but its weekend is not a silence (2 days < 3), and a scope that
only dips is never silent. The anomaly starts on the first silent day and keeps that id while
the silence lasts; its impact is the spend that did not happen (negative).

Silence can be good news (a migration finished) or bad (a product or a billing feed broke):
either way someone should know.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import numpy as np

from ...config import AnomalySettings
from .model import Anomaly, money, scope_text, severity, usd
from .series import DailySeries

CENT = Decimal("0.01")


def silent_anomalies(series: list[DailySeries], settings: AnomalySettings, since: date, until: date) -> list[Anomaly]:
    """Silences that begin on a day in [since, until)."""
    cfg = settings.silent
    out = []
    for s in series:
        quiet = [abs(v) < CENT for v in s.exact]
        i = 0
        while i < len(quiet):
            if not quiet[i]:
                i += 1
                continue
            j = i
            while j < len(quiet) and quiet[j]:
                j += 1
            long_enough = j - i >= cfg.days and i >= cfg.baseline_days
            if long_enough and since <= s.day(i) < until and (found := _silence(s, i, j, settings)) is not None:
                out.append(found)
            i = j
    return out


def _silence(s: DailySeries, i: int, j: int, settings: AnomalySettings) -> Anomaly | None:
    cfg = settings.silent
    base = s.values[i - cfg.baseline_days: i]
    median = float(np.median(base))
    if float(np.mean(base >= float(CENT))) < cfg.min_active_share or median < float(cfg.min_daily_usd):
        return None
    expected, days = usd(median), j - i
    spent = sum(s.exact[i:j], Decimal(0))
    impact = spent - expected * days
    still = " (still silent)" if j == len(s.exact) else ""
    start = datetime.combine(s.day(i), time())
    return Anomaly("silent_scope", s.scope, start, datetime.combine(s.day(j), time()), "usd_per_day", expected,
                   spent / days, impact, severity(impact, settings),
                   f"{scope_text(s.scope)} has spent nothing for {days} days from {s.day(i):%a %Y-%m-%d}{still}, "
                   f"after a median {money(expected)}/day over the {cfg.baseline_days} days before: the workload stopped "
                   "or moved, or its billing data stopped arriving")
