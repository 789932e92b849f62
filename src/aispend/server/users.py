"""Dashboard users and API tokens, in the ledger's ``users`` and ``api_tokens`` tables (migration 11).

* Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second recommendation);
  a hash is read only to verify one, and never leaves this module.
* API tokens are 256 random bits, shown once when made; only their SHA-256 is stored (a token is
  not a guessable password, so a fast hash is the right one: every API call looks one up).
* Roles: ``admin`` (everything, including sign-off and accepting recommendations) and ``viewer``
  (read only); a viewer with an ``owner`` sees only that team's costs (see :mod:`.scoped`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..errors import AispendError
from ..store import Store

ROLES = ("admin", "viewer")
TOKEN_PREFIX = "asp_"
MIN_PASSWORD = 10
_HASHER = PasswordHasher()
# Verified against when the user does not exist, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


class UserError(AispendError):
    pass


@dataclass(frozen=True)
class User:
    """A user as the rest of aispend sees one: never the password hash."""

    user_id: str
    username: str
    role: str
    owner: str | None
    created_at: datetime
    tokens: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"username": self.username, "role": self.role, "owner": self.owner, "created_at": self.created_at,
                "tokens": self.tokens}


@dataclass(frozen=True)
class Token:
    token_id: str
    username: str
    label: str | None
    created_at: datetime


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(store: Store, username: str, password: str, role: str = "viewer", owner: str | None = None) -> User:
    """Create a user; ``owner`` makes a viewer see only that team's costs."""
    username = username.strip()
    if not username or any(c.isspace() for c in username):
        raise UserError(f"user name {username!r} must be one word")
    if role not in ROLES:
        raise UserError(f"role {role!r}: choose {' or '.join(ROLES)}")
    if owner is not None and (role != "viewer" or not owner.strip()):
        raise UserError("--owner scopes a viewer to one team: give --role viewer and a team name")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    if get_user(store, username) is not None:
        raise UserError(f"user {username!r} exists: remove it first (`aispend users remove {username}`)")
    user = User(uuid.uuid4().hex, username, role, owner.strip() if owner else None, _now())
    with store.transaction() as tx:
        tx.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)",
                   [user.user_id, user.username, user.role, user.owner, _HASHER.hash(password), user.created_at])
    return user


def get_user(store: Store, username: str) -> User | None:
    rows = store.query("SELECT user_id, username, role, owner, created_at FROM users WHERE username = ?", [username])
    return User(*rows[0]) if rows else None


def user_by_id(store: Store, user_id: str) -> User | None:
    rows = store.query("SELECT user_id, username, role, owner, created_at FROM users WHERE user_id = ?", [user_id])
    return User(*rows[0]) if rows else None


def list_users(store: Store) -> list[User]:
    rows = store.query(
        "SELECT u.user_id, u.username, u.role, u.owner, u.created_at, count(t.token_id) FROM users u "
        "LEFT JOIN api_tokens t USING (user_id) GROUP BY ALL ORDER BY u.username")
    return [User(*r) for r in rows]


def remove_user(store: Store, username: str) -> User:
    """Delete the user and every API token of theirs; their sessions end at their next request."""
    user = get_user(store, username)
    if user is None:
        raise UserError(f"no user {username!r} (`aispend users list` shows them)")
    with store.transaction() as tx:
        tx.execute("DELETE FROM api_tokens WHERE user_id = ?", [user.user_id])
        tx.execute("DELETE FROM users WHERE user_id = ?", [user.user_id])
    return user


def has_users(store: Store) -> bool:
    return bool(store.query("SELECT count(*) FROM users")[0][0])


def authenticate(store: Store, username: str, password: str) -> User | None:
    """The user if the password is theirs, else None (as slow either way)."""
    rows = store.query("SELECT user_id, password_hash FROM users WHERE username = ?", [username])
    stored = rows[0][1] if rows else _DUMMY_HASH
    try:
        ok = _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        ok = False
    return user_by_id(store, rows[0][0]) if ok and rows else None


def create_token(store: Store, username: str, label: str | None = None) -> tuple[Token, str]:
    """A new API token for the user: (its record, the token itself: shown once, never stored)."""
    user = get_user(store, username)
    if user is None:
        raise UserError(f"no user {username!r} (`aispend users list` shows them)")
    value = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = Token(uuid.uuid4().hex[:12], user.username, label, _now())
    with store.transaction() as tx:
        tx.execute("INSERT INTO api_tokens VALUES (?, ?, ?, ?, ?)",
                   [token.token_id, user.user_id, label, _token_hash(value), token.created_at])
    return token, value


def list_tokens(store: Store, username: str | None = None) -> list[Token]:
    sql = ("SELECT t.token_id, u.username, t.label, t.created_at FROM api_tokens t JOIN users u USING (user_id)"
           + (" WHERE u.username = ?" if username else "") + " ORDER BY u.username, t.created_at")
    return [Token(*r) for r in store.query(sql, [username] if username else [])]


def revoke_token(store: Store, token_id: str) -> None:
    if not store.query("SELECT 1 FROM api_tokens WHERE token_id = ?", [token_id]):
        raise UserError(f"no API token {token_id!r} (`aispend users token --list` shows them)")
    with store.transaction() as tx:
        tx.execute("DELETE FROM api_tokens WHERE token_id = ?", [token_id])


def token_user(store: Store, token: str) -> User | None:
    """The user an API token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    digest = _token_hash(token)
    rows = store.query("SELECT user_id, token_hash FROM api_tokens WHERE token_hash = ?", [digest])
    if not rows or not hmac.compare_digest(rows[0][1], digest):
        return None
    return user_by_id(store, rows[0][0])
