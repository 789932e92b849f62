"""The daily rollup answers reports exactly as raw rows do, and stays current incrementally."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from aispend.analysis import Window, spend_report
from aispend.analysis.rollups import STALE, TABLE, rebuild, usable
from aispend.attribution import attribute
from aispend.config import load_settings
from aispend.demo import run_demo
from aispend.ingest import import_file
from aispend.pricing import reprice

FIX = Path(__file__).parent / "fixtures"
TODAY = date(2026, 3, 20)
QUERIES = [
    (["provider"], Window(), None, {}),
    (["provider", "model"], Window.parse(month="2026-02"), None, {}),
    (["owner", "feature"], Window.parse(start="2026-01-10", end="2026-03-01"), "week", {}),
    (["customer"], Window(), "month", {"provider": ["openai", "anthropic"]}),
    ([], Window.parse(month="2026-03"), "day", {"owner": ["(unattributed)"]}),
    (["cost_source", "source"], Window(), None, {}),
]


def both(store, by, window, granularity, where):
    rolled = spend_report(store, by, window, granularity, where, use_rollup=True)
    raw = spend_report(store, by, window, granularity, where, use_rollup=False)
    return rolled, raw


def assert_same(store):
    for q in QUERIES:
        rolled, raw = both(store, *q)
        assert rolled.rows == raw.rows, q
        assert rolled.footer == raw.footer, q


def snapshot(store):
    return sorted(store.query(f"SELECT * FROM {TABLE}"), key=repr)


@pytest.fixture
def demo(workdir, store):
    settings = load_settings(None)
    run_demo(store, settings, workdir / "demo", today=TODAY, seed=5, months=3)
    return settings


def test_reports_from_the_rollup_equal_reports_from_raw_rows(store, demo):
    assert usable(store)
    assert_same(store)
    raw_rows = store.query("SELECT count(*) FROM ledger")[0][0]
    assert store.query(f"SELECT count(*) FROM {TABLE}")[0][0] < raw_rows
    # by default a report that the rollup can answer reads it; one it cannot reads raw rows
    assert spend_report(store, ["provider"]).rows == both(store, ["provider"], Window(), None, {})[0].rows
    assert spend_report(store, ["sku"]).rows == spend_report(store, ["sku"], use_rollup=False).rows


def test_writes_keep_the_rollup_equal_to_a_rebuild_and_touch_only_their_months(workdir, store, demo):
    # a sentinel in a month nothing below touches: an incremental refresh leaves it alone
    store.query(f"UPDATE {TABLE} SET rows = rows + 1000 WHERE provider = 'vectorbase' AND day < '2026-01-01'")
    sentinel = store.query(f"SELECT sum(rows) FROM {TABLE} WHERE provider = 'vectorbase' AND day < '2026-01-01'")
    import_file(store, demo, FIX / "openai" / "costs_pages.json")  # January 2026 OpenAI lines
    import_file(store, demo, FIX / "openai" / "costs_pages.json")  # re-import: replaced, not added
    (workdir / "aispend.toml").write_text('[[attribution.rules]]\nmatch = { provider = "openai" }\nset = { experiment = "arm-a" }\n')
    assert store.query(f"SELECT sum(rows) FROM {TABLE} WHERE provider = 'vectorbase' AND day < '2026-01-01'") == sentinel
    store.query(f"UPDATE {TABLE} SET rows = rows - 1000 WHERE provider = 'vectorbase' AND day < '2026-01-01'")
    incremental = snapshot(store)
    with store.transaction() as tx:
        rebuild(tx, store)
    assert snapshot(store) == incremental
    assert_same(store)
    settings = load_settings(None)
    attribute(store, settings)  # re-attribution rewrites every row: rebuilt
    assert {r["experiment"] for r in spend_report(store, ["experiment"], where={"provider": ["openai"]}).rows} == {"arm-a"}
    assert_same(store)
    reprice(store, settings)
    assert_same(store)


def test_a_sync_refreshes_the_window_it_replaced(workdir, store, monkeypatch):
    from .fakes.anthropic_server import FakeAnthropic
    from .sync_helpers import run_sync, write_config

    with FakeAnthropic(seed=3) as fake:
        monkeypatch.setenv("ANT", fake.key)
        write_config(workdir, {"ant": {"type": "anthropic", "api_key": {"env": "ANT"}, "base_url": fake.base_url}})
        settings = load_settings(None)
        window = (date(2026, 1, 1), date(2026, 1, 20))
        assert run_sync(store, settings, window)[0].status == "ok"
        assert_same(store)
        fake.restate(date(2026, 1, 5))
        assert run_sync(store, settings, (date(2026, 1, 4), date(2026, 1, 8)))[0].status == "ok"
    assert_same(store)
    total = spend_report(store, [], use_rollup=True).rows[0]["cost_usd"]
    assert total == store.query("SELECT sum(billed_cost) FROM ledger WHERE source = 'ant'")[0][0]


def test_a_ledger_from_before_rollups_reads_raw_rows_until_its_next_write(store, demo):
    with store.transaction() as tx:  # as migration 12 leaves an existing ledger
        tx.execute(f"DELETE FROM {TABLE}")
        tx.execute(f"INSERT INTO {STALE} SELECT DISTINCT provider, CAST(date_trunc('month', period_start) AS DATE) FROM ledger")
    assert not usable(store)
    raw = spend_report(store, ["provider"], use_rollup=False)
    assert spend_report(store, ["provider"]).rows == raw.rows  # answered from raw rows, correctly
    import_file(store, demo, FIX / "openai" / "costs_pages.json")  # any write refreshes what is stale
    assert usable(store)
    assert_same(store)
