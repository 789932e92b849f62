"""Bearer-token auth for the OTLP receiver, and the loopback rule.

With ``[events] receiver_token = { env = "NAME" }`` (or ``{ file = "/path" }``) every request to
``/v1/*`` must send ``Authorization: Bearer <token>``; OTel exporters send it with
``OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer <token>"``. Without a token the server only
listens on a loopback address: ``aispend serve --host 0.0.0.0`` refuses to start. (Dashboard and
API users log in or send their own tokens: see :mod:`.access`.)
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from fastapi import HTTPException, Request
from pydantic import SecretStr

from ..config import Settings
from ..errors import ConfigError


@dataclass(frozen=True)
class BearerAuth:
    token: SecretStr | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> BearerAuth:
        ref = settings.events.receiver_token
        return cls(ref.resolve() if ref else None)

    def check(self, request: Request) -> None:
        """Raise 401 unless the request carries the configured token (no token: every request passes)."""
        if self.token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = self.token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, settings: Settings) -> None:
    """Refuse to listen beyond this machine without a token."""
    if not is_loopback(host) and settings.events.receiver_token is None:
        raise ConfigError(
            f"--host {host} is reachable from other machines: set [events] receiver_token = "
            '{ env = "AISPEND_RECEIVER_TOKEN" } in aispend.toml (senders pass it as a bearer token), '
            "or listen on 127.0.0.1"
        )
