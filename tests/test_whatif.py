"""`aispend whatif`: a model's observed workload re-priced at another model.

Expected dollars are computed here, independently: from per-MTok list prices written in the test
(generated workloads), or from genai-prices' own ``calc_price`` (the demo ledger).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from genai_prices import Usage, calc_price

from aispend.analysis import Window
from aispend.config import Settings
from aispend.demo import run_demo
from aispend.optimize import WhatIfError, whatif
from aispend.pricing import Pricer
from aispend.schema import ARROW_SCHEMA
from aispend.store import open_store

from .conftest import run_cli

M = Decimal(1_000_000)


def row(day: date, provider: str, model: str | None, **kw: Any) -> dict[str, Any]:
    """One ledger row: a day of usage (or a charge) with the given token counts and attribution."""
    start = datetime.combine(day, time()) + timedelta(hours=kw.pop("hour", 0))
    length = timedelta(hours=1) if kw.pop("hourly", False) else timedelta(days=1)
    cost = kw.pop("cost", None)
    r = {
        "source": "test", "source_type": "test", "ingested_at": datetime(2026, 12, 1), "batch_id": "b1",
        "period_start": start, "period_end": start + length, "billing_period": day.strftime("%Y-%m"),
        "provider": provider, "publisher": kw.pop("publisher", provider), "model_raw": model, "model": model,
        "service_tier": kw.pop("tier", "standard"), "charge_category": kw.pop("charge", "usage"),
        "input_tokens": kw.pop("input", 0), "output_tokens": kw.pop("output", 0),
        "cache_read_tokens": kw.pop("cache_read", 0), "cache_write_tokens": kw.pop("cache_write", 0),
        "reasoning_tokens": kw.pop("reasoning", 0), "requests": kw.pop("requests", None),
        "billing_currency": "USD", "cost_source": "billed" if cost is not None else "estimated",
        "billed_cost": cost, "cost_usd": cost, "environment": kw.pop("env", "prod"), "owner": kw.pop("owner", "team"),
        **kw,
    }
    r["row_id"] = hashlib.sha256(json.dumps(r, default=str, sort_keys=True).encode()).hexdigest()[:16]
    return r


def load(store: Any, rows: list[dict[str, Any]], settings: Settings | None = None) -> None:
    """Price the rows with the ledger's pricer and append them, as an import would."""
    table = pa.Table.from_pylist([{c: r.get(c) for c in ARROW_SCHEMA.names} for r in rows], schema=ARROW_SCHEMA)
    pricer = Pricer.for_store(store, settings or Settings())
    with store.transaction() as tx:
        tx.append("ledger", pricer.price(table))
    pricer.close()


def days(first: date, n: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(n)]


# --- generated workloads: the answer is known by construction ------------------------------------

NOV = date(2026, 11, 2)


def test_token_mix_cached_and_reasoning_tokens_repriced_at_the_target(store):
    # 1,000 requests of 10,000 input tokens (4,000 of them cache reads, 500 cache writes) and
    # 1,000 output tokens (400 reasoning), on claude-sonnet-4-5, moved to claude-haiku-4-5.
    load(store, [row(NOV, "anthropic", "claude-sonnet-4-5", input=10_000_000, cache_read=4_000_000,
                     cache_write=500_000, output=1_000_000, reasoning=400_000, requests=1_000, feature="chat")])
    result = whatif(store, Settings(), "claude-sonnet-4-5", "claude-haiku-4-5", by=["feature"])
    # List prices per MTok (input, cache read, cache write, output): Sonnet 4.5 3 / 0.30 / 3.75 / 15,
    # Haiku 4.5 1 / 0.10 / 1.25 / 5. Reasoning is billed as output on both.
    sonnet = (Decimal("5.5") * 3 + 4 * Decimal("0.30") + Decimal("0.5") * Decimal("3.75") + 1 * 15)
    haiku = (Decimal("5.5") * 1 + 4 * Decimal("0.10") + Decimal("0.5") * Decimal("1.25") + 1 * 5)
    assert result.current_usd == sonnet == Decimal("34.575")
    assert result.whatif_usd == haiku == Decimal("11.525")
    assert result.delta_usd == haiku - sonnet
    [scope] = result.rows
    assert scope["feature"] == "chat" and scope["requests"] == 1_000 and scope["delta_usd"] == Decimal("-23.05")
    assert scope["delta_pct"] == Decimal("-66.7") and result.warnings == []


def test_service_tier_is_kept_batch_rows_get_the_targets_batch_price(store):
    load(store, [row(NOV, "openai", "gpt-4o", input=2_000_000, output=1_000_000, requests=100, tier="batch"),
                 row(NOV, "openai", "gpt-4o", input=2_000_000, output=1_000_000, requests=100)])
    result = whatif(store, Settings(), "gpt-4o", "gpt-4o-mini", by=["service_tier"])
    got = {r["service_tier"]: r for r in result.rows}
    # gpt-4o-mini: standard 0.15 / 0.60 per MTok, batch 0.075 / 0.30 (gpt-4o: 2.50 / 10, batch 1.25 / 5)
    assert got["standard"]["whatif_usd"] == 2 * Decimal("0.15") + Decimal("0.60")
    assert got["batch"]["whatif_usd"] == 2 * Decimal("0.075") + Decimal("0.30")
    assert got["standard"]["current_usd"] == 2 * Decimal("2.50") + 10
    assert got["batch"]["current_usd"] == 2 * Decimal("1.25") + 5


def test_bedrock_to_first_party_moves_rows_to_the_named_provider(store):
    raw = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    load(store, [row(NOV, "aws", raw, publisher="anthropic", input=1_000_000, output=100_000, requests=50)])
    result = whatif(store, Settings(), raw, "anthropic/claude-sonnet-4-5")
    # Bedrock's regional endpoint lists 3.30 / 16.50 per MTok; Anthropic's API 3 / 15.
    assert result.current_usd == Decimal("3.30") + Decimal("0.1") * Decimal("16.50")
    assert result.whatif_usd == Decimal(3) + Decimal("0.1") * 15
    assert result.target == "anthropic/claude-sonnet-4-5" and result.warnings == []


def test_a_bare_target_a_reseller_does_not_list_is_priced_at_the_makers_list_and_says_so(store):
    raw = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    load(store, [row(NOV, "aws", raw, publisher="anthropic", input=1_000_000, output=0, requests=50)])
    result = whatif(store, Settings(), raw, "claude-haiku-4-5")
    assert result.whatif_usd == Decimal(1)  # Anthropic's 1 USD per MTok
    assert any("aws has no list price for claude-haiku-4-5" in w for w in result.warnings)


def test_requests_above_the_targets_context_window_are_flagged(store):
    load(store, [row(NOV, "openai", "gpt-4.1", input=3_000_000, output=10_000, requests=10, feature="long"),
                 row(NOV, "openai", "gpt-4.1", input=50_000, output=10_000, requests=10, feature="short"),
                 row(NOV, "openai", "gpt-4.1", input=50_000, output=10_000, requests=None, feature="unknown")])
    result = whatif(store, Settings(), "gpt-4.1", "gpt-4o-mini", by=["feature"])
    over = {r["feature"]: r["over_context_requests"] for r in result.rows}
    assert over == {"long": 10, "short": 0, "unknown": 0}
    # 301,000 tokens per request against gpt-4o-mini's 128,000-token window
    assert any("10 request(s) in 1 row(s)" in w and "up to 301,000" in w and "128,000" in w for w in result.warnings)
    assert any("1 row(s) have no request count" in w for w in result.warnings)
    # the same workload fits gpt-4.1-mini (1M tokens): no context warning
    fits = whatif(store, Settings(), "gpt-4.1", "gpt-4.1-mini")
    assert not any("context window" in w for w in fits.warnings)


def test_modalities_and_non_token_charges_are_warned_about(store):
    load(store, [row(NOV, "gcp", "gemini-2.5-flash", publisher="google", input=1_000_000, output=0, requests=10),
                 row(NOV, "gcp", "gemini-2.5-flash", publisher="google", unit="Images", quantity=Decimal(40),
                     cost=Decimal("1.60"))])
    result = whatif(store, Settings(), "gemini-2.5-flash", "openai/gpt-4o-mini")
    assert result.current_usd == Decimal("0.30") and result.whatif_usd == Decimal("0.15")
    assert any("priced for audio" in w and "openai/gpt-4o-mini" in w for w in result.warnings)
    assert any("1 row(s) of gemini-2.5-flash are charged in Images" in w and "1.60 USD" in w for w in result.warnings)


def test_window_where_and_scopes(store):
    load(store, [row(d, "openai", "gpt-4o", input=1_000_000, output=0, requests=10, feature=f, env=e)
                 for d in days(date(2026, 10, 30), 4) for f, e in (("a", "prod"), ("b", "dev"))])
    nov = whatif(store, Settings(), "gpt-4o", "gpt-4o-mini", Window.parse("2026-11"), by=["feature", "environment"])
    assert [(r["feature"], r["rows"]) for r in nov.rows] == [("a", 2), ("b", 2)]
    assert nov.current_usd == 4 * Decimal("2.50")
    prod = whatif(store, Settings(), "gpt-4o", "gpt-4o-mini", where={"environment": ["prod"]}, by=["feature"])
    assert [r["feature"] for r in prod.rows] == ["a"] and prod.whatif_usd == 4 * Decimal("0.15")


def test_errors_name_what_to_do(store):
    load(store, [row(NOV, "anthropic", "claude-sonnet-4-5", input=1_000, output=10, requests=1)])
    with pytest.raises(WhatIfError, match=r"--from gpt-9: no usage .* anthropic/claude-sonnet-4-5"):
        whatif(store, Settings(), "gpt-9", "gpt-4o")
    with pytest.raises(WhatIfError, match=r"--to gpt-4o: the price book has no price for it as sold by anthropic; "
                                          r"name the provider"):
        whatif(store, Settings(), "claude-sonnet-4-5", "gpt-4o")
    # provider-qualified, it works across providers
    assert whatif(store, Settings(), "claude-sonnet-4-5", "openai/gpt-4o").whatif_usd > 0


# --- the demo ledger, checked by hand against genai-prices ----------------------------------------

TODAY = date(2026, 11, 15)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, make_ledger_url):
    root = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        store = open_store(make_ledger_url(root, "ledger"))
        run_demo(store, Settings(), root / "work", TODAY, months=2)
        yield store
        store.close()


def _by_hand(store: Any, where: str, params: list[Any], model: str, provider: str) -> Decimal:
    """Each ledger row priced by genai-prices' calc_price, at noon of its day, then added up.

    Per request, as genai-prices prices a call (a long-context tier is per call): the demo's rows
    are ``requests`` identical requests, so each row is its per-request price times its requests.
    """
    rows = store.query("SELECT period_start, requests, input_tokens, cache_read_tokens, cache_write_tokens, "
                       f"output_tokens FROM ledger WHERE {where}", params)
    assert rows
    total = Decimal(0)
    for start, n, *tokens in rows:
        assert all(t % n == 0 for t in tokens)
        inp, cr, cw, out = (t // n for t in tokens)
        usage = Usage(input_tokens=inp, cache_read_tokens=cr, cache_write_tokens=cw, output_tokens=out)
        at = datetime.combine(start.date(), time(12), tzinfo=UTC)
        total += calc_price(usage, model, provider_id=provider, genai_request_timestamp=at).total_price * n
    return total


def test_demo_whatif_matches_calc_price_for_one_scope(demo):
    result = whatif(demo, Settings(), "gpt-4o", "gpt-4o-mini", Window.parse("2026-10"), by=["feature"])
    scopes = {r["feature"]: r for r in result.rows}
    assert set(scopes) == {"sales-briefs", "support-chat"}  # support-chat moved off gpt-4o in October
    where = "feature = 'sales-briefs' AND model = 'gpt-4o' AND period_start >= ? AND period_start < ?"
    october = [datetime(2026, 10, 1), datetime(2026, 11, 1)]
    briefs = scopes["sales-briefs"]
    assert briefs["whatif_usd"] == _by_hand(demo, where, october, "gpt-4o-mini", "openai")
    assert briefs["current_usd"] == _by_hand(demo, where, october, "gpt-4o", "openai")
    assert briefs["rows"] == demo.query(f"SELECT count(*) FROM ledger WHERE {where}", october)[0][0]
    assert result.current_usd == sum(r["current_usd"] for r in result.rows)


def test_demo_bedrock_to_first_party_matches_calc_price(demo):
    raw = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    result = whatif(demo, Settings(), raw, "anthropic/claude-sonnet-4-5", Window.parse("2026-11"),
                    where={"environment": ["prod"]})
    where = "model_raw = ? AND environment = 'prod' AND period_start >= ?"
    params = [raw, datetime(2026, 11, 1)]
    assert result.whatif_usd == _by_hand(demo, where, params, "claude-sonnet-4-5", "anthropic")
    assert result.current_usd == _by_hand(demo, where, params, raw, "aws")
    assert result.delta_usd < 0  # the regional Bedrock endpoint lists 10% above first-party


# --- the real CLI -------------------------------------------------------------------------------


def test_cli_whatif_json(workdir: Path, ledger_url):
    with open_store(ledger_url("aispend")) as store:
        load(store, [row(NOV, "anthropic", "claude-sonnet-4-5", input=2_000_000, output=200_000, requests=100,
                         feature=f) for f in ("chat", "search")])
    result = run_cli("whatif", "--from", "claude-sonnet-4-5", "--to", "claude-haiku-4-5", "--by", "feature",
                     "--month", "2026-11", "--format", "json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    # 2 MTok input + 0.2 MTok output per feature: Sonnet 3 / 15, Haiku 1 / 5 per MTok
    assert [r["feature"] for r in rows] == ["chat", "search"]
    for r in rows:
        assert (r["current_usd"], r["whatif_usd"], r["delta_usd"]) == ("9.00", "3.00", "-6.00")
    assert "delta -12.00 USD (-66.7%)" in result.stderr
    bad = run_cli("whatif", "--from", "claude-sonnet-4-5", "--to", "gpt-4o", cwd=workdir)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "name the provider" in bad.stderr
