"""The store contract on a real ledger (DuckDB file or PostgreSQL database): atomic replace of a window, rollback,
migrations."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest

from aispend.errors import StoreError
from aispend.schema import ARROW_SCHEMA
from aispend.store import open_store


def rows(source: str, days: range, cost: str) -> pa.Table:
    base = datetime(2026, 11, 1)
    out = []
    for d in days:
        row = {c: None for c in ARROW_SCHEMA.names}
        row.update(row_id=f"{source}-{d}", source=source, period_start=base + timedelta(days=d),
                   period_end=base + timedelta(days=d + 1), provider="openai", billed_cost=Decimal(cost),
                   cost_usd=Decimal(cost), billing_currency="USD", cost_source="billed")
        out.append(row)
    return pa.Table.from_pylist(out, schema=ARROW_SCHEMA)


def totals(store) -> dict:
    return dict(store.query("SELECT source, sum(cost_usd) FROM ledger GROUP BY 1"))


def test_replacing_a_window_converges_on_restated_days(store):
    with store.transaction() as tx:
        tx.append("ledger", rows("a", range(10), "1.10"))
        tx.append("ledger", rows("b", range(10), "2"))
    # The vendor restates days 5-9 of source a: re-pulling the window replaces them.
    for _ in range(2):
        with store.transaction() as tx:
            assert tx.delete_window("a", datetime(2026, 11, 6), datetime(2026, 11, 11)) == 5
            tx.append("ledger", rows("a", range(5, 10), "1.25"))
    assert totals(store) == {"a": Decimal("11.75"), "b": Decimal(20)}


def test_a_failed_write_leaves_the_ledger_as_it_was(store):
    with store.transaction() as tx:
        tx.append("ledger", rows("a", range(3), "1"))
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.delete_window("a", datetime(2026, 11, 1), datetime(2026, 12, 1))
        tx.append("ledger", rows("a", range(3), "9"))
        raise RuntimeError("interrupted mid-sync")
    assert totals(store) == {"a": Decimal(3)}


@pytest.mark.duckdb_only  # DuckDB's one-process file lock; a server takes many writers
def test_a_second_writer_gets_a_clear_error(workdir):
    path = str(workdir / "l.duckdb")
    with open_store(path):
        import subprocess
        import sys

        probe = subprocess.run([sys.executable, "-c", f"from aispend.store import open_store; open_store({path!r})"],
                               check=False, capture_output=True, text=True)
    assert probe.returncode != 0
    assert "is open in another process" in probe.stderr


def test_an_unreachable_postgres_server_fails_clearly_without_echoing_the_password():
    with pytest.raises(StoreError) as info:
        open_store("postgresql://finops:hunter2@127.0.0.1:1/aispend")  # nothing listens on port 1
    assert "hunter2" not in str(info.value) and "finops:***@127.0.0.1:1" in str(info.value)
    assert "cannot connect to ledger" in str(info.value)


@pytest.mark.duckdb_only  # a v1 ledger is a DuckDB file from before PostgreSQL support, built here with raw DuckDB
def test_a_version_1_ledger_migrates_forward_keeping_its_rows(workdir):
    import duckdb

    from aispend.store.migrations import MIGRATIONS

    path = workdir / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
    for stmt in MIGRATIONS[0][2]:
        con.execute(stmt)
    con.execute("INSERT INTO schema_migrations VALUES (1, 'v1', now())")
    con.execute("INSERT INTO ledger (row_id, source, billed_cost) VALUES ('r1', 'old', 1.5)")
    con.close()
    with open_store(str(path)) as store:
        assert store.query("SELECT max(version) FROM schema_migrations")[0][0] == MIGRATIONS[-1][0]
        assert store.query("SELECT row_id, billed_cost, invoice_id FROM ledger") == [("r1", Decimal("1.5"), None)]
        assert store.query("SELECT count(*) FROM fx_rates")[0][0] == 0


@pytest.mark.duckdb_only  # waiting out DuckDB's file lock held by another process
def test_a_command_waits_its_turn_while_another_process_has_the_ledger(workdir):
    import subprocess
    import sys
    import time

    from .conftest import run_cli

    path = workdir / "aispend.duckdb"
    open_store(str(path)).close()
    hold = ("import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
            "time.sleep(float(sys.argv[2])); c.close()")
    with subprocess.Popen([sys.executable, "-c", hold, str(path), "1.5"], stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout.readline().strip() == "held"
        began = time.monotonic()
        waited = run_cli("report", "--format", "json", cwd=workdir)  # default: waits up to 30 s
        assert waited.returncode == 0, waited.stderr
        assert time.monotonic() - began >= 1.0
    (workdir / "aispend.toml").write_text("[store]\nwait_seconds = 0\n")
    with subprocess.Popen([sys.executable, "-c", hold, str(path), "30"], stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout.readline().strip() == "held"
        refused = run_cli("report", cwd=workdir)
        holder.kill()
    assert refused.returncode == 1 and "is open in another process" in refused.stderr
