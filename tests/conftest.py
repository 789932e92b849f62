"""Shared fixtures: a real DuckDB ledger in a temp dir, the shared samples, and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aispend.config import load_settings
from aispend.store import open_store

REPO = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("AISPEND_SAMPLES", REPO.parent / "shared" / "samples"))
FOCUS_SAMPLE = SAMPLES / "FOCUS-Sample-Data" / "FOCUS-1.0" / "focus_sample.csv"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory: no aispend.toml, no ledger, no env overrides."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AISPEND_CONFIG", raising=False)
    monkeypatch.delenv("AISPEND_STORE_URL", raising=False)
    return tmp_path


@pytest.fixture
def settings(workdir: Path):
    return load_settings(None)


@pytest.fixture
def store(workdir: Path):
    with open_store(str(workdir / "ledger.duckdb")) as s:
        yield s


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real `aispend` entry point in a subprocess, as a user runs it."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AISPEND_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "aispend", *args], check=False, cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300)
