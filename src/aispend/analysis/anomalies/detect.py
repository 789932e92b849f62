"""Run every enabled detector over one window of the ledger.

The window is [since, until) in UTC. ``until`` defaults to the day after the ledger's last charge
period (the data's "now", not the clock's: a ledger synced yesterday is judged up to yesterday);
``since`` to ``lookback_days`` before it. Nothing at or after ``until`` is read, so a past window
is judged as it looked then. Each detector reports only anomalies that start inside the window,
which is what lets :func:`~.records.record_anomalies` replace a window's rows on a re-run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from ...config import AnomalySettings
from ...errors import AispendError
from ...store import Store
from .model import SEVERITIES, Anomaly
from .newcomers import new_anomalies
from .series import DailySeries, daily_spend, ledger_extent
from .silence import silent_anomalies
from .spend import FALLBACK_DAYS, spend_anomalies
from .tokens import token_anomalies


class AnomalyError(AispendError):
    pass


@dataclass
class Detection:
    since: datetime
    until: datetime
    anomalies: list[Anomaly] = field(default_factory=list)
    replaced: int = 0  # stored anomalies of this window that the run replaced


def detect_anomalies(store: Store, settings: AnomalySettings, since: datetime | None = None,
                     until: datetime | None = None) -> Detection:
    """Every anomaly starting in the window, most recent first (nothing is stored)."""
    first, last = ledger_extent(store, settings.charge_categories)
    if first is None or last is None:
        raise AnomalyError(f"the ledger has no {' or '.join(settings.charge_categories)} charges to judge: import "
                           "billing files first (`aispend import`), or try `aispend demo`")
    day_after_last = datetime.combine(last.date() + timedelta(days=1), time())
    until_given = until is not None
    until = until or day_after_last
    since = since or until - timedelta(days=settings.lookback_days)
    if since >= until:
        end = "--until" if until_given else "the day after the ledger's last charge"
        raise AnomalyError(f"--since {since:%Y-%m-%d %H:%M} is not before {end} ({until:%Y-%m-%d %H:%M}): "
                           "give an earlier --since")
    cutoff = min(until, day_after_last)
    found: list[Anomaly] = []
    days = (_ceil_day(since), _ceil_day(until))
    if settings.spike.enabled or settings.silent.enabled:
        history = max(7 * settings.spike.baseline_weeks, FALLBACK_DAYS, settings.silent.baseline_days) + 1
        start = datetime.combine(days[0] - timedelta(days=history), time())
        cache: dict[tuple[str, ...], list[DailySeries]] = {}

        def series(scope: list[str]) -> list[DailySeries]:
            if tuple(scope) not in cache:
                cache[tuple(scope)] = daily_spend(store, scope, start, cutoff, settings.charge_categories)
            return cache[tuple(scope)]

        if settings.spike.enabled:
            for scope in settings.spike.scopes:
                found += spend_anomalies(series(scope), settings, *days)
        if settings.silent.enabled:
            for scope in settings.silent.scopes:
                found += silent_anomalies(series(scope), settings, *days)
    if settings.tokens.enabled:
        for scope in settings.tokens.scopes:
            found += token_anomalies(store, settings, scope, since, cutoff)
    if settings.new.enabled:
        found += new_anomalies(store, settings, since, cutoff, first)
    unique = {a.id: a for a in reversed(found)}  # a scope configured twice is found once
    ordered = sorted(_finest(list(unique.values())), key=lambda a: (a.start, SEVERITIES.index(a.severity), abs(a.impact_usd)),
                     reverse=True)
    return Detection(since, until, ordered)


EXPLAINED = Decimal("0.8")  # a finer scope carrying this share of a coarser one's impact explains it


def _finest(anomalies: list[Anomaly]) -> list[Anomaly]:
    """One alert per event: a coarse scope's anomaly (provider) is dropped when a finer one of the
    same kind and period (provider + model) within it carries most of its dollar impact, since the
    finer one names the cause and owners would otherwise hear of it twice."""
    def within(fine: Anomaly, coarse: Anomaly) -> bool:
        f, c = dict(fine.scope), dict(coarse.scope)
        return (fine.kind == coarse.kind and fine.start == coarse.start and len(f) > len(c)
                and all(f.get(k) == v for k, v in c.items()))

    return [a for a in anomalies
            if not any(within(b, a) and abs(b.impact_usd) >= EXPLAINED * abs(a.impact_usd) for b in anomalies)]


def select(anomalies: Iterable[Anomaly], kinds: Iterable[str] | None = None,
           min_severity: str = "info") -> list[Anomaly]:
    """The anomalies of these kinds (all when None) at or above a severity."""
    wanted = set(kinds) if kinds else None
    floor = SEVERITIES.index(min_severity)
    return [a for a in anomalies if (wanted is None or a.kind in wanted) and SEVERITIES.index(a.severity) >= floor]


def _ceil_day(moment: datetime) -> date:
    """The first day starting at or after ``moment``: a day is judged only when it is in the window."""
    return moment.date() if moment.time() == time() else moment.date() + timedelta(days=1)
