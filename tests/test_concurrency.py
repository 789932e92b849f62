"""Several processes on one DuckDB ledger at once: the dashboard serving, a sync, an import and a
report. DuckDB allows one writer, so they take turns (commands wait up to store.wait_seconds, the
server opens the ledger per request and answers 503 + Retry-After while it is held): no error,
and the ledger ends exactly as the same work done one after the other. On PostgreSQL
(AISPEND_TEST_STORE) the same processes write at once, and must end the same way."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from aispend.config import load_settings
from aispend.store import open_store

from .conftest import run_cli
from .fakes.openai_server import FakeOpenAI
from .serving import serving
from .sync_helpers import ledger, write_config

COSTS = Path(__file__).parent / "fixtures" / "openai" / "costs_pages.json"
WINDOW = ("--start", "2026-01-01", "--end", "2026-01-20")


def _config(workdir: Path, fake: FakeOpenAI) -> None:
    write_config(workdir, {"oai": {"type": "openai", "api_key": {"env": "OAI_ADMIN"}, "base_url": fake.base_url}})


def _cli(workdir: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    full = {k: v for k, v in __import__("os").environ.items() if not k.startswith("AISPEND_")} | env
    return subprocess.Popen([sys.executable, "-m", "aispend", *args], cwd=workdir, env=full, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_serve_sync_import_and_report_at_once_lose_and_double_nothing(tmp_path, monkeypatch, ledger_url):
    monkeypatch.delenv("AISPEND_CONFIG", raising=False)
    with FakeOpenAI(seed=3) as fake:
        # each directory's own default ledger (DuckDB: its ./aispend.duckdb), named to every process
        sequential, together = tmp_path / "sequential", tmp_path / "together"
        sequential_url = ledger_url("aispend", directory=sequential)
        together_url = ledger_url("aispend", directory=together)
        env = {"OAI_ADMIN": fake.key, "AISPEND_STORE_URL": sequential_url}
        # the same work, one step after the other: the reference
        sequential.mkdir()
        _config(sequential, fake)
        assert run_cli("sync", *WINDOW, cwd=sequential, env=env).returncode == 0
        assert run_cli("import", str(COSTS), "--source", "file", cwd=sequential, env=env).returncode == 0
        with open_store(sequential_url) as store:
            expected = ledger(store)

        together.mkdir()
        _config(together, fake)
        open_store(together_url).close()
        monkeypatch.chdir(together)
        monkeypatch.setenv("AISPEND_STORE_URL", together_url)  # the server's settings and the last report
        env["AISPEND_STORE_URL"] = together_url
        statuses: list[int] = []
        stop = threading.Event()
        with serving(load_settings(together / "aispend.toml")) as base:
            def poll() -> None:
                with httpx.Client(timeout=30) as client:
                    while not stop.is_set():
                        statuses.append(client.get(f"{base}/api/v1/report", params={"by": "source"}).status_code)
                        time.sleep(0.02)

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            procs = [_cli(together, env, "sync", *WINDOW),
                     _cli(together, env, "import", str(COSTS), "--source", "file"),
                     _cli(together, env, "report", "--by", "source", "--format", "json")]
            outs = [p.communicate(timeout=240) for p in procs]
            time.sleep(0.3)
            stop.set()
            poller.join(30)
            final_api = httpx.get(f"{base}/api/v1/report", params={"by": "source"}, timeout=30).json()
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    assert statuses and set(statuses) <= {200, 503}, set(statuses)  # busy is said, never an error
    assert 200 in statuses
    print(f"API answers while the others ran: {statuses.count(200)} x 200, {statuses.count(503)} x 503")
    with open_store(together_url) as store:
        assert ledger(store) == expected  # nothing lost, nothing counted twice
        total, unique = store.query("SELECT count(*), count(DISTINCT row_id) FROM ledger")[0]
    assert total == unique
    cli = json.loads(run_cli("report", "--by", "source", "--format", "json", cwd=together).stdout)
    assert final_api == cli
