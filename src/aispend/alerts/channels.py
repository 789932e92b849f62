"""Send one outbox row to its channel: Slack, Teams, a signed webhook, or SMTP.

Each send makes up to ``TRIES`` attempts a second or so apart (``Retry-After`` honoured up to
``MAX_WAIT``) for what is worth retrying now: HTTP 429 and 5xx, a refused or dropped connection, an
SMTP 4xx. Anything else (a 4xx, a bad password, an untrusted certificate) fails at once. Either
way a failure is a :class:`DeliveryError` whose text names the channel and never holds a secret:
webhook URLs (a Slack URL is its own credential), signing keys and passwords are resolved here,
at send time, and masked out of every message.

**Webhook signature**: ``X-Aispend-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` keyed with
the channel's ``signing_key``; ``X-Aispend-Timestamp`` repeats the body's (signed) ``timestamp``;
``X-Aispend-Delivery`` is the outbox row id, stable across retries, so a receiver can drop a
repeat. Verification is shown in docs/budgets-alerts.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx

from ..config import AlertChannel
from ..connectors.http import redact, retry_after_seconds
from ..errors import AispendError
from . import render
from .outbox import Delivery

TRIES = 3
BASE_DELAY = 0.5  # seconds, doubled per try
MAX_WAIT = 10.0
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")  # an owner that is an address (not "@team" or "search")


class DeliveryError(AispendError):
    def __init__(self, message: str, tries: int = 1):
        super().__init__(message)
        self.tries = tries


def signature(key: bytes, body: bytes) -> str:
    """The ``X-Aispend-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def send(channel: AlertChannel, delivery: Delivery, *, sleep: Callable[[float], None] = time.sleep,
         clock: Callable[[], float] = time.time) -> int:
    """Deliver; return the tries it took, or raise :class:`DeliveryError`."""
    secrets: list[str] = []
    try:
        if channel.type == "email":
            return _email(channel, delivery, secrets, sleep)
        url = channel.url.resolve().get_secret_value() if channel.url else ""
        secrets.append(url)
        headers = {"Content-Type": "application/json", "User-Agent": "aispend-alerts",
                   "X-Aispend-Delivery": delivery.id}
        if channel.type == "slack":
            payload: dict[str, Any] = render.slack(delivery.message)
        elif channel.type == "teams":
            payload = render.teams(delivery.message)
        else:
            stamp = int(clock())
            payload = render.webhook(delivery.message, delivery_id=delivery.id, kind=delivery.kind,
                                     rule=delivery.rule, scope=delivery.scope, period=delivery.period,
                                     level=delivery.level, level_label=delivery.level_label, timestamp=stamp)
            headers["X-Aispend-Timestamp"] = str(stamp)
        body = json.dumps(payload, separators=(",", ":")).encode()
        if channel.type == "webhook" and channel.signing_key is not None:
            key = channel.signing_key.resolve().get_secret_value()
            secrets.append(key)
            headers["X-Aispend-Signature"] = signature(key.encode(), body)
        return _post(channel, url, body, headers, secrets, sleep)
    except DeliveryError as exc:
        raise DeliveryError(redact(str(exc), secrets), exc.tries) from None
    except AispendError as exc:  # a secret reference that does not resolve
        raise DeliveryError(f"channel {channel.name}: {redact(str(exc), secrets)}") from None
    except Exception as exc:  # noqa: BLE001 - one channel's surprise must not stop the others' deliveries
        raise DeliveryError(f"channel {channel.name}: unexpected {type(exc).__name__}: "
                            f"{redact(str(exc), secrets)}") from None


def _post(channel: AlertChannel, url: str, body: bytes, headers: dict[str, str], secrets: list[str],
          sleep: Callable[[float], None]) -> int:
    where = f"channel {channel.name} ({channel.type})"
    timeout = httpx.Timeout(channel.timeout_seconds).as_dict()
    # A bare transport, not an httpx.Client: the client logs each request's full URL at INFO, and a
    # webhook URL is a secret.
    with httpx.HTTPTransport() as transport:
        for attempt in range(1, TRIES + 1):
            retry_after = None
            try:
                request = httpx.Request("POST", url, content=body, headers=headers, extensions={"timeout": timeout})
                response = transport.handle_request(request)
                try:
                    response.read()
                finally:
                    response.close()
            except httpx.InvalidURL:
                raise DeliveryError(f"{where}: its url is not a valid http(s) URL (the value is not shown)",
                                    attempt) from None
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {redact(str(exc), secrets) or 'no response'}"
            else:
                if response.is_success:
                    return attempt
                text = " ".join(response.text.split())[:200]
                problem = f"HTTP {response.status_code} {response.reason_phrase}" + (f": {text}" if text else "")
                if response.status_code not in RETRY_STATUSES:
                    raise DeliveryError(f"{where}: {redact(problem, secrets)}; {_hint(response.status_code)}", attempt)
                retry_after = retry_after_seconds(response.headers.get("retry-after"))
            if attempt == TRIES:
                raise DeliveryError(f"{where}: {redact(problem, secrets)} (after {TRIES} tries)", attempt)
            sleep(min(retry_after if retry_after is not None else BASE_DELAY * 2 ** (attempt - 1), MAX_WAIT))
    raise AssertionError("unreachable")


def _hint(status: int) -> str:
    if status in (401, 403, 404, 410):
        return "the webhook URL is wrong, revoked or its channel gone: update the secret it is read from"
    return "the receiver refused the message"


def _email(channel: AlertChannel, d: Delivery, secrets: list[str], sleep: Callable[[float], None]) -> int:
    where = f"channel {channel.name} (email via {channel.smtp_host}:{channel.smtp_port})"
    password = channel.password.resolve().get_secret_value() if channel.password else None
    if password:
        secrets.append(password)
    to = list(dict.fromkeys([*channel.to, *(o for o in d.message.owners if _EMAIL.match(o))]))
    if not to:
        raise DeliveryError(f"{where}: no recipients: set `to` on the channel or give owners email addresses")
    assert channel.sender and channel.smtp_host  # the settings model checks it
    message = render.email(d.message, sender=channel.sender, to=to, message_id=f"<{d.id}@aispend>")
    context = ssl.create_default_context(cafile=channel.ca_file) if channel.security != "none" else None
    for attempt in range(1, TRIES + 1):
        try:
            smtp_class = smtplib.SMTP_SSL if channel.security == "tls" else smtplib.SMTP
            kwargs: dict[str, Any] = {"context": context} if channel.security == "tls" else {}
            with smtp_class(channel.smtp_host, channel.smtp_port, timeout=channel.timeout_seconds, **kwargs) as smtp:
                if channel.security == "starttls":
                    smtp.starttls(context=context)
                if channel.username:
                    smtp.login(channel.username, password or "")
                smtp.send_message(message)
            return attempt
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"{where}: authentication as {channel.username} refused "
                                f"({exc.smtp_code}); check the password's secret", attempt) from None
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(f"{where}: the server's TLS certificate is not trusted ({exc.verify_message}); "
                                "set ca_file to its CA", attempt) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"{where}: {exc}; check security (starttls, tls or none)", attempt) from None
        except smtplib.SMTPResponseException as exc:
            problem = f"SMTP {exc.smtp_code} {exc.smtp_error.decode(errors='replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}"
            if not 400 <= exc.smtp_code < 500 or attempt == TRIES:
                raise DeliveryError(f"{where}: {problem}", attempt) from None
        except (smtplib.SMTPException, OSError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
            if attempt == TRIES:
                raise DeliveryError(f"{where}: {problem} (after {TRIES} tries)", attempt) from None
        sleep(min(BASE_DELAY * 2 ** (attempt - 1), MAX_WAIT))
    raise AssertionError("unreachable")
