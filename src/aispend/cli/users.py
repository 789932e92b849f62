"""``aispend users add|list|remove|token``: who may use the dashboard and the API (docs/dashboard.md)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..errors import AispendError
from .common import FormatOpt, OutFormat, _emit, _settings, _store, app, err

users_app = typer.Typer(help="Dashboard and API users: admin, viewer, or a viewer scoped to one team (--owner).",
                        no_args_is_help=True)
app.add_typer(users_app, name="users")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise AispendError("no terminal to ask for the password: pass --password-stdin and pipe it in")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def add_cmd(
    username: Annotated[str, typer.Argument(help="Login name (one word).")],
    role: Annotated[str, typer.Option(help="admin (everything, sign-off, accept) or viewer (read only).")] = "viewer",
    owner: Annotated[str | None, typer.Option(help="Scope a viewer to this team: they see only owner=TEAM's costs.")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")] = False,
) -> None:
    """Add a user; the password is asked for twice (or read with --password-stdin) and stored as an argon2id hash."""
    from ..server.users import add_user

    password = _password(password_stdin)
    with _store(_settings()) as store:
        user = add_user(store, username, password, role, owner)
    scope = f", sees only owner={user.owner}" if user.owner else ""
    err.print(f"added {user.username} ({user.role}{scope})", highlight=False, markup=False)


@users_app.command("list")
def list_cmd(fmt: FormatOpt = OutFormat.table) -> None:
    """Users: name, role, owner scope, when added, API tokens (never a password hash or a token)."""
    from ..server.users import list_users

    with _store(_settings()) as store:
        rows = [u.as_dict() for u in list_users(store)]
    _emit(rows, ["username", "role", "owner", "created_at", "tokens"], fmt, title="Users")


@users_app.command("remove")
def remove_cmd(username: Annotated[str, typer.Argument(help="The user to remove, with their API tokens.")]) -> None:
    """Remove a user and their API tokens; their open sessions stop working at once."""
    from ..server.users import remove_user

    with _store(_settings()) as store:
        remove_user(store, username)
    err.print(f"removed {username}", highlight=False, markup=False)


@users_app.command("token")
def token_cmd(
    username: Annotated[str | None, typer.Argument(help="Make an API token for this user.")] = None,
    label: Annotated[str | None, typer.Option(help="What the token is for (shown in --list).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List API tokens (ids and labels, never the tokens).")] = False,
    revoke: Annotated[str | None, typer.Option(metavar="TOKEN_ID", help="Revoke the token with this id.")] = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Make an API token (printed once on stdout: store it now), list tokens, or revoke one.

    Use it as `Authorization: Bearer TOKEN` against /api/v1; it acts with its user's role and scope.
    Only a SHA-256 of the token is stored.
    """
    from ..server.users import create_token, list_tokens, revoke_token

    with _store(_settings()) as store:
        if revoke:
            revoke_token(store, revoke)
            err.print(f"revoked token {revoke}", highlight=False, markup=False)
            return
        if list_ or username is None:
            rows = [{"token_id": t.token_id, "username": t.username, "label": t.label, "created_at": t.created_at}
                    for t in list_tokens(store, username)]
            _emit(rows, ["token_id", "username", "label", "created_at"], fmt, title="API tokens")
            return
        token, value = create_token(store, username, label)
    err.print(f"token {token.token_id} for {token.username}: shown once, store it now", highlight=False, markup=False)
    typer.echo(value)
