"""Where the tests' ledgers live: DuckDB files (default) or databases on a real PostgreSQL server.

``AISPEND_TEST_STORE`` unset or ``duckdb``: every ledger is a ``<name>.duckdb`` file in the test's
directory, as always. Otherwise it is a PostgreSQL *admin* URL (``postgresql://aispend@localhost:5432/postgres``;
the password, if any, comes from ``$PGPASSWORD``, never from a file): every ledger is a fresh database
``t_<id>_<name>`` cloned from a template migrated once per session, dropped when its owner is done.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

_SPEC = os.environ.get("AISPEND_TEST_STORE", "").strip()
STORE_ENGINE = "duckdb" if _SPEC.lower() in ("", "duckdb") else "postgres"
ADMIN_URL: str | None = _SPEC if STORE_ENGINE == "postgres" else None
if ADMIN_URL is not None and not ADMIN_URL.startswith(("postgresql://", "postgres://")):
    raise RuntimeError(f"AISPEND_TEST_STORE must be 'duckdb' or a postgresql:// admin URL, not {ADMIN_URL!r}")

# The ledger's columns in order, on either engine (DESCRIBE and pragma_table_info are DuckDB's).
LEDGER_COLUMNS_SQL = ("SELECT column_name FROM information_schema.columns WHERE table_name = 'ledger' "
                      "AND table_schema = current_schema() ORDER BY ordinal_position")

_MAX_NAME = 63  # PostgreSQL's identifier limit (NAMEDATALEN - 1)


def database_url(admin_url: str, database: str) -> str:
    """``admin_url`` pointing at ``database`` instead (same user, host, port, options)."""
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def database_name(name: str, prefix: str = "t") -> str:
    """``<prefix>_<short unique id>_<name>``: lowercase, only [a-z0-9_], at most 63 characters."""
    clean = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "ledger"
    head = f"{prefix}_{uuid.uuid4().hex[:10]}_"
    return head + clean[: _MAX_NAME - len(head)]


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _admin(admin_url: str):
    import psycopg  # local: only PostgreSQL mode needs it

    return psycopg.connect(admin_url, autocommit=True)


def _disconnect(con, database: str) -> None:
    """End every other session on ``database`` (a clone's source must have none)."""
    con.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [database])


def _migrate(url: str) -> None:
    from aispend.store import open_store

    open_store(url).close()


class Template:
    """The session's migrated template database, made on first use, dropped by :meth:`drop`."""

    def __init__(self, admin_url: str, migrate: Callable[[str], None] = _migrate) -> None:
        self.admin_url, self._migrate = admin_url, migrate
        self.name: str | None = None
        self._ready, self._failed = False, None
        self._free: list[str] = []
        self._pooled: set[str] = set()
        self._shape: set[str] | None = None
        self._versions: int | None = None

    def get(self) -> str:
        if self._failed is not None:  # every later test fails the same way, not on an unmigrated copy
            raise RuntimeError(f"the template database could not be made: {self._failed}") from self._failed
        if not self._ready:
            try:
                name = database_name("template", prefix="tpl")
                with _admin(self.admin_url) as con:
                    con.execute(f"CREATE DATABASE {_quote(name)}")
                self.name = name  # from here on drop() cleans it up, even if migrating fails
                self._migrate(database_url(self.admin_url, name))
                with _admin(database_url(self.admin_url, name)) as con:  # what a clean clone holds
                    self._shape = {t for (t,) in con.execute(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
                    self._versions = con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
                with _admin(self.admin_url) as con:
                    _disconnect(con, name)  # a clone's source must have no session
                    con.execute(f"ALTER DATABASE {_quote(name)} WITH ALLOW_CONNECTIONS false")
            except Exception as exc:
                self._failed = exc
                raise
            self._ready = True
        assert self.name is not None
        return self.name

    # CREATE DATABASE costs ~0.4 s; emptying a used one ~20 ms. So a test's database goes back to
    # a pool, emptied, and the next test takes it: the same clean, migrated ledger a clone gives.

    def checkout(self) -> str:
        """A clean, migrated database of the template's shape: a pooled one, else a new clone."""
        if self._free:
            return self._free.pop()
        source = self.get()
        db = database_name("ledger", prefix="t")
        with _admin(self.admin_url) as con:
            con.execute(f"CREATE DATABASE {_quote(db)} TEMPLATE {_quote(source)}")
        self._pooled.add(db)
        return db

    def checkin(self, db: str) -> None:
        """Empty ``db`` for the next test; drop it instead when it is not simply the template plus rows."""
        import psycopg

        try:
            with _admin(self.admin_url) as admin:
                _disconnect(admin, db)  # a server or store the test left open
            with _admin(database_url(self.admin_url, db)) as con:
                con.execute("SET lock_timeout = '5s'")
                tables = {t for (t,) in con.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
                versions = con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
                if tables != self._tables() or versions != self._versions:
                    raise RuntimeError("schema changed")
                rows = tables - _KEPT
                con.execute(f"TRUNCATE {', '.join(_quote(t) for t in sorted(rows))}")
        except (RuntimeError, psycopg.Error):  # changed, or held by something still running: start afresh
            self._pooled.discard(db)
            with _admin(self.admin_url) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {_quote(db)} WITH (FORCE)")
            return
        self._free.append(db)

    def _tables(self) -> set[str]:
        assert self._shape is not None  # read by get(), which every pooled database came through
        return self._shape

    def drop(self) -> None:
        with _admin(self.admin_url) as con:
            for db in [*self._pooled, *([self.name] if self.name else [])]:
                con.execute(f"DROP DATABASE IF EXISTS {_quote(db)} WITH (FORCE)")
        self._pooled.clear()
        self._free.clear()
        self.name = None


_KEPT = {"schema_migrations", "compat_functions"}  # what a migration writes: the same in every clone


class Ledgers:
    """Ledger URLs by name for one owner (a test, a module, the session); :meth:`close` removes them.

    DuckDB: ``<directory>/<name>.duckdb`` (nothing to remove: the directory is pytest's).
    PostgreSQL: the first call for a name creates an empty, migrated database; later calls return
    the same URL; :meth:`close` drops every database this object created.
    """

    def __init__(self, directory: Path, template: Template | None = None) -> None:
        self.directory, self.template = Path(directory), template
        self._urls: dict[tuple[Path, str], str] = {}
        self._created: list[str] = []  # copies: dropped by close()
        self._pooled: list[str] = []  # from the template's pool: emptied and given back by close()

    def url(self, name: str = "aispend", *, directory: Path | None = None, copy_of: str | None = None) -> str:
        """The ledger called ``name``; ``copy_of``: create it as a copy of the ledger at that URL/path."""
        where = Path(directory) if directory is not None else self.directory
        key = (where, name)
        if key in self._urls:
            if copy_of is not None:
                raise RuntimeError(f"ledger {name!r} already exists; copy_of= must come with its first use")
            return self._urls[key]
        if STORE_ENGINE == "duckdb":
            url = str(where / f"{name}.duckdb")
            if copy_of is not None:
                shutil.copy(copy_of, url)
        else:
            assert ADMIN_URL is not None and self.template is not None
            if copy_of is None:
                db = self.template.checkout()
                self._pooled.append(db)
            else:
                source, db = _database_of(copy_of), database_name(name)
                with _admin(ADMIN_URL) as con:
                    _disconnect(con, source)
                    con.execute(f"CREATE DATABASE {_quote(db)} TEMPLATE {_quote(source)}")
                self._created.append(db)
            url = database_url(ADMIN_URL, db)
        self._urls[key] = url
        return url

    __call__ = url

    def close(self) -> None:
        for db in reversed(self._pooled):
            assert self.template is not None
            self.template.checkin(db)
        self._pooled.clear()
        if self._created:
            assert ADMIN_URL is not None
            with _admin(ADMIN_URL) as con:
                for db in reversed(self._created):
                    con.execute(f"DROP DATABASE IF EXISTS {_quote(db)} WITH (FORCE)")
        self._created.clear()
        self._urls.clear()


def _database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def toml_str(value: str) -> str:
    """``value`` as a TOML basic string (a Windows path or a URL with odd characters stays intact)."""
    import json

    return json.dumps(value)


def _redact(url: str) -> str:
    """Hide a password in a URL before it reaches a message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
