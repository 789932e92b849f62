"""The words of an alert: what breached, by how much, who spent it, where to look.

Amounts for people are rounded to the cent (``$1,234.56``); ``Message.data`` carries the exact
figures as decimal strings for webhook consumers. The link opens the dashboard's explorer on the
alert's scope: ``{dashboard_url}/explorer?owner=search&provider=openai``.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from ..analysis.doctor import Finding
from ..attribution import UNATTRIBUTED
from ..budgets import BudgetStatus
from ..output import exact
from .model import Message

BY = (("model", "model"), ("feature", "feature"), ("api_key_id", "API key"))


def usd(value: Decimal | None) -> str:
    if value is None:
        return "-"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def explorer_link(dashboard_url: str | None, scope: dict[str, list[str]], **extra: str) -> str | None:
    if not dashboard_url:
        return None
    pairs = [(k, v) for k, values in scope.items() for v in values] + list(extra.items())
    query = urlencode(pairs)
    return f"{dashboard_url.rstrip('/')}/explorer" + (f"?{query}" if query else "")


def contributor_lines(top: dict[str, list[tuple[str, Decimal]]]) -> list[tuple[str, list[tuple[str, str]]]]:
    return [(label, [(value, usd(cost)) for value, cost in top.get(dim, [])]) for dim, label in BY if top.get(dim)]


def budget_message(s: BudgetStatus, kind: str, level: int, top: dict[str, list[tuple[str, Decimal]]],
                   dashboard_url: str | None, owners: list[str]) -> Message:
    """``kind`` budget (actual crossed ``level`` %) or budget_forecast (the forecast did)."""
    amount = f"{usd(s.amount_usd)}" + (f" ({s.amount:,.2f} {s.currency})" if s.currency != "USD" else "")
    line = s.amount_usd * level / 100
    if kind == "budget":
        over = s.spent_usd - line
        title = f"Budget {s.name}: {s.used_pct}% used ({s.period.label})"
        summary = (f"{s.name} has spent {usd(s.spent_usd)} of {amount} for {s.period.label} ({s.used_pct}%), "
                   f"past its {level}% threshold ({usd(line)}) by {usd(over)}.")
        if s.spent_usd > s.amount_usd:
            summary += f" It is {usd(s.spent_usd - s.amount_usd)} over budget."
    else:
        over = s.forecast_usd - line
        title = f"Budget {s.name}: forecast {s.forecast_pct}% of budget ({s.period.label})"
        summary = (f"{s.name} is forecast to end {s.period.label} at {usd(s.forecast_usd)} ({s.forecast_pct}% of "
                   f"{amount}), {usd(over)} above its {level}% forecast threshold ({usd(line)}).")
    if s.breach_date and s.breach_projected:
        summary += f" At the forecast rate it breaks the budget on {s.breach_date:%Y-%m-%d}."
    elif s.breach_date:
        summary += f" The budget broke on {s.breach_date:%Y-%m-%d}."
    severity = "critical" if level >= 100 else "warning"
    facts = [("Spent", f"{usd(s.spent_usd)} ({s.used_pct}%)"), ("Budget", amount),
             ("Remaining", usd(s.remaining_usd)),
             (f"Forecast ({int(s.interval * 100)}% range)",
              f"{usd(s.forecast_usd)} ({usd(s.forecast_lower_usd)} to {usd(s.forecast_upper_usd)})"),
             ("Period", f"{s.period.label}: {s.period.start} to {s.period.end - timedelta(days=1)}")]
    if s.breach_date:
        facts.append(("Breach date", f"{s.breach_date:%Y-%m-%d}" + (" (projected)" if s.breach_projected else "")))
    if s.scope:
        facts.append(("Scope", _scope_text(s.scope)))
    if s.unpriced_rows:
        facts.append(("Unpriced rows", f"{s.unpriced_rows:,} (cost unknown, not included)"))
    data = {"budget": s.name, "threshold_pct": level, "over_threshold_usd": exact(over), "scope": s.scope,
            **{k: _plain(v) for k, v in s.as_dict().items() if k not in ("name", "scope", "channels", "owners")}}
    return Message(title, severity, summary, facts, contributor_lines(top),
                   explorer_link(dashboard_url, s.scope), owners, data)


def anomaly_message(row: dict[str, Any], top: dict[str, list[tuple[str, Decimal]]], dashboard_url: str | None,
                    owners: list[str]) -> Message:
    scope = {k: [v if v is not None else UNATTRIBUTED] for k, v in row["scope"].items()}
    start = row["period_start"]
    title = f"Anomaly ({row['severity']}): {row['kind'].replace('_', ' ')} in {_scope_text(scope) or 'all spend'}"
    summary = f"{row['explanation']}. Impact {usd(row['impact_usd'])}."
    facts = [("Kind", row["kind"]), ("Severity", row["severity"]), ("Scope", _scope_text(scope)),
             ("Since", f"{start:%Y-%m-%d %H:%M} UTC"), ("Impact", usd(row["impact_usd"]))]
    data = {"anomaly_id": row["id"], "kind": row["kind"], "scope": row["scope"], "metric": row["metric"],
            "period_start": _plain(start), "period_end": _plain(row["period_end"]),
            "expected": exact(row["expected"]), "actual": exact(row["actual"]),
            "impact_usd": exact(row["impact_usd"]), "severity": row["severity"]}
    return Message(title, row["severity"], summary, facts, contributor_lines(top),
                   explorer_link(dashboard_url, scope, start=f"{start:%Y-%m-%d}"), owners, data)


def finding_message(f: Finding, owners: list[str]) -> Message:
    severity = "critical" if f.severity == "error" else "warning"
    title = f"Data quality ({f.severity}): {f.check.replace('_', ' ')}, {f.scope}"
    facts = [("Check", f.check), ("Scope", f.scope), ("Fix", f.fix)]
    data = {"check": f.check, "severity": f.severity, "scope": f.scope, "what": f.what, "fix": f.fix,
            "count": f.count, "amount": exact(f.amount) if f.amount is not None else None, "currency": f.currency}
    return Message(title, severity, f"{f.what}.", facts, [], None, owners, data)


def _scope_text(scope: dict[str, list[str]]) -> str:
    return ", ".join(f"{k}={'|'.join(v)}" for k, v in scope.items())


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return exact(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
