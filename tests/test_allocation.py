"""Allocation: billed cost split over per-request events, shared costs split over teams; every
share adds up to its bill exactly, and no dollar is counted twice."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from aispend.analysis import Window, spend_report
from aispend.attribution.allocate import allocate_all, split
from aispend.config import load_settings
from aispend.demo import run_demo
from aispend.events import import_events
from aispend.ingest import import_file

from .conftest import run_cli

FIX = Path(__file__).parent / "fixtures" / "openai"
ENABLED = "[allocation]\nenabled = true\n"


def test_split_adds_up_exactly_and_breaks_ties_deterministically():
    pool = Decimal("100.004999999999999999")
    shares = split(pool, [Decimal(1), Decimal(1), Decimal(1)])
    assert sum(shares) == pool
    assert shares == [Decimal("33.344999999999999999"), Decimal("33.33"), Decimal("33.33")]
    assert split(Decimal("0.01"), [Decimal(1), Decimal(1)]) == [Decimal("0.01"), Decimal(0)]
    assert split(Decimal(10), [Decimal(1), Decimal(3)]) == [Decimal("2.50"), Decimal("7.50")]


def _events(workdir: Path, lines: list[dict]) -> Path:
    path = workdir / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in lines) + "\n")
    return path


# Three customers call gpt-4o on 2026-01-01, the day the fixture bills 40k input, 160k cached input and
# 30k output tokens of gpt-4o (0.1 + 0.2 + 0.3 USD): between them, exactly those tokens.
CALLS = [
    {"id": "r1", "time": "2026-01-01T09:00:00Z", "provider": "openai", "model": "gpt-4o", "input_tokens": 100_000,
     "cache_read_tokens": 80_000, "output_tokens": 15_000, "customer": "acme", "feature": "chat"},
    {"id": "r2", "time": "2026-01-01T10:00:00Z", "provider": "openai", "model": "gpt-4o", "input_tokens": 60_000,
     "cache_read_tokens": 48_000, "output_tokens": 9_000, "customer": "globex", "feature": "chat"},
    {"id": "r3", "time": "2026-01-01T11:00:00Z", "provider": "openai", "model": "gpt-4o", "input_tokens": 40_000,
     "cache_read_tokens": 32_000, "output_tokens": 6_000, "customer": "initech", "feature": "search"},
]


def list_price(call: dict) -> Decimal:
    usage = Usage(input_tokens=call["input_tokens"], cache_read_tokens=call["cache_read_tokens"],
                  output_tokens=call["output_tokens"])
    return calc_price(usage, "gpt-4o", provider_id="openai").total_price


@pytest.fixture
def allocated(workdir, store):
    (workdir / "aispend.toml").write_text(ENABLED)
    settings = load_settings(None)
    import_file(store, settings, FIX / "costs_pages.json")
    before = spend_report(store, []).rows[0]["cost_usd"]
    import_events(store, settings, _events(workdir, CALLS))  # allocation follows in the same transaction
    return settings, before


def test_a_bill_is_split_over_its_events_by_priced_token_share(store, allocated):
    _settings, before = allocated
    pool = store.query("SELECT sum(billed_cost) FROM ledger WHERE model = 'gpt-4o' AND source = 'openai'")[0][0]
    expected = split(pool, [list_price(c) for c in CALLS])
    shares = dict(store.query("SELECT customer, cost_usd FROM ledger WHERE cost_source = 'allocated' ORDER BY customer"))
    assert shares == {"acme": expected[0], "globex": expected[1], "initech": expected[2]}
    assert sum(shares.values()) == pool  # exactly the bill
    by_customer = {r["customer"]: r["cost_usd"] for r in spend_report(store, ["customer"]).rows}
    assert by_customer["acme"] == expected[0] and by_customer["initech"] == expected[2]
    assert spend_report(store, []).rows[0]["cost_usd"] == before  # moved between buckets, never added
    tokens = spend_report(store, ["customer"], where={"customer": ["initech"]}).rows[0]
    assert (tokens["input_tokens"], tokens["output_tokens"]) == (40_000, 6_000)  # the events' tokens
    # the rest of the bill had no events: it stays billed, unattributed, and is reported as unmatched
    assert by_customer["(unattributed)"] == before - pool


def test_requests_the_logs_missed_leave_their_share_unattributed_exactly(workdir, store):
    (workdir / "aispend.toml").write_text(ENABLED)
    settings = load_settings(None)
    import_file(store, settings, FIX / "costs_pages.json")
    import_events(store, settings, _events(workdir, CALLS[:2]))  # initech's request was never logged
    pool = store.query("SELECT sum(billed_cost) FROM ledger WHERE model = 'gpt-4o' AND source = 'openai'")[0][0]
    day = {r["customer"]: r["cost_usd"] for r in spend_report(
        store, ["customer"], Window.parse(start="2026-01-01", end="2026-01-02"), where={"model": ["gpt-4o"]}).rows}
    attributed = day["acme"] + day["globex"]
    assert attributed + day["(unattributed)"] == pool  # exactly the bill
    seen = sum(c["input_tokens"] + c["output_tokens"] for c in CALLS[:2])
    billed_tokens = 200_000 + 30_000
    assert attributed == (pool * seen / billed_tokens).quantize(Decimal("0.01"), rounding="ROUND_FLOOR")
    assert day["acme"] / day["globex"] == pytest.approx(list_price(CALLS[0]) / list_price(CALLS[1]), rel=Decimal("0.001"))


def test_reallocation_is_idempotent_and_a_restated_bill_is_split_again(workdir, store, allocated):
    settings, before = allocated
    first = store.query("SELECT row_id, cost_usd, customer FROM ledger WHERE cost_source = 'allocated' ORDER BY 1")
    result = allocate_all(store, settings)
    assert store.query("SELECT row_id, cost_usd, customer FROM ledger WHERE cost_source = 'allocated' ORDER BY 1") == first
    assert result.allocated_pools == 1 and result.unmatched_pools >= 1
    assert result.allocated_usd + result.unmatched_usd == store.query(
        "SELECT sum(billed_cost) FROM ledger WHERE source = 'openai' AND model IS NOT NULL "
        "AND charge_category = 'usage'")[0][0]
    import_file(store, settings, FIX / "costs_pages.json")  # the same bill again: replaced, re-split
    assert store.query("SELECT row_id, cost_usd, customer FROM ledger WHERE cost_source = 'allocated' ORDER BY 1") == first
    assert spend_report(store, []).rows[0]["cost_usd"] == before
    assert spend_report(store, ["customer"], use_rollup=True).rows == spend_report(store, ["customer"], use_rollup=False).rows
    (workdir / "aispend.toml").write_text("")
    allocate_all(store, load_settings(None))  # allocation switched off: the bill is back as it was
    assert store.query("SELECT count(*) FROM ledger WHERE cost_source = 'allocated'")[0][0] == 0
    assert spend_report(store, []).rows[0]["cost_usd"] == before


SHARED = """
[[allocation.shared]]
name = "vector db"
match = { provider = "vectorbase" }
to = "feature"
split = "by_cost"
among = { provider = ["openai", "anthropic"] }

[[allocation.shared]]
name = "seats"
match = { provider = "vectorbase", charge_category = "purchase" }
to = "owner"
split = "fixed"
shares = { search = 60, ads = 40 }
"""


def test_shared_costs_split_by_the_spend_of_each_feature(workdir, store):
    settings = load_settings(None)
    run_demo(store, settings, workdir / "demo", today=date(2026, 3, 20), seed=5, months=3)
    before = {r["provider"]: r["cost_usd"] for r in spend_report(store, ["provider"]).rows}
    (workdir / "aispend.toml").write_text(SHARED)
    result = allocate_all(store, load_settings(None))
    assert result.shared_rows > 0
    after = {r["provider"]: r["cost_usd"] for r in spend_report(store, ["provider"]).rows}
    assert after == before  # every provider's total unchanged, to the last digit
    month = "2026-02"
    vector = store.query("SELECT sum(cost_usd) FROM ledger WHERE provider = 'vectorbase' AND cost_source = 'billed' "
                         "AND strftime(period_start, '%Y-%m') = ? AND feature IS NULL", [month])[0][0]
    weights = dict(store.query("SELECT feature, sum(cost_usd) FROM ledger WHERE provider IN ('openai', 'anthropic') "
                               "AND cost_source = 'billed' AND feature IS NOT NULL AND strftime(period_start, '%Y-%m') = ? "
                               "GROUP BY 1", [month]))
    shares = dict(store.query("SELECT feature, sum(cost_usd) FROM ledger WHERE provider = 'vectorbase' AND "
                              "cost_source = 'allocated' AND strftime(period_start, '%Y-%m') = ? GROUP BY 1", [month]))
    assert sum(shares.values()) == vector
    total = sum(weights.values())
    for feature, share in shares.items():  # within a cent per row of its proportional share
        assert abs(share - vector * weights[feature] / total) < Decimal("0.05")


def test_bad_shared_rules_are_refused(workdir):
    from aispend.errors import ConfigError

    (workdir / "aispend.toml").write_text('[[allocation.shared]]\nmatch = { provider = "x" }\nto = "owner"\n'
                                          'split = "fixed"\nshares = { a = 60, b = 30 }\n')
    with pytest.raises(ConfigError, match="adding up to 100"):
        load_settings(None)


def test_cli_allocate_reports_the_unmatched_remainder(workdir, store, allocated, ledger_url):
    store.close()  # DuckDB: one writer at a time
    out = run_cli("--store", ledger_url("ledger"), "allocate", "--format", "json", cwd=workdir)
    assert out.returncode == 0, out.stderr
    [row] = json.loads(out.stdout)
    assert row["allocated_pools"] == 1 and Decimal(row["allocated_usd"]) > 0 and row["rows"] == 3
    assert Decimal(row["unseen_usd"]) == 0  # the events carry every token the bill counts
