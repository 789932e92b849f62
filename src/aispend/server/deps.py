"""What every dashboard and API route shares: the scoped ledger of the request, templates, errors."""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from ..output import exact
from .access import resolve
from .scoped import ScopedLedger

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

# (path, label, shown to owner-scoped viewers)
NAV = [("/", "Overview", True), ("/explorer", "Explorer", True), ("/budgets", "Budgets", True),
       ("/anomalies", "Anomalies", True), ("/recommendations", "Recommendations", True),
       ("/reconciliation", "Reconciliation", False), ("/sources", "Sources", False),
       ("/customers", "Customers", True)]


def scoped_ledger(request: Request) -> Iterator[ScopedLedger]:
    """The ledger, opened for this request, as the requesting principal may see it."""
    state = request.app.state
    with state.ledger.open() as store:
        principal = resolve(request, store, state.settings, state.sessions)
        request.state.principal = principal
        yield ScopedLedger(store, state.settings, principal)


def _usd(value: Any, places: int = 2) -> str:
    if value is None or value == "":
        return "-"
    value = Decimal(value)
    return f"-${abs(value):,.{places}f}" if value < 0 else f"${value:,.{places}f}"


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return exact(value)
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _qs(pairs: list[tuple[str, str]]) -> str:
    return urlencode(pairs)


templates.env.filters.update(usd=_usd, num=_num, exact=exact, qs=_qs)


def page(request: Request, led: ScopedLedger | None, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with what the layout needs: navigation for the principal, the CSRF token, branding."""
    state = request.app.state
    principal = getattr(request.state, "principal", None) or (led.principal if led else None)
    nav = [(p, label) for p, label, scoped_ok in NAV if principal is None or principal.owner is None or scoped_ok]
    return templates.TemplateResponse(request, name, {
        "principal": principal, "nav": nav, "path": request.url.path,
        "csrf": state.sessions.csrf_token(request.state.session), "brand": state.settings.dashboard, **context,
    }, status_code=status_code)


def logo_data_uri(path: str | None) -> str | None:
    """The configured logo as a data: URI, so a report (and its PDF) is self-contained."""
    if not path:
        return None
    file = Path(path).expanduser()
    kind = mimetypes.guess_type(file.name)[0]
    if kind not in ("image/png", "image/jpeg", "image/svg+xml", "image/gif", "image/webp") or not file.is_file():
        return None
    return f"data:{kind};base64,{base64.b64encode(file.read_bytes()).decode()}"
