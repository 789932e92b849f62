"""The query layer of the dashboard and the API: every ledger read goes through a :class:`ScopedLedger`.

It calls the same library functions the CLI calls (``spend_report``, ``forecast``, ``unit_costs``,
``reconcile``, ...) with the principal's scope applied, so what a user may see is decided here
once, not in each page or template:

* an owner-scoped viewer's every filter gets ``owner = <their team>`` added; a filter naming
  another owner (``(unattributed)`` included) is refused with 403, not silently emptied;
* stored findings (anomalies, recommendations, budgets) are shown to them only when their scope
  names their team;
* what cannot be split by team (reconciliation, margin against company revenue, sources) is
  refused with 403;
* changes (sign-off, accept, dismiss, detection runs) need the admin role.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import HTTPException

from ..analysis.report import Footer, Report, Window, check_dimensions, footer, spend_report
from ..config import Settings
from ..store import Store
from .access import Principal

Where = dict[str, list[str]]


class ScopedLedger:
    def __init__(self, store: Store, settings: Settings, principal: Principal):
        self.store, self.settings, self.principal = store, settings, principal

    # --- access ------------------------------------------------------------------------------

    @property
    def team(self) -> str | None:
        return self.principal.owner

    def where(self, requested: Where | None = None) -> Where:
        """``requested`` filters with the principal's scope applied (403 for another team's)."""
        requested = dict(requested or {})
        check_dimensions(list(requested))
        if self.team is None:
            return requested
        others = [v for v in requested.get("owner", []) if v != self.team]
        if others:
            raise HTTPException(403, f"you may see owner={self.team} only, not owner={others[0]}")
        return {**requested, "owner": [self.team]}

    def require_unscoped(self, what: str) -> None:
        if self.team is not None:
            raise HTTPException(403, f"{what} covers every team: an owner-scoped viewer ({self.team}) cannot see it")

    def require_admin(self, what: str) -> None:
        if not self.principal.is_admin:
            raise HTTPException(403, f"{what} needs the admin role (you are a {self.principal.role})")

    def visible(self, scope: Any) -> bool:
        """Whether a stored finding about ``scope`` (a dict or "k=v,..." text) may be shown."""
        if self.team is None:
            return True
        if isinstance(scope, str):
            try:
                scope = json.loads(scope)
            except ValueError:
                scope = dict(p.split("=", 1) for p in scope.split(",") if "=" in p)
        owner = scope.get("owner") if isinstance(scope, dict) else None
        return owner == self.team or (isinstance(owner, list) and set(owner) == {self.team})

    # --- spend ---------------------------------------------------------------------------------

    def report(self, by: list[str], window: Window | None = None, granularity: str | None = None,
               where: Where | None = None) -> Report:
        return spend_report(self.store, by, window or Window(), granularity, self.where(where))

    def footer(self, window: Window | None = None, where: Where | None = None) -> Footer:
        return footer(self.store, window or Window(), self.where(where))

    def forecast(self, *, period: str = "month", month: str | None = None, as_of: date | None = None,
                 by: list[str] | None = None, where: Where | None = None) -> tuple[list[Any], Any]:
        from ..analysis.forecast import forecast_with_total

        return forecast_with_total(self.store, period=period, month=month, as_of=as_of, by=by,
                                   where=self.where(where))

    def unit_costs(self, by: list[str], window: Window | None = None, where: Where | None = None) -> Report:
        from ..analysis.unit_economics import unit_costs

        return unit_costs(self.store, by, window or Window(), self.where(where))

    def margin(self, by: str = "customer", window: Window | None = None) -> Any:
        from ..analysis.unit_economics import margin

        self.require_unscoped("margin (revenue against the whole AI bill)")
        return margin(self.store, self.settings, by, window or Window())

    def values(self, dimension: str, window: Window | None = None) -> list[str]:
        """The values a dimension takes in the window, biggest spend first."""
        return [str(r[dimension]) for r in self.report([dimension], window).rows if r[dimension] is not None]

    # --- stored findings -----------------------------------------------------------------------

    def anomalies(self, since: datetime | None = None, until: datetime | None = None,
                  kinds: list[str] | None = None, min_severity: str = "info") -> list[dict[str, Any]]:
        from ..analysis.anomalies import stored_anomalies

        rows = stored_anomalies(self.store, since, until, kinds, min_severity)
        return [r for r in rows if self.visible(r["scope"])]

    def detect_anomalies(self) -> Any:
        from ..analysis.anomalies import run_anomalies

        self.require_admin("running anomaly detection")
        return run_anomalies(self.store, self.settings.anomalies)

    def recommendations(self, status: str | None = "open") -> list[Any]:
        from ..optimize import stored

        return [r for r in stored(self.store, status) if self.visible(r.scope)]

    def refresh_recommendations(self) -> Any:
        from ..optimize import recommend

        self.require_admin("refreshing recommendations")
        return recommend(self.store, self.settings, status="all")

    def decide(self, rec_id: str, accept: bool, reason: str = "") -> Any:
        from ..optimize import accept as accept_rec
        from ..optimize import dismiss

        self.require_admin("accepting or dismissing a recommendation")
        return accept_rec(self.store, rec_id) if accept else dismiss(self.store, rec_id, reason)

    def budgets(self, today: date | None = None) -> list[dict[str, Any]]:
        """Budget status rows this principal may see."""
        from ..budgets import budget_status

        rows = [b.as_dict() for b in budget_status(self.store, self.settings, today=today)]
        return [r for r in rows if self.visible(r.get("scope") or {})]

    # --- company-wide ------------------------------------------------------------------------

    def reconcile(self, month: str) -> Any:
        from ..analysis.reconcile import reconcile

        self.require_unscoped("reconciliation (whole vendor bills)")
        return reconcile(self.store, month)

    def sign_off(self, month: str, note: str | None) -> Any:
        from ..analysis.reconcile import sign_off

        self.require_unscoped("reconciliation")
        self.require_admin("signing off a month")
        return sign_off(self.store, month, self.principal.username, note)

    def sources(self, now: datetime) -> list[dict[str, Any]]:
        """Every API source (configured or seen in ``sync_state``) and file source: last sync, health, error."""
        from ..analysis.doctor import api_sources, file_sources

        self.require_unscoped("sources")
        state = {s: (c, ok, e) for s, c, ok, e in
                 self.store.query("SELECT source, cursor, last_success, last_error FROM sync_state")}
        problems = {f.scope.removeprefix("source "): f for f in
                    api_sources(self.store, self.settings, now) + file_sources(self.store, self.settings, now)}
        rows = []
        for name in sorted(set(self.settings.sources) | set(state)):
            cursor, last_success, last_error = state.get(name, (None, None, None))
            cfg = self.settings.sources.get(name)
            problem = problems.get(name)
            rows.append({"source": name, "kind": "api", "type": cfg.type if cfg else "(not configured)",
                         "last_success": last_success, "cursor": cursor,
                         "health": problem.check if problem else "ok",
                         "error": last_error, "detail": problem.what if problem else None})
        imports = self.store.query(
            "SELECT source, max(imported_at), count(*), sum(rows_loaded) FROM imports WHERE replaced_by IS NULL "
            "GROUP BY source ORDER BY source")
        for name, last, files, loaded in imports:
            problem = problems.get(name)
            rows.append({"source": name, "kind": "file", "type": "import", "last_success": last, "cursor": None,
                         "health": problem.check if problem else "ok", "error": None,
                         "detail": problem.what if problem else f"{files} file(s), {int(loaded or 0):,} rows"})
        return rows


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def month_window(day: date) -> Window:
    """The calendar month containing ``day``."""
    first = day.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return Window(day_start(first), day_start(nxt))
