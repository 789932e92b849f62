"""Turn the ledger's state into alerts: one per rule and breached thing, at its highest level.

Three sources, as ``[[alerts.rules]] what`` names them:

* ``budgets``: each budget's highest actual threshold crossed (kind ``budget``) and highest
  forecast threshold crossed (``budget_forecast``), period = the budget's period label. A budget
  with ``channels`` is watched even without a rule (rule ``budget <name>``).
* ``anomalies``: detection runs first over the lookback window ending with ``today`` and stores
  its result, as ``aispend anomalies`` does (a dry run stores nothing); stored anomalies of the
  rule's kinds at or above its ``min_severity`` (default warning) that started in the last
  ``max_age_days`` alert, once per anomaly id, again if its severity rises.
* ``data_quality``: ``aispend doctor``'s findings of the rule's checks (default: sync_failed,
  source_stale, unpriced_model) at or above ``min_severity`` (default error), once per finding
  and calendar month (a problem that persists is recalled monthly).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from ..analysis.anomalies import AnomalyError, detect_anomalies, run_anomalies, select, stored_anomalies
from ..analysis.doctor import SEVERITIES as DOCTOR_SEVERITIES
from ..analysis.doctor import doctor
from ..budgets import budget_status, top_contributors
from ..budgets.scope import normalize
from ..config import AlertRule, Settings
from ..errors import ConfigError
from ..store import Store
from .messages import anomaly_message, budget_message, finding_message
from .model import SEVERITIES, Alert

DEFAULT_CHECKS = ("sync_failed", "source_stale", "unpriced_model")
_DAY = timedelta(days=1)


def evaluate(store: Store, settings: Settings, today: date, now: datetime, *, record: bool = True) -> list[Alert]:
    """Every alert the rules raise now. Nothing is written but, with ``record``, the detected anomalies."""
    rules = settings.alerts.rules
    known = {b.name for b in settings.budgets}
    for rule in rules:
        if unknown := [b for b in rule.budgets if b not in known]:
            raise ConfigError(f"alert rule {rule.name}: unknown budget(s) {', '.join(unknown)}")
    alerts = _budget_alerts(store, settings, today)
    if anomaly_rules := [r for r in rules if r.what == "anomalies"]:
        alerts += _anomaly_alerts(store, settings, anomaly_rules, today, record)
    if quality_rules := [r for r in rules if r.what == "data_quality"]:
        alerts += _quality_alerts(store, settings, quality_rules, now)
    return alerts


def _budget_alerts(store: Store, settings: Settings, today: date) -> list[Alert]:
    rules = [r for r in settings.alerts.rules if r.what == "budgets"]
    if not settings.budgets or not (rules or any(b.channels for b in settings.budgets)):
        return []
    out = []
    for status in budget_status(store, settings, today):
        watching = [(r.name or "", tuple(r.channels), r.owners) for r in rules if not r.budgets or status.name in r.budgets]
        if status.channels:
            watching.append((f"budget {status.name}", tuple(status.channels), []))
        hits = [("budget", max(status.breached, default=None)), ("budget_forecast", max(status.forecast_breached,
                                                                                          default=None))]
        hits = [(kind, level) for kind, level in hits if level is not None]
        if not watching or not hits:
            continue
        known = min(today + _DAY, status.period.end)
        top = top_contributors(store, status.scope, status.period.start, known, n=settings.alerts.top_contributors)
        for rule, channels, owners in watching:
            who = list(dict.fromkeys([*status.owners, *owners]))
            for kind, level in hits:
                message = budget_message(status, kind, level, top, settings.alerts.dashboard_url, who)
                out.append(Alert(rule, kind, status.name, status.period.label, level, f"{level}%", channels, message))
    return out


def _anomaly_alerts(store: Store, settings: Settings, rules: list[AlertRule], today: date,
                    record: bool) -> list[Alert]:
    until = datetime.combine(today + _DAY, time())
    try:
        detection = (run_anomalies if record else detect_anomalies)(store, settings.anomalies, until=until)
    except AnomalyError:  # nothing to judge yet (an empty ledger): no anomalies
        return []
    out = []
    for rule in rules:
        floor = rule.min_severity or "warning"
        since = until - timedelta(days=rule.max_age_days)
        if record:
            rows = stored_anomalies(store, since=since, until=until, kinds=rule.kinds or None, min_severity=floor)
        else:  # a dry run: what was just detected, as the stored rows would read
            rows = [{**a.as_row(), "scope": dict(a.scope)} for a in select(detection.anomalies, rule.kinds or None, floor)
                    if since <= a.start < until]
        for row in rows:
            scope = normalize({k: v if v is not None else "(unattributed)" for k, v in row["scope"].items()})
            top = top_contributors(store, scope, row["period_start"].date(),
                                   max(row["period_end"].date(), row["period_start"].date() + _DAY),
                                   n=settings.alerts.top_contributors)
            message = anomaly_message(row, top, settings.alerts.dashboard_url, rule.owners)
            level = SEVERITIES.index(row["severity"]) + 1
            out.append(Alert(rule.name or "", "anomaly", row["id"], f"{row['period_start']:%Y-%m-%d}", level,
                             row["severity"], tuple(rule.channels), message))
    return out


def _quality_alerts(store: Store, settings: Settings, rules: list[AlertRule], now: datetime) -> list[Alert]:
    findings = doctor(store, settings, now)
    out = []
    for rule in rules:
        checks = set(rule.kinds or DEFAULT_CHECKS)
        allowed = DOCTOR_SEVERITIES[:DOCTOR_SEVERITIES.index(rule.min_severity or "error") + 1]  # errors first
        for f in findings:
            if f.check not in checks or f.severity not in allowed:
                continue
            level = len(DOCTOR_SEVERITIES) - DOCTOR_SEVERITIES.index(f.severity)  # error 2, warning 1
            out.append(Alert(rule.name or "", "data_quality", f"{f.check}: {f.scope}", f"{now:%Y-%m}", level,
                             f.severity, tuple(rule.channels), finding_message(f, rule.owners)))
    return out
