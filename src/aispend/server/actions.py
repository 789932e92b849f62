"""The dashboard's forms: log in and out, accept or dismiss a recommendation, sign off a month,
run anomaly detection or refresh recommendations. Every POST carries the CSRF token; changes need
the admin role (checked by :class:`~.scoped.ScopedLedger`). Each answers with a redirect (303), so
reloading the page never posts twice.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from .access import CSRF_FIELD, Sessions, login_required
from .deps import page, scoped_ledger
from .scoped import ScopedLedger
from .users import authenticate

router = APIRouter(include_in_schema=False)
Led = Annotated[ScopedLedger, Depends(scoped_ledger)]


def csrf_checked(request: Request, csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "") -> None:
    request.app.state.sessions.check_csrf(request, csrf_token)


Csrf = Depends(csrf_checked)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    return target if target and target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return page(request, None, "login.html", next=_safe_next(next), title="Log in")


@router.post("/login", dependencies=[Csrf])
def login(request: Request, username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
          next: Annotated[str, Form()] = "/") -> Response:
    state = request.app.state
    client = request.client.host if request.client else "?"
    wait = state.login_limiter.retry_after(username, client)
    if wait:
        refused = page(request, None, "login.html", status_code=429, next=_safe_next(next), username=username,
                       error=f"Too many failed logins: try again in {wait} seconds.", title="Log in")
        refused.headers["Retry-After"] = str(wait)
        return refused
    with state.ledger.open() as store:
        user = authenticate(store, username, password)
    if user is None:
        state.login_limiter.failed(username, client)
        return page(request, None, "login.html", status_code=401, next=_safe_next(next), username=username,
                    error="Wrong user name or password.", title="Log in")
    state.login_limiter.succeeded(username, client)
    response = RedirectResponse(_safe_next(next), status_code=303)
    state.sessions.write(request, response, Sessions.new(user.user_id))  # a new sid: no session fixation
    return response


@router.post("/logout", dependencies=[Csrf])
def logout(request: Request) -> Response:
    target = "/login" if login_required(request, request.app.state.settings) else "/"
    response = RedirectResponse(target, status_code=303)
    request.app.state.sessions.write(request, response, Sessions.new())
    return response


@router.post("/recommendations/{rec_id}/accept", dependencies=[Csrf])
def accept_recommendation(rec_id: str, led: Led) -> Response:
    led.decide(rec_id, accept=True)
    return RedirectResponse("/recommendations?status=accepted", status_code=303)


@router.post("/recommendations/{rec_id}/dismiss", dependencies=[Csrf])
def dismiss_recommendation(rec_id: str, led: Led, reason: Annotated[str, Form()] = "") -> Response:
    led.decide(rec_id, accept=False, reason=reason)
    return RedirectResponse("/recommendations?status=dismissed", status_code=303)


@router.post("/recommendations/refresh", dependencies=[Csrf])
def refresh_recommendations(led: Led) -> Response:
    led.refresh_recommendations()
    return RedirectResponse("/recommendations", status_code=303)


@router.post("/anomalies/detect", dependencies=[Csrf])
def detect_anomalies(led: Led) -> Response:
    led.detect_anomalies()
    return RedirectResponse("/anomalies", status_code=303)


@router.post("/reconciliation/sign-off", dependencies=[Csrf])
def sign_off(led: Led, month: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "") -> Response:
    led.sign_off(month, note.strip() or None)
    return RedirectResponse(f"/reconciliation?month={quote(month)}", status_code=303)
