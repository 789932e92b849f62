"""The REST API, ``/api/v1``: every page's data as JSON (OpenAPI at ``/openapi.json``).

List endpoints answer exactly what the matching command prints with ``--format json`` (or
``csv`` with ``format=csv``): the same library call, serialized by the same code, e.g.
``/api/v1/report?by=provider&month=2026-11`` is ``aispend report --by provider --month 2026-11
--format json``. Notes the CLI prints on stderr are at ``/api/v1/report/footer``.

Authentication: ``Authorization: Bearer <token>`` (``aispend users token NAME``), or the
dashboard's session cookie; changes (POST) made with the cookie also need the ``X-CSRF-Token``
header. Everything is filtered by the caller's scope (:mod:`.scoped`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response

from ..analysis.report import Window, parse_where
from ..errors import AispendError
from . import views
from .access import CSRF_HEADER, bearer
from .deps import scoped_ledger
from .jsonout import json_body, rows_body
from .scoped import ScopedLedger

router = APIRouter(prefix="/api/v1", tags=["api"])
Led = Annotated[ScopedLedger, Depends(scoped_ledger)]
Opt = Annotated[str | None, Query()]
Where = Annotated[list[str] | None, Query(description="DIM=VALUE; repeat it (same DIM: any of the values)")]
Fmt = Annotated[str, Query(pattern="^(json|csv)$", description="json (default) or csv")]
FORECAST_COLUMNS = ["period", "actual_usd", "forecast_usd", "lower_usd", "upper_usd", "last_period_usd", "method",
                    "history_days", "remaining_days", "observed_until", "as_of"]
ANOMALY_COLUMNS = ["id", "kind", "severity", "period_start", "period_end", "scope", "metric", "expected", "actual",
                   "impact_usd", "explanation", "first_detected_at", "detected_at"]
REC_COLUMNS = ["id", "kind", "monthly_savings_usd", "confidence", "status", "scope", "title", "evidence",
               "assumption", "reason"]
SIGNOFF_COLUMNS = ["signoff_id", "month", "signed_by", "signed_at", "note", "invoice_usd", "ledger_usd"]


def write_guard(request: Request) -> None:
    """A change made with the session cookie must carry the page's CSRF token in a header."""
    if bearer(request) is None:
        request.app.state.sessions.check_csrf(request, request.headers.get(CSRF_HEADER))


Write = Depends(write_guard)


def _dims(by: str) -> list[str]:
    return [d.strip() for d in by.split(",") if d.strip()]


@router.get("/me", summary="Who you are: user, role, owner scope")
def me(led: Led) -> Response:
    return json_body(led.principal.as_dict())


@router.get("/report", summary="Spend by dimensions (= aispend report --format json|csv)")
def report(led: Led, by: str = "provider", month: Opt = None, start: Opt = None, end: Opt = None,
           granularity: Opt = None, where: Where = None, format: Fmt = "json") -> Response:
    result = led.report(_dims(by), Window.parse(month, start, end), granularity, parse_where(where))
    return rows_body(result.rows, result.columns, format, "aispend-report")


@router.get("/report/footer", summary="What a report's totals leave out: unpriced, unconverted, superseded rows")
def report_footer(led: Led, month: Opt = None, start: Opt = None, end: Opt = None, where: Where = None) -> Response:
    f = led.footer(Window.parse(month, start, end), parse_where(where))
    return json_body(f.as_dict() | {"notes": f.lines()})


@router.get("/overview", summary="The overview page's data")
def overview(led: Led, as_of: Opt = None, stack: str = "provider", movers_by: str = "feature") -> Response:
    day = views.parse_day(as_of, "as_of", views.now_utc().date())
    return json_body(views.overview(led, day, stack, movers_by))


@router.get("/forecast", summary="Month- or quarter-end forecast (= aispend forecast --format json)")
def forecast(led: Led, by: str = "", month: Opt = None, quarter: bool = False, as_of: Opt = None,
             where: Where = None, format: Fmt = "json") -> Response:
    dims = _dims(by)
    day = views.parse_day(as_of, "as_of", views.now_utc().date()) if as_of else None
    scopes, total = led.forecast(period="quarter" if quarter else "month", month=month, as_of=day, by=dims,
                                 where=parse_where(where))
    return rows_body([r.as_dict() for r in (scopes if dims else [total])], [*dims, *FORECAST_COLUMNS], format,
                     "aispend-forecast")


@router.get("/unit-costs", summary="Cost per request and per 1k tokens (= aispend report unit --format json)")
def unit_costs(led: Led, by: str = "feature", month: Opt = None, start: Opt = None, end: Opt = None,
               where: Where = None, format: Fmt = "json") -> Response:
    result = led.unit_costs(_dims(by), Window.parse(month, start, end), parse_where(where))
    return rows_body(result.rows, result.columns, format, "aispend-unit-costs")


@router.get("/margin", summary="Revenue, AI cost and margin (= aispend report margin --format json)")
def margin(led: Led, by: str = "customer", month: Opt = None, start: Opt = None, end: Opt = None,
           format: Fmt = "json") -> Response:
    result = led.margin(by.strip(), Window.parse(month, start, end))
    return rows_body(result.rows, result.columns, format, "aispend-margin")


@router.get("/customers", summary="The customers page: cost per customer (and margin, for unscoped users)")
def customers(led: Led, month: Opt = None, start: Opt = None, end: Opt = None) -> Response:
    window = views.report_window(month, start, end, views.now_utc().date())
    data = views.customers(led, window)
    return json_body({"start": window.start, "end": window.end, **data})


@router.get("/customers/report", summary="One customer's cost report (the HTML/PDF report's data)")
def customer_report(led: Led, customer: str, month: Opt = None, start: Opt = None, end: Opt = None) -> Response:
    window = views.report_window(month, start, end, views.now_utc().date())
    return json_body(views.customer_report(led, customer, window))


@router.get("/values", summary="The values a dimension takes (for filters), biggest spend first")
def values(led: Led, dimension: str, month: Opt = None, start: Opt = None, end: Opt = None) -> Response:
    return json_body(led.values(dimension, Window.parse(month, start, end)))


@router.get("/anomalies", summary="Stored anomalies, newest first")
def anomalies(led: Led, since: Opt = None, until: Opt = None, kind: Annotated[list[str] | None, Query()] = None,
              min_severity: str = "info", format: Fmt = "json") -> Response:
    rows = led.anomalies(_moment(since, "since"), _moment(until, "until"), kind, min_severity)
    return rows_body(rows, ANOMALY_COLUMNS, format, "aispend-anomalies")


@router.post("/anomalies/detect", dependencies=[Write], summary="Run detection over the lookback window (admin)")
def detect(led: Led) -> Response:
    found = led.detect_anomalies()
    return json_body({"since": found.since, "until": found.until, "anomalies": len(found.anomalies),
                      "replaced": found.replaced})


@router.get("/recommendations", summary="Stored recommendations (= aispend recommend --status S --format json)")
def recommendations(led: Led, status: str = "open", format: Fmt = "json") -> Response:
    recs = led.recommendations(None if status == "all" else status)
    return rows_body(_rec_rows(recs), REC_COLUMNS, format, "aispend-recommendations")


@router.post("/recommendations/{rec_id}/accept", dependencies=[Write], summary="Accept a recommendation (admin)")
def accept(rec_id: str, led: Led) -> Response:
    return rows_body(_rec_rows([led.decide(rec_id, accept=True)]), REC_COLUMNS)


@router.post("/recommendations/{rec_id}/dismiss", dependencies=[Write], summary="Dismiss with a reason (admin)")
def dismiss(rec_id: str, led: Led, reason: Annotated[str, Body(embed=True)]) -> Response:
    return rows_body(_rec_rows([led.decide(rec_id, accept=False, reason=reason)]), REC_COLUMNS)


@router.get("/reconciliation", summary="A month's reconciliation (= aispend reconcile --month M --format json)")
def reconciliation(led: Led, month: str) -> Response:
    return json_body(_reconciliation(led.reconcile(month)))


@router.post("/reconciliation/{month}/sign-off", dependencies=[Write], summary="Sign off a month (admin)")
def sign_off(month: str, led: Led, note: Annotated[str | None, Body(embed=True)] = None) -> Response:
    signed = led.sign_off(month, note)
    return json_body({c: getattr(signed, c) for c in SIGNOFF_COLUMNS})


@router.get("/sources", summary="Sources: last sync, health and errors")
def sources(led: Led) -> Response:
    return json_body(led.sources(views.now_utc()))


@router.get("/budgets", summary="Budget status")
def budgets(led: Led) -> Response:
    rows = led.budgets()
    return json_body({"configured": rows is not None and bool(rows), "budgets": rows or []})


# --- serialization shared with the CLI's JSON ---------------------------------------------------------


def _moment(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        raise AispendError(f"{name} {value!r} is not YYYY-MM-DD[THH:MM]") from None


def _rec_rows(recs: list[Any]) -> list[dict[str, Any]]:
    from ..optimize.recommend.base import plain

    return [{"id": r.id, "kind": r.kind, "monthly_savings_usd": r.monthly_savings_usd, "confidence": r.confidence,
             "status": r.status, "scope": plain(r.scope), "title": r.title, "evidence": plain(r.evidence),
             "assumption": r.assumption, "reason": r.reason} for r in recs]


def _reconciliation(rec: Any) -> dict[str, Any]:
    """The object ``aispend reconcile --format json`` prints."""
    return rec.as_dict()