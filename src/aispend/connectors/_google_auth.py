"""Google OAuth2 access tokens for a read-only connector, through google-auth (private).

google-auth does the cryptography and the flows (a service account's signed JWT grant, or
Application Default Credentials: metadata server, workload identity, gcloud); it only needs a
transport, given here over httpx so no second HTTP stack is pulled in. Tokens last about an hour:
:meth:`GoogleToken.get` refreshes one that is expired or about to be, so a long sync never
fails half-way on an old token.
"""

from __future__ import annotations

import json
from typing import Any

import google.auth
import google.auth.exceptions
import google.auth.transport
import httpx
from google.oauth2 import service_account

from ..config import SecretRef
from ..errors import SyncError
from .http import redact

_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class _Response(google.auth.transport.Response):
    def __init__(self, response: httpx.Response):
        self._r = response

    @property
    def status(self) -> int:
        return self._r.status_code

    @property
    def headers(self) -> Any:
        return self._r.headers

    @property
    def data(self) -> bytes:
        return self._r.content


class _Transport(google.auth.transport.Request):
    def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None,
                 timeout: Any = None, **kwargs: Any) -> _Response:
        try:
            with httpx.Client(timeout=timeout or _TIMEOUT, follow_redirects=False) as client:
                return _Response(client.request(method, url, content=body, headers=headers))
        except httpx.HTTPError as exc:
            raise google.auth.exceptions.TransportError(f"{type(exc).__name__}: {exc}") from None


class GoogleToken:
    """A bearer token for ``scope`` from a service-account key (``ref``) or, without one, ADC."""

    def __init__(self, source: str, ref: SecretRef | None, scope: str, hint: str):
        self.source, self.ref, self.scope, self.hint = source, ref, scope, hint
        self.secrets: tuple[str, ...] = ()  # values to redact: the key file and its private key
        self._creds: Any = None

    def _credentials(self) -> Any:
        if self.ref is None:
            try:
                creds, _ = google.auth.default(scopes=[self.scope])
            except google.auth.exceptions.DefaultCredentialsError:
                raise SyncError(f"{self.source}: no credentials configured and no Application Default Credentials "
                                "found: set credentials = { file = \"/path/key.json\" } for a service account, or run "
                                "where ADC exist (GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth application-default "
                                "login`, a workload identity)") from None
            return creds
        text = self.ref.resolve().get_secret_value()
        where = self.ref.describe()
        try:
            info = json.loads(text)
        except ValueError:
            info = None
        if not isinstance(info, dict) or info.get("type") != "service_account":
            raise SyncError(f"{self.source}: the credentials ({where}) are not a service-account key JSON "
                            "(IAM > Service accounts > Keys > Add key > JSON); check the key")
        self.secrets = tuple(s for s in (text, str(info.get("private_key") or "")) if s)
        try:
            return service_account.Credentials.from_service_account_info(info, scopes=[self.scope])
        except (ValueError, KeyError) as exc:
            raise SyncError(f"{self.source}: the service-account key ({where}) is unusable: "
                            f"{redact(str(exc), self.secrets)}; check the key") from None

    def get(self) -> str:
        """A valid access token, fetched or refreshed when needed."""
        if self._creds is None:
            self._creds = self._credentials()
        if not self._creds.valid:  # no token yet, or expired (google-auth keeps a safety margin)
            try:
                self._creds.refresh(_Transport())
            except google.auth.exceptions.GoogleAuthError as exc:
                where = f" ({self.ref.describe()})" if self.ref else ""
                raise SyncError(f"{self.source}: token: Google refused the credentials{where}: "
                                f"{redact(str(exc), self.secrets)[:300]}; {self.hint}") from None
        return str(self._creds.token)
