"""The dashboard's pages (server-rendered; charts drawn by the locally served plotly.js).

Each page gets its data from :mod:`.views` (or the scoped ledger) and has a JSON twin under
``/api/v1``; the query string is the page's whole state, so every view is a shareable URL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from . import charts, views
from .deps import logo_data_uri, page, scoped_ledger
from .pdf import html_to_pdf
from .scoped import ScopedLedger

router = APIRouter(include_in_schema=False)
Led = Annotated[ScopedLedger, Depends(scoped_ledger)]
Opt = Annotated[str | None, Query()]
Many = Annotated[list[str] | None, Query()]


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request, led: Led, as_of: Opt = None, stack: str = "provider",
                  movers_by: str = "feature") -> HTMLResponse:
    day = views.parse_day(as_of, "as_of", views.now_utc().date())
    data = views.overview(led, day, stack, movers_by)
    fc = data["forecast"]
    figures = {
        "forecast": charts.forecast(data["last_month_usd"], data["month_to_date_usd"], fc["forecast_usd"],
                                    fc["lower_usd"], fc["upper_usd"]),
        "daily": charts.stacked(data["daily"], [stack]),
    }
    return page(request, led, "overview.html", data=data, figures=figures, title="Overview")


@router.get("/explorer", response_class=HTMLResponse)
def explorer_page(request: Request, led: Led, by: Many = None, where: Many = None, month: Opt = None,
                  start: Opt = None, end: Opt = None, granularity: Opt = None) -> HTMLResponse:
    q = views.Query.parse(by, where, month, start, end, granularity)
    data = views.explore(led, q)
    figure = charts.stacked(data["rows"], q.by) if q.granularity else charts.bars(data["rows"], q.by)
    return page(request, led, "explorer.html", data=data, q=q, chart=figure, title="Explorer")


@router.get("/budgets", response_class=HTMLResponse)
def budgets_page(request: Request, led: Led) -> HTMLResponse:
    rows = led.budgets()
    columns = list(dict.fromkeys(k for r in rows or [] for k in r))
    return page(request, led, "budgets.html", rows=rows, columns=columns, title="Budgets")


@router.get("/anomalies", response_class=HTMLResponse)
def anomalies_page(request: Request, led: Led, days: int = 30) -> HTMLResponse:
    since = views.now_utc() - timedelta(days=days)
    return page(request, led, "anomalies.html", rows=led.anomalies(since=since), days=days, title="Anomalies")


@router.get("/recommendations", response_class=HTMLResponse)
def recommendations_page(request: Request, led: Led, status: str = "open") -> HTMLResponse:
    return page(request, led, "recommendations.html", recs=led.recommendations(None if status == "all" else status),
                status=status, title="Recommendations")


@router.get("/reconciliation", response_class=HTMLResponse)
def reconciliation_page(request: Request, led: Led, month: Opt = None) -> HTMLResponse:
    from ..analysis.reconcile import CATEGORIES

    month = month or (views.now_utc().date().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    rec = led.reconcile(month)
    return page(request, led, "reconciliation.html", rec=rec, month=month, categories=CATEGORIES,
                title="Reconciliation")


@router.get("/sources", response_class=HTMLResponse)
def sources_page(request: Request, led: Led) -> HTMLResponse:
    return page(request, led, "sources.html", rows=led.sources(views.now_utc()), title="Sources")


@router.get("/customers", response_class=HTMLResponse)
def customers_page(request: Request, led: Led, month: Opt = None, start: Opt = None, end: Opt = None) -> HTMLResponse:
    window = views.report_window(month, start, end, views.now_utc().date())
    data = views.customers(led, window)
    return page(request, led, "customers.html", data=data, window=window, chart=charts.bars(data["rows"], ["customer"]),
                title="Customers")


def _customer_report_html(request: Request, led: ScopedLedger, customer: str, month: str | None, start: str | None,
                          end: str | None, printable: bool) -> HTMLResponse:
    window = views.report_window(month, start, end, views.now_utc().date())
    data = views.customer_report(led, customer, window)
    brand = request.app.state.settings.dashboard
    chart = charts.svg_bars([(str(r["feature"]), r["cost_usd"]) for r in data["features"]], brand.accent_color)
    return page(request, led, "customer_report.html", data=data, chart=chart, logo=logo_data_uri(brand.logo_path),
                printable=printable, generated=views.now_utc(), title=f"{customer}: AI cost report")


@router.get("/customers/report", response_class=HTMLResponse)
def customer_report_page(request: Request, led: Led, customer: str = "", month: Opt = None, start: Opt = None,
                         end: Opt = None) -> HTMLResponse:
    return _customer_report_html(request, led, customer, month, start, end, printable=False)


@router.get("/customers/report.pdf")
def customer_report_pdf(request: Request, led: Led, customer: str = "", month: Opt = None, start: Opt = None,
                        end: Opt = None) -> Response:
    # A sync route runs in a worker thread, where Playwright's sync API may run (not on the event loop).
    html = _customer_report_html(request, led, customer, month, start, end, printable=True)
    pdf = html_to_pdf(bytes(html.body).decode(), request.app.state.settings.dashboard.chromium_path)
    name = "".join(c if c.isalnum() else "-" for c in customer).strip("-") or "customer"
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="aispend-{name}.pdf"'})
