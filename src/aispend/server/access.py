"""Who is asking: sessions, API tokens, the loopback rule, CSRF tokens and the login rate limit.

A request is made by a :class:`Principal`, found in this order:

1. ``Authorization: Bearer asp_...``: an API token (``aispend users token NAME``);
2. the ``aispend_session`` cookie, signed (itsdangerous) and at most ``session_hours`` old, naming a
   user who still exists;
3. nobody: allowed, as a local admin, only when login is not required, which means all of: no
   ``[dashboard] require_login``, the server not started on a non-loopback host, the connection
   arriving on a loopback address, no proxy forwarding headers (a reverse proxy on this machine
   connects from 127.0.0.1 on behalf of anyone), and a loopback ``Host`` header (so a web page
   whose name resolves to 127.0.0.1 cannot read the dashboard: DNS rebinding).

Every browser gets a session cookie (a random ``sid``, and a user once logged in); a form's CSRF
token is the sid signed with another salt, so a page on another site can neither read nor forge it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request, Response
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

from ..config import Settings
from ..store import Store
from .auth import is_loopback
from .users import token_user, user_by_id

COOKIE = "aispend_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_FORWARDING = ("forwarded", "x-forwarded-for", "x-real-ip", "x-forwarded-host")


class LoginRequired(Exception):
    """No valid credentials where login is required."""


@dataclass(frozen=True)
class Principal:
    username: str
    role: str  # admin | viewer
    owner: str | None = None  # an owner-scoped viewer sees only this team's costs
    via: str = "session"  # session | token | local

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def as_dict(self) -> dict[str, Any]:
        return {"username": self.username, "role": self.role, "owner": self.owner, "via": self.via}


LOCAL = Principal("local", "admin", None, "local")


@dataclass
class Session:
    sid: str
    user_id: str | None = None


class Sessions:
    """Signed session cookies and the CSRF tokens derived from them."""

    def __init__(self, secret: str, max_age_seconds: int):
        self._cookie = URLSafeTimedSerializer(secret, salt="aispend-session")
        self._csrf = URLSafeSerializer(secret, salt="aispend-csrf")
        self.max_age = max_age_seconds

    def read(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self._cookie.loads(raw, max_age=self.max_age)
        except BadSignature:  # also an expired one (SignatureExpired is a BadSignature)
            return None
        return Session(str(data.get("sid")), data.get("uid")) if isinstance(data, dict) and data.get("sid") else None

    def write(self, request: Request, response: Response, session: Session) -> None:
        value = self._cookie.dumps({"sid": session.sid, "uid": session.user_id})
        response.set_cookie(COOKIE, value, max_age=self.max_age, httponly=True, samesite="lax",
                            secure=secure_cookies(request), path="/")

    @staticmethod
    def new(user_id: str | None = None) -> Session:
        return Session(secrets.token_urlsafe(24), user_id)

    def csrf_token(self, session: Session) -> str:
        return self._csrf.dumps(session.sid)

    def check_csrf(self, request: Request, token: str | None) -> None:
        """Raise 403 unless ``token`` was made for this browser's session."""
        session = self.read(request)
        try:
            ok = session is not None and token is not None and self._csrf.loads(token) == session.sid
        except BadSignature:
            ok = False
        if not ok:
            raise HTTPException(403, "missing or stale CSRF token: reload the page and try again")


def secure_cookies(request: Request) -> bool:
    """Secure cookies over https, and whenever the server is reachable beyond this machine."""
    return request.url.scheme == "https" or not _local_connection(request)


def _local_connection(request: Request) -> bool:
    server = request.scope.get("server") or ("", None)
    app_host = getattr(request.app.state, "host", None)
    return (is_loopback(str(server[0])) and (app_host is None or is_loopback(app_host))
            and not any(h in request.headers for h in _FORWARDING))


def login_required(request: Request, settings: Settings) -> bool:
    """Whether this request must come from a logged-in user (see the module docstring)."""
    if settings.dashboard.require_login or not _local_connection(request):
        return True
    host = request.headers.get("host", "")
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return not is_loopback(name)


def bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def resolve(request: Request, store: Store, settings: Settings, sessions: Sessions) -> Principal:
    """The principal of ``request`` (see the module docstring); raise LoginRequired or 401."""
    token = bearer(request)
    if token is not None:
        user = token_user(store, token)
        if user is None:
            raise HTTPException(401, "unknown or revoked API token", headers={"WWW-Authenticate": "Bearer"})
        return Principal(user.username, user.role, user.owner, "token")
    session = sessions.read(request)
    if session is not None and session.user_id:
        user = user_by_id(store, session.user_id)
        if user is not None:
            return Principal(user.username, user.role, user.owner, "session")
    if login_required(request, settings):
        raise LoginRequired
    return LOCAL


class LoginLimiter:
    """At most ``limit`` failed logins per (user name, client address) in any ``window`` seconds."""

    def __init__(self, limit: int, window: float = 60.0):
        self.limit, self.window = limit, window
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures[key]
        while times and now - times[0] >= self.window:
            times.popleft()
        return times

    def retry_after(self, username: str, client: str) -> int:
        """Seconds to wait before trying again (0: go ahead)."""
        now = time.monotonic()
        with self._lock:
            times = self._recent((username.lower(), client), now)
            return int(self.window - (now - times[0])) + 1 if len(times) >= self.limit else 0

    def failed(self, username: str, client: str) -> None:
        with self._lock:
            self._recent((username.lower(), client), time.monotonic()).append(time.monotonic())

    def succeeded(self, username: str, client: str) -> None:
        with self._lock:
            self._failures.pop((username.lower(), client), None)
