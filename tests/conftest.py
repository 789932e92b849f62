"""Shared fixtures: a real ledger in a temp dir, the shared samples, and the CLI.

The ledger engine follows ``AISPEND_TEST_STORE`` (see ``tests/stores.py``): DuckDB files by default,
databases on a real PostgreSQL server when it holds an admin URL. Tests reach a ledger through
``ledger_url(name)`` / ``store`` (or, at module scope, ``make_ledger_url(directory, name)``), never
through a hard-coded ``.duckdb`` path, so the same tests run on both engines.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aispend.config import load_settings
from aispend.store import open_store

from .stores import ADMIN_URL, STORE_ENGINE, Ledgers, Template

REPO = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("AISPEND_SAMPLES", REPO.parent / "shared" / "samples"))
FOCUS_SAMPLE = SAMPLES / "FOCUS-Sample-Data" / "FOCUS-1.0" / "focus_sample.csv"

# What a subprocess may inherit besides the non-AISPEND_ environment: where the ledger is.
_PASS_THROUGH = ("AISPEND_STORE_URL",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if STORE_ENGINE == "duckdb":
        return
    skip = pytest.mark.skip(reason="DuckDB-specific")
    for item in items:
        if item.get_closest_marker("duckdb_only"):
            item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> str:
    if STORE_ENGINE == "duckdb":
        return "aispend test store: duckdb"
    from .stores import _redact

    return f"aispend test store: postgres ({_redact(ADMIN_URL or '')})"


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[Template | None]:
    """PostgreSQL mode: the session's migrated template database (made on first use). DuckDB: None."""
    if STORE_ENGINE == "duckdb":
        yield None
        return
    assert ADMIN_URL is not None
    template = Template(ADMIN_URL)
    try:
        yield template
    finally:
        template.drop()


@pytest.fixture(scope="session")
def make_ledger_url(tmp_path_factory: pytest.TempPathFactory,
                    _pg_template: Template | None) -> Iterator[Callable[..., str]]:
    """For module- and session-scoped fixtures: ``make_ledger_url(directory, name="aispend", copy_of=None)``.

    DuckDB: ``<directory>/<name>.duckdb``. PostgreSQL: a fresh migrated database (the same one for the
    same directory and name), dropped at the end of the session.
    """
    ledgers = Ledgers(tmp_path_factory.getbasetemp(), _pg_template)

    def make(directory: Path, name: str = "aispend", *, copy_of: str | None = None) -> str:
        return ledgers.url(name, directory=directory, copy_of=copy_of)

    try:
        yield make
    finally:
        ledgers.close()


@pytest.fixture
def _pg_databases(tmp_path: Path, _pg_template: Template | None) -> Iterator[Ledgers]:
    """This test's ledgers (both engines, despite the name); drops its databases at teardown."""
    ledgers = Ledgers(tmp_path, _pg_template)
    try:
        yield ledgers
    finally:
        ledgers.close()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _pg_databases: Ledgers) -> Path:
    """An empty working directory: no aispend.toml, no ledger, no env overrides.

    PostgreSQL mode: ``$AISPEND_STORE_URL`` points at this test's empty "aispend" database, so whatever
    reads settings (the default ``./aispend.duckdb`` otherwise) uses PostgreSQL.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AISPEND_CONFIG", raising=False)
    monkeypatch.delenv("AISPEND_STORE_URL", raising=False)
    if STORE_ENGINE == "postgres":
        monkeypatch.setenv("AISPEND_STORE_URL", _pg_databases.url("aispend"))
    return tmp_path


@pytest.fixture
def ledger_url(workdir: Path, _pg_databases: Ledgers) -> Callable[..., str]:
    """``ledger_url(name="aispend", *, directory=None, copy_of=None) -> str``: this test's ledger ``name``.

    DuckDB: ``str(workdir / f"{name}.duckdb")`` (``directory`` instead of ``workdir`` if given).
    PostgreSQL: a database made empty (migrated) on first use, the same one for the same name and
    directory, dropped at teardown. ``copy_of``: start it as a copy of another ledger (a file path or
    database URL), on its first use only; on PostgreSQL the source's open sessions are ended first.
    """
    return _pg_databases.url


@pytest.fixture
def settings(workdir: Path):
    return load_settings(None)


@pytest.fixture
def config_ledger(ledger_url: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> str:
    """For tests whose aispend.toml names the ledger in ``store.url``: the URL of the ``store`` fixture's
    ledger, with ``$AISPEND_STORE_URL`` (set by ``workdir`` in PostgreSQL mode) cleared, so the file picks
    the ledger in-process and in ``run_cli`` alike, as it does in DuckDB mode."""
    monkeypatch.delenv("AISPEND_STORE_URL", raising=False)
    return ledger_url("ledger")


@pytest.fixture
def store(ledger_url: Callable[..., str]):
    with open_store(ledger_url("ledger")) as s:
        yield s


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real `aispend` entry point in a subprocess, as a user runs it.

    No ``AISPEND_*`` variable leaks in, except ``AISPEND_STORE_URL`` when the test process has it (the
    ``workdir`` fixture sets it in PostgreSQL mode); ``PGPASSWORD`` and friends pass as any other
    variable does. ``env`` wins over both.
    """
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AISPEND_") or k in _PASS_THROUGH}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "aispend", *args], check=False, cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300)
