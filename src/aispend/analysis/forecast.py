"""Month-end (and quarter-end) spend forecast per scope, with an interval.

``forecast = actual so far + the run rate over the days left``. The actual is exact ledger money;
only the days left are estimated, from each scope's daily spend over the last eight weeks:

1. **weekday factors** (two full weeks of history on): each weekday's spend relative to its week's
   mean, averaged over the complete weeks with each weekday's highest and lowest week dropped;
2. **trend** (four weeks on): the median week-over-week change of the weekday-adjusted weekly
   means, damped by half. A median of changes ignores one level shift (a model migration) and one
   spike week, which a fitted line would read as a trend; the damping because a slope seen over
   eight weeks tends to fade;
3. **level**: the weekday-adjusted spend of the last seven days, brought to the last day along the
   slope, winsorised (highest and lowest day replaced by their neighbours), so a spike day is not
   the rate;
4. **interval** (80% by default): a Student-t interval on the sum of the days left, whose variance
   adds the daily noise (residuals around the fit, spikes left out), the level's and the slope's
   estimation error (the slope's also spans "the trend goes on" to "it stops") and the level's
   week-to-week wander. Before two full weeks of history the weekday pattern is unknown and the
   daily noise is taken as at least 40% of the level. Short or noisy history widens it; it has
   zero width once nothing is left to estimate.

Spend is read through :func:`counted_ledger` and dated by charge period start, like ``aispend
report --month``. Rows spanning more than a day (a monthly plan fee, a credit) count in the actual
but are never extrapolated. A day is observed when it is before ``as_of`` and no later than the
last day the (filtered) ledger has daily rows for, so a source that lags a day or two has its
missing days estimated rather than counted as zero. A scope with no daily spend in the period so
far (nor in the last seven days) forecasts its actual. With ``by``, the scopes' estimated parts
are scaled to the total's, so the scopes add up to the total to the cent (see :func:`forecast`).
The method's assumptions and its backtest on the demo data: ``docs/forecast.md``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from statistics import NormalDist
from typing import Any

import ibis
import numpy as np

from ..errors import AispendError
from ..store import Store
from .report import check_dimensions, counted_ledger

HISTORY_DAYS = 56  # eight weeks of daily spend feed the model
LEVEL_DAYS = 7
MIN_WEEKDAY_DAYS = 14  # two complete weeks before weekday factors mean anything
MIN_TREND_DAYS = 28
TREND_DAMPING = 0.5  # the share of the fitted slope carried forward
PRIOR_CV = 0.4  # day-to-day swing assumed until two full weeks show the weekday pattern
INTERVAL = 0.80
SLOPE = "weekly"
PERIODS = ("month", "quarter")
_CENT = Decimal("0.01")
_DAY = timedelta(days=1)


class ForecastError(AispendError):
    pass


@dataclass(frozen=True)
class ScopeForecast:
    """One scope's period: what is spent, where it will end, and how sure that is.

    ``actual`` is exact ledger money (spend dated before ``as_of``); ``forecast``, ``lower`` and
    ``upper`` are ``actual`` plus the estimate for the days left, rounded to the cent, so a complete
    period, or a scope with nothing left to estimate, has ``forecast == lower == upper == actual``
    to the last digit.
    """

    scope: dict[str, Any]  # the ``by`` dimensions' values; {} for the total
    period: str  # 2026-03 or 2026-Q1
    start: date
    end: date  # exclusive
    as_of: date
    observed_until: date  # days from it to ``end`` are estimated (after the ledger's last daily spend)
    actual: Decimal
    forecast: Decimal
    lower: Decimal
    upper: Decimal
    last_period: Decimal  # the previous period's total (what was known before as_of)
    method: str  # complete, actual, run-rate[+weekday][+trend]
    history_days: int  # days of daily spend the run rate was fitted on (0: nothing to fit)
    remaining_days: int  # days of the period not observed yet
    interval: float = INTERVAL

    def as_dict(self) -> dict[str, Any]:
        return {**self.scope, "period": self.period, "actual_usd": self.actual, "forecast_usd": self.forecast,
                "lower_usd": self.lower, "upper_usd": self.upper, "last_period_usd": self.last_period,
                "method": self.method, "history_days": self.history_days, "remaining_days": self.remaining_days,
                "observed_until": self.observed_until, "as_of": self.as_of}


def forecast(store: Store, *, period: str = "month", month: str | None = None, as_of: date | None = None,
             by: list[str] | None = None, where: dict[str, list[str]] | None = None,
             interval: float = INTERVAL) -> list[ScopeForecast]:
    """Forecast the period containing ``month`` (default: the one containing ``as_of``).

    ``as_of`` (default today, UTC) is the moment of the forecast: spend dated before it is known,
    the rest is estimated, so a past ``as_of`` replays what the forecast would have said (a
    backtest). ``where`` filters like :func:`parse_where`'s output. Without ``by`` the list holds one
    result, the total (scope ``{}``); with ``by``, one per scope that spent in this or the last
    period, largest forecast first, and their forecasts add up to the total's to the cent: each
    scope's estimated part is scaled so the parts add up to the total's (which is fitted on the
    total's own, smoother series), then rounded down to the cent, and the cents left over go to the
    largest fractions (largest remainder). The actuals are exact, so they add up without rounding.
    """
    scopes, total = forecast_with_total(store, period=period, month=month, as_of=as_of, by=by, where=where,
                                        interval=interval)
    return scopes if by else [total]


def forecast_with_total(store: Store, *, period: str = "month", month: str | None = None,
                        as_of: date | None = None, by: list[str] | None = None,
                        where: dict[str, list[str]] | None = None,
                        interval: float = INTERVAL) -> tuple[list[ScopeForecast], ScopeForecast]:
    """:func:`forecast`'s scopes and the total they add up to, from one query."""
    by, where = list(by or []), where or {}
    check_dimensions(by + list(where))
    if not 0 < interval < 1:
        raise ForecastError(f"interval {interval} must be between 0 and 1 (0.8 is an 80% interval)")
    as_of = as_of or datetime.now(UTC).date()
    label, start, end = period_bounds(period, month or as_of.strftime("%Y-%m"))
    prev_start = period_bounds(period, (start - _DAY).strftime("%Y-%m"))[1]
    known = min(as_of, end)  # spend dated before this is known
    # Twice the history: a source that lags up to eight weeks still has eight weeks before its last day.
    data = _load(store, by, where, min(prev_start, known - timedelta(days=2 * HISTORY_DAYS)), known)

    through = max((d for s in data.values() for d in s.daily), default=None)
    observed = end if as_of >= end else min(as_of, through + _DAY) if through else min(as_of, start)
    days_left = [observed + timedelta(days=i) for i in range((end - observed).days)]
    days_left = [d for d in days_left if d >= start]  # a period not begun yet: only its own days

    def one(scope: dict[str, Any], s: _Series) -> tuple[ScopeForecast, _Estimate]:
        actual = sum((v for d, v in s.exact.items() if start <= d < known), Decimal(0))
        last = sum((v for d, v in s.exact.items() if prev_start <= d < start), Decimal(0))
        est = _estimate(s.daily, observed, start, days_left, interval)
        done = as_of >= end
        result = ScopeForecast(scope, label, start, end, as_of, observed, actual, actual, actual, actual, last,
                               "complete" if done else est.method, 0 if done else est.history_days, len(days_left),
                               interval)
        return result, est

    total_result, total_est = one({}, _Series.sum(data.values()))
    rows = [(*one(dict(zip(by, key, strict=True)), s), s) for key, s in data.items()] if by else []
    since = min(prev_start, observed - timedelta(days=LEVEL_DAYS))
    rows = [(r, e) for r, e, s in rows if s.spent(since, known) or e.mean]
    if not rows:
        return [], _settle(total_result, total_est, _cents(total_est.mean), 1.0)

    # Scale the scopes' estimates to the total's; if they all estimate nothing, share by history.
    means = [e.mean for _, e in rows]
    if sum(means) == 0:
        means = [max(sum(e.history), 0.0) if r.method not in ("complete", "actual") else 0.0 for r, e in rows]
    if sum(means) == 0:
        means = [1.0] * len(rows)
    shares = [m / sum(means) * total_est.mean for m in means]
    cents = _largest_remainder(shares, _cents(total_est.mean))
    scopes = [_settle(r, e, c, share / e.mean if e.mean else 0.0)
              for (r, e), share, c in zip(rows, shares, cents, strict=True)]
    scopes.sort(key=lambda r: (-r.forecast, tuple(str(v) for v in r.scope.values())))
    return scopes, _settle(total_result, total_est, _cents(total_est.mean), 1.0)


def period_bounds(period: str, month: str) -> tuple[str, date, date]:
    """(label, first day, day after the last) of the month or quarter containing ``month``."""
    if period not in PERIODS:
        raise ForecastError(f"period {period!r}: choose month or quarter")
    try:
        first = datetime.strptime(month, "%Y-%m").date()
    except ValueError:
        raise ForecastError(f"--month {month!r} is not YYYY-MM") from None
    if period == "quarter":
        q = (first.month - 1) // 3
        first = first.replace(month=3 * q + 1)
        label, months = f"{first.year}-Q{q + 1}", 3
    else:
        label, months = first.strftime("%Y-%m"), 1
    index = first.year * 12 + first.month - 1 + months
    return label, first, date(index // 12, index % 12 + 1, 1)


# --- the data: one grouped query -------------------------------------------------------------------


class _Series:
    """A scope's spend: daily rows as floats per day (the model's input), every row exactly per day."""

    def __init__(self) -> None:
        self.daily: dict[date, float] = defaultdict(float)
        self.exact: dict[date, Decimal] = defaultdict(Decimal)

    def spent(self, start: date, end: date) -> bool:
        return any(v != 0 for d, v in self.exact.items() if start <= d < end)

    @classmethod
    def sum(cls, parts: Any) -> _Series:
        out = cls()
        for p in parts:
            for d, v in p.daily.items():
                out.daily[d] += v
            for d, x in p.exact.items():
                out.exact[d] += x
        return out


def _load(store: Store, by: list[str], where: dict[str, list[str]], start: date, end: date) -> dict[tuple, _Series]:
    from .rollups import DIMS, usable

    if set(by) | set(where) <= set(DIMS) and usable(store):  # the daily rollup holds the same sums
        t = store.table("ledger_daily")
        t = t.filter([t.day >= start, t.day < end, *[t[k].isin(v) for k, v in where.items()]])
        keys = [t.day.name("day"), (~t.long_period).name("daily"), *[t[d] for d in by]]
    else:
        t = counted_ledger(store)
        preds = [t.period_start >= _midnight(start), t.period_start < _midnight(end)]
        preds += [t[k].isin(v) for k, v in where.items()]
        t = t.filter(preds)
        # Hourly and daily rows make the run rate; a monthly fee or credit is spend, not a rate.
        daily = t.period_end.isnull() | (t.period_end <= t.period_start + ibis.interval(days=1))
        keys = [t.period_start.truncate("D").name("day"), daily.name("daily"), *[t[d] for d in by]]
    rows = t.group_by(keys).aggregate(cost=t.cost_usd.sum()).to_pyarrow().to_pylist()
    data: dict[tuple, _Series] = defaultdict(_Series)
    for r in rows:
        cost = r["cost"] or Decimal(0)  # unpriced rows: unknown, never $0 (the CLI footer counts them)
        s = data[tuple(r[d] for d in by)]
        day = r["day"].date() if isinstance(r["day"], datetime) else r["day"]
        s.exact[day] += cost
        if r["daily"]:
            s.daily[day] += float(cost)
    return data


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


# --- the model (pure) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Estimate:
    mean: float  # expected spend over the days left
    lower: float
    upper: float
    method: str
    history_days: int
    history: tuple[float, ...] = ()


def _estimate(daily: dict[date, float], observed: date, start: date, days_left: list[date],
              interval: float) -> _Estimate:
    """The days left of one scope, from its daily spend before ``observed``."""
    first = max([min(daily, default=observed), observed - timedelta(days=HISTORY_DAYS)])
    days = [first + timedelta(days=i) for i in range((observed - first).days)]
    y = np.array([daily.get(d, 0.0) for d in days])
    recent = y[-max(LEVEL_DAYS, (observed - start).days):]
    if not days_left or not recent.any():
        return _Estimate(0.0, 0.0, 0.0, "actual", len(days), tuple(y))
    fit = _fit(y, np.array([d.weekday() for d in days]))
    mean, sd = fit.project(np.array([(d - observed).days + 1 for d in days_left]),
                           np.array([d.weekday() for d in days_left]))
    half = _t_quantile(0.5 + interval / 2, fit.df) * sd
    return _Estimate(mean, max(mean - half, fit.floor * len(days_left)), mean + half, fit.method, len(days),
                     tuple(y))


@dataclass(frozen=True)
class _Fit:
    level: float  # weekday-adjusted daily spend on the last observed day
    slope: float  # per day
    factors: np.ndarray  # Monday..Sunday, mean 1
    sigma2: float  # daily noise, weekday-adjusted
    level_var: float
    slope_var: float
    anchor: float  # days between the level window's centre and the last observed day
    drift: float  # daily variance of the level's random walk (week-to-week wander beyond the noise)
    df: float
    floor: float  # lowest daily spend to project: 0, unless the history went negative
    method: str

    def project(self, ahead: np.ndarray, weekdays: np.ndarray) -> tuple[float, float]:
        """(expected sum, its standard deviation) over days ``ahead`` of the last observed day."""
        f = self.factors[weekdays]
        mean = np.maximum(f * (self.level + self.slope * ahead), self.floor)
        var = (self.sigma2 * float(np.sum(f**2)) + self.level_var * float(np.sum(f)) ** 2
               + self.slope_var * float(np.sum(f * (ahead + self.anchor))) ** 2)
        # A wandering level moves every later day with it: var = drift * sum_ij f_i f_j min(a_i, a_j).
        tails = np.cumsum(f[::-1])[::-1]
        var += self.drift * float(np.sum(np.diff(ahead, prepend=0) * tails**2))
        return float(mean.sum()), math.sqrt(var)


def _fit(y: np.ndarray, weekdays: np.ndarray) -> _Fit:
    n = len(y)
    factors = _weekday_factors(y, weekdays)
    f = factors[weekdays]
    use = f > 0
    t = np.arange(n, dtype=float) - (n - 1)  # 0 on the last observed day
    z = np.where(use, y / np.where(use, f, 1.0), 0.0)  # weekday-adjusted

    # The median week-over-week change: one level shift or one spike week does not make a trend.
    changes = np.diff(_weekly_means(z, use))
    trend = n >= MIN_TREND_DAYS  # four complete weeks, three changes
    raw_slope = float(np.median(changes)) / 7 if trend else 0.0
    slope = TREND_DAMPING * raw_slope
    near = use & (t > -LEVEL_DAYS)
    level = _winsorised_mean(z[near] - slope * t[near])

    resid = z[use] - (level + slope * t[use])
    resid = resid[_inliers(resid)]  # spike days do not set the noise
    dof = max(len(resid) - 1 - int(trend) - (6 if n >= MIN_WEEKDAY_DAYS else 0), 0)
    sample = float(np.sum(resid**2)) / dof if dof else 0.0
    # Until two full weeks show the weekday pattern, a typical swing is assumed.
    sigma2 = max(sample, (PRIOR_CV * level) ** 2) if n < MIN_WEEKDAY_DAYS else sample
    level_var = sigma2 * 1.2 / int(near.sum())  # ~1.2: a winsorised mean is a little less efficient

    slope_var = drift = 0.0
    if trend:
        spread = 1.4826 * float(np.median(np.abs(changes - np.median(changes))))
        # The damped slope hedges between "the trend goes on" and "it stops": the interval spans both.
        slope_var = ((TREND_DAMPING * 1.2533 * spread / 7) ** 2 / len(changes)
                     + ((1 - TREND_DAMPING) * raw_slope) ** 2)
        # Weekly means of a random walk with daily variance q differ by 231/49 q, plus 2 sigma^2/7 of noise.
        drift = max(0.0, (spread**2 - 2 * sigma2 / 7) / (231 / 49))
    method = "run-rate" + ("+weekday" if n >= MIN_WEEKDAY_DAYS else "") + ("+trend" if trend else "")
    return _Fit(level, slope, factors, sigma2, level_var, slope_var, -float(t[near].mean()), drift,
                max(dof, 1), min(0.0, float(y.min())), method)


def _weekly_means(z: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Mean weekday-adjusted spend of each complete week, ending on the last observed day."""
    weeks = len(z) // 7
    zz = z[len(z) - 7 * weeks:].reshape(weeks, 7)
    uu = use[len(z) - 7 * weeks:].reshape(weeks, 7)
    return (zz * uu).sum(axis=1) / np.maximum(uu.sum(axis=1), 1)


def _weekday_factors(y: np.ndarray, weekdays: np.ndarray) -> np.ndarray:
    """Each weekday's spend relative to its week's mean, over the complete weeks ending last."""
    weeks = len(y) // 7
    if len(y) < MIN_WEEKDAY_DAYS:
        return np.ones(7)
    blocks = y[len(y) - 7 * weeks:].reshape(weeks, 7)
    means = blocks.mean(axis=1)
    ratios = blocks[means > 0] / means[means > 0, None]
    if len(ratios) < 2:
        return np.ones(7)
    ratios = np.sort(ratios, axis=0)
    if len(ratios) >= 4:  # trimmed: a spike lifts one week's ratio and lowers the rest of its week
        ratios = ratios[1:-1]
    per_col = np.median(ratios, axis=0) if len(ratios) == 3 else ratios.mean(axis=0)
    per_col = np.where(per_col < 0.02, 0.0, per_col)  # a weekday that never spends stays at zero
    factors = np.ones(7)
    factors[weekdays[len(y) - 7 * weeks:][:7]] = per_col
    mean = factors.mean()
    return factors / mean if mean > 0 else np.ones(7)


def _inliers(r: np.ndarray) -> np.ndarray:
    """Residuals within 5 robust standard deviations: a normal day is never left out, a spike is."""
    dev = np.abs(r - np.median(r))
    scale = 1.4826 * float(np.median(dev)) or 1.2533 * float(dev.mean())
    return dev <= 5 * scale if scale else np.ones(len(r), dtype=bool)


def _winsorised_mean(v: np.ndarray) -> float:
    if len(v) >= 5:
        s = np.sort(v)
        s[0], s[-1] = s[1], s[-2]
        return float(s.mean())
    return float(v.mean()) if len(v) else 0.0


def _t_quantile(p: float, df: float) -> float:
    """Student-t quantile (Cornish-Fisher expansion; within 1% of the table for df >= 3)."""
    z = NormalDist().inv_cdf(p)
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))


# --- money: exact actuals, estimates rounded to the cent --------------------------------------------


def _settle(r: ScopeForecast, est: _Estimate, rest: Decimal, scale: float) -> ScopeForecast:
    """The result with its estimated ``rest`` (in cents) added; the bounds scaled like the estimate."""
    lower = min(_cents(est.lower * scale), rest)
    upper = max(_cents(est.upper * scale), rest)
    return ScopeForecast(r.scope, r.period, r.start, r.end, r.as_of, r.observed_until, r.actual, r.actual + rest,
                         r.actual + lower, r.actual + upper, r.last_period, r.method, r.history_days,
                         r.remaining_days, r.interval)


def _cents(value: float) -> Decimal:
    return Decimal(value).quantize(_CENT, ROUND_HALF_EVEN)


def _largest_remainder(values: list[float], total: Decimal) -> list[Decimal]:
    """Round ``values`` to cents so they add up to ``total``: floor each, then hand out the cents left."""
    exact = [Decimal(v) for v in values]
    floors = [v.quantize(_CENT, ROUND_FLOOR) for v in exact]
    left = int((total - sum(floors, Decimal(0))) / _CENT)
    order = sorted(range(len(values)), key=lambda i: floors[i] - exact[i])  # largest fraction first
    for n in range(abs(left)):
        floors[order[n % len(order)]] += _CENT if left > 0 else -_CENT
    return floors
