"""The HTTP app: ``create_app(settings, host=None)``: the dashboard, the REST API and the OTLP receiver.

* ``/`` and the other pages (:mod:`.pages`, forms in :mod:`.actions`), ``/api/v1`` (:mod:`.api`,
  OpenAPI at ``/openapi.json``), ``/static`` (CSS, JS and plotly.js from the installed ``plotly``
  package: the dashboard works offline);
* ``/v1/traces``, the OTLP/HTTP receiver (:mod:`.otlp`): with ``[events] receiver_token`` set it
  requires ``Authorization: Bearer <token>``;
* who may see what is decided in :mod:`.access` (login, sessions, CSRF) and :mod:`.scoped`.

``host`` is the address the server listens on: beyond loopback every request needs a login.
``app.state.ledger`` (:class:`~aispend.server.ledger.Ledger`) opens the store for one unit of work
at a time, so the CLI can use the DuckDB file meanwhile; when another process holds it, requests
answer 503 with Retry-After.
"""

from __future__ import annotations

import secrets
from importlib.resources import files
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from ..config import Settings
from ..errors import AispendError
from . import actions, api, otlp, pages
from .access import LoginLimiter, LoginRequired, Sessions
from .auth import BearerAuth
from .deps import page
from .ledger import Ledger, StoreBusy

STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")


def _receiver_token(request: Request) -> None:
    request.app.state.auth.check(request)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/v1/", "/openapi.json"))


def create_app(settings: Settings, host: str | None = None) -> FastAPI:
    """The aispend HTTP app for ``settings`` (secrets are resolved now: a missing one fails here)."""
    app = FastAPI(title="aispend", summary="Local-first AI cost management: dashboard data and the OTLP receiver",
                  version="1", docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.host = host
    app.state.ledger = Ledger(settings)
    app.state.auth = BearerAuth.from_settings(settings)
    secret = settings.dashboard.session_secret
    app.state.sessions = Sessions(secret.resolve().get_secret_value() if secret else secrets.token_urlsafe(32),
                                  settings.dashboard.session_hours * 3600)
    app.state.login_limiter = LoginLimiter(settings.dashboard.login_failures_per_minute)

    receiver = APIRouter(dependencies=[Depends(_receiver_token)])
    receiver.include_router(otlp.router)
    app.include_router(receiver)
    otlp.install(app)
    _errors(app)
    app.include_router(api.router)
    app.include_router(actions.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        path = files("plotly") / "package_data" / "plotly.min.js"
        return FileResponse(str(path), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.middleware("http")
    async def session_and_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        sessions: Sessions = request.app.state.sessions
        session = sessions.read(request)
        fresh = session is None
        request.state.session = session or Sessions.new()
        response: Response = await call_next(request)
        if request.url.path.startswith("/v1/"):
            return response  # the OTLP receiver: exporters, not browsers
        sets_cookie = any(v.startswith("aispend_session=") for v in response.headers.getlist("set-cookie"))
        browser = "authorization" not in request.headers  # API clients with a token need no cookie
        if fresh and browser and not sets_cookie and not request.url.path.startswith(("/static/", "/vendor/")):
            sessions.write(request, response, request.state.session)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app


def _errors(app: FastAPI) -> None:
    """401 or a login redirect; 400 for a bad request; 503 when the ledger is busy; error pages for people."""
    otlp_errors = app.exception_handlers[HTTPException]

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if _is_api(request) or exc.status_code < 400:
            return await otlp_errors(request, exc)
        return page(request, None, "error.html", status_code=exc.status_code, message=str(exc.detail),
                    title=f"Error {exc.status_code}")

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": "login required: send Authorization: Bearer <token> "
                                 "(aispend users token NAME) or log in"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(AispendError)
    async def user_error(request: Request, exc: AispendError) -> Response:
        status = 503 if isinstance(exc, StoreBusy) else 400
        headers = {"Retry-After": "2"} if status == 503 else None
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)
        return page(request, None, "error.html", status_code=status, message=str(exc), title="Error")
