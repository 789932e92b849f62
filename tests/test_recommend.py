"""`aispend recommend`: each kind on a generated workload whose saving is known by construction.

Every workload here spans 30 days (2026-10-01 to 2026-10-30, the ledger's last day), so the
observed window is exactly those days and "per 30 days" is the window's own figure. Expected
dollars come from per-MTok list prices written in the test.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from aispend.config import OptimizeSettings, Settings
from aispend.optimize import accept, dismiss, recommend, stored, track
from aispend.optimize.decisions import RecommendationError
from aispend.optimize.recommend import Context, Kind, Recommendation, find_all, kinds
from aispend.store import open_store

from .conftest import run_cli
from .test_whatif import days, load, row

OCT = days(date(2026, 10, 1), 30)
LAST = OCT[-1]


def found(store, settings: Settings, kind: str) -> list[Recommendation]:
    ctx = Context.build(store, settings)
    try:
        return find_all(ctx, only=[kind]).recommendations
    finally:
        ctx.close()


def by_scope(recs: list[Recommendation], key: str) -> dict[str, Recommendation]:
    return {r.scope[key]: r for r in recs}


def caching_workload() -> list[dict]:
    return [
        # 1,000 requests a day of 10,000 uncached input tokens on Claude Sonnet 4.5
        *[row(d, "anthropic", "claude-sonnet-4-5", input=10_000_000, output=500_000, requests=1_000, feature="kb")
          for d in OCT],
        # 6,000 uncached tokens per request on gpt-4o (OpenAI caches on its own; writes are free)
        *[row(d, "openai", "gpt-4o", input=6_000_000, output=100_000, requests=1_000, feature="briefs") for d in OCT],
        # already 60% cached, and prompts too short to cache: nothing to say
        *[row(d, "anthropic", "claude-sonnet-4-5", input=10_000_000, cache_read=6_000_000, output=0, requests=1_000,
              feature="cached") for d in OCT],
        *[row(d, "anthropic", "claude-sonnet-4-5", input=500_000, output=0, requests=1_000, feature="tiny")
          for d in OCT],
    ]


def test_prompt_caching_saves_exactly_what_the_cache_prices_say(store):
    load(store, caching_workload())
    recs = by_scope(found(store, Settings(), "prompt-caching"), "feature")
    assert set(recs) == {"kb", "briefs"}
    # Sonnet 4.5 per MTok: input 3, cache read 0.30, cache write 3.75. At a 50% hit rate 5 of the
    # day's 10 MTok become reads and 0.5 MTok (one write per 10 reads) writes.
    day_now = 10 * Decimal(3)
    day_cached = Decimal("4.5") * 3 + 5 * Decimal("0.30") + Decimal("0.5") * Decimal("3.75")
    kb = recs["kb"]
    assert kb.monthly_savings_usd == 30 * (day_now - day_cached) == Decimal("393.75")
    assert kb.evidence["cache_read_share_pct"] == Decimal("0.0") and kb.evidence["input_tokens_per_request"] == 10_000
    assert kb.evidence["monthly_cost_usd"] == 30 * (day_now + Decimal("0.5") * 15)
    assert "50% of input tokens read from cache" in kb.assumption and kb.confidence == "medium"
    assert "cache_control" in kb.title
    # gpt-4o per MTok: input 2.50, cache read 1.25, no write price: 3 MTok a day move to the cache price
    briefs = recs["briefs"]
    assert briefs.monthly_savings_usd == 30 * 3 * (Decimal("2.50") - Decimal("1.25")) == Decimal("112.5")
    assert "automatic cache" in briefs.title


def test_batch_for_non_prod_and_off_hours_traffic(store):
    load(store, [
        *[row(d, "openai", "gpt-4o-mini", input=2_000_000, output=1_000_000, requests=100, env="dev", feature="eval")
          for d in OCT],
        # Bedrock lists no batch price in genai-prices: the [pricing] batch multiplier (0.5) applies
        *[row(d, "aws", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", publisher="anthropic", input=1_000_000,
              requests=10, env="staging", feature="eval") for d in OCT],
        # hourly production rows: 02:00 UTC is off-hours, 12:00 is not; daily prod rows cannot tell
        *[row(d, "openai", "gpt-4o-mini", input=2_000_000, output=1_000_000, requests=100, hourly=True, hour=2,
              feature="nightly") for d in OCT],
        *[row(d, "openai", "gpt-4o-mini", input=2_000_000, output=1_000_000, requests=100, hourly=True, hour=12,
              feature="daytime") for d in OCT],
        *[row(d, "openai", "gpt-4o-mini", input=2_000_000, output=1_000_000, requests=100, feature="prod-daily")
          for d in OCT],
        # already on the batch tier
        *[row(d, "openai", "gpt-4o-mini", input=2_000_000, output=1_000_000, requests=100, env="dev", tier="batch",
              feature="done") for d in OCT],
    ])
    recs = {(r.scope["feature"], r.scope["provider"]): r for r in found(store, Settings(), "batch")}
    assert set(recs) == {("eval", "openai"), ("eval", "aws"), ("nightly", "openai")}
    # gpt-4o-mini per MTok: standard 0.15 in / 0.60 out, batch 0.075 / 0.30
    day = 2 * Decimal("0.15") + Decimal("0.60") - (2 * Decimal("0.075") + Decimal("0.30"))
    assert recs[("eval", "openai")].monthly_savings_usd == 30 * day == Decimal("13.5")
    assert recs[("eval", "openai")].confidence == "high" and recs[("eval", "openai")].scope["environment"] == "dev"
    # Bedrock's regional Sonnet 4.5: 3.30 per MTok input, half with the multiplier
    assert recs[("eval", "aws")].monthly_savings_usd == 30 * Decimal("3.30") / 2
    assert recs[("eval", "aws")].confidence == "medium" and "tier_multipliers" in recs[("eval", "aws")].assumption
    assert recs[("nightly", "openai")].monthly_savings_usd == 30 * day
    assert recs[("nightly", "openai")].scope["hours"] == "00:00-06:00 UTC"


def test_requests_just_over_a_long_context_tier(store):
    load(store, [
        row(LAST, "anthropic", "claude-sonnet-4-5", input=100 * 210_000, output=100 * 1_000, requests=100,
            feature="rag"),
        row(LAST, "anthropic", "claude-sonnet-4-5", input=100 * 260_000, output=0, requests=100, feature="far-over"),
        row(LAST, "anthropic", "claude-sonnet-4-5", input=100 * 190_000, output=0, requests=100, feature="under"),
    ])
    [rec] = found(store, Settings(), "long-context")
    assert rec.scope == {"provider": "anthropic", "model": "claude-sonnet-4-5", "feature": "rag"}
    # Above 200k input tokens every token of the request pays 6 / 22.50 per MTok instead of 3 / 15.
    over = 21 * Decimal(6) + Decimal("0.1") * Decimal("22.50")
    trimmed = 20 * Decimal(3) + Decimal("0.1") * 15
    assert rec.monthly_savings_usd == over - trimmed == Decimal("66.75")
    assert rec.evidence["tier_edge_tokens"] == 200_000 and rec.evidence["excess_tokens_per_request"] == 10_000


def test_off_peak_pricing_where_the_provider_has_it(store):
    load(store, [row(LAST, "deepseek", "deepseek-chat", input=10_000_000, cache_read=2_000_000, output=1_000_000,
                     requests=1_000, env="dev", feature="backfill")])
    [rec] = found(store, Settings(), "off-peak")
    # deepseek-chat per MTok, peak (00:30-16:30 UTC) vs off-peak: input 0.27 / 0.135,
    # cache read 0.07 / 0.035, output 1.10 / 0.55
    peak = 8 * Decimal("0.27") + 2 * Decimal("0.07") + Decimal("1.10")
    off = 8 * Decimal("0.135") + 2 * Decimal("0.035") + Decimal("0.55")
    assert rec.monthly_savings_usd == peak - off == Decimal("1.70")
    assert rec.evidence["peak_windows"] == ["00:30-16:30 UTC"] and rec.confidence == "medium"
    # your own price for the model has no time of day: nothing to recommend
    settings = Settings.model_validate({"pricing": {"overrides": [
        {"provider": "deepseek", "model": "deepseek-chat", "input_mtok": "0.2", "output_mtok": "0.8"}]}})
    assert found(store, settings, "off-peak") == []


def test_keys_and_projects_with_spend_and_no_owner(store):
    load(store, [
        row(LAST, "openai", "gpt-4o-mini", input=4_000_000, output=0, requests=10, api_key_id="key_orphan", owner=None),
        row(LAST, "openai", "gpt-4o-mini", input=4_000_000, output=0, requests=10, api_key_id="key_owned"),
        row(LAST, "anthropic", "claude-haiku-4-5", input=2_000_000, output=0, requests=10, project="lab", owner=None),
    ])
    recs = found(store, Settings(), "unowned")
    assert {tuple(sorted(r.scope.items())) for r in recs} == {
        (("api_key_id", "key_orphan"), ("provider", "openai")), (("project", "lab"), ("provider", "anthropic"))}
    spend = {r.scope.get("api_key_id") or r.scope["project"]: r.evidence["monthly_spend_usd"] for r in recs}
    assert spend == {"key_orphan": 4 * Decimal("0.15"), "lab": Decimal(2)}
    assert all(r.monthly_savings_usd == 0 and r.confidence == "high" for r in recs)


def test_idle_and_duplicate_subscriptions(store):
    load(store, [
        row(OCT[0], "cursor", None, charge="purchase", sku="business-seats", cost=Decimal(400)),
        row(OCT[0], "github", None, charge="purchase", sku="copilot-business", account_id="org-a", cost=Decimal(190)),
        row(OCT[0], "github", None, charge="purchase", sku="copilot-business", account_id="org-b", cost=Decimal(210)),
        row(LAST, "github", None, unit="Requests", quantity=Decimal(12), cost=Decimal(0)),
    ])
    recs = {r.scope["provider"]: r for r in found(store, Settings(), "subscription")}
    assert recs["cursor"].monthly_savings_usd == Decimal(400) and recs["cursor"].confidence == "medium"
    assert recs["github"].monthly_savings_usd == Decimal(190) and recs["github"].scope["duplicate"] == "yes"
    assert recs["github"].evidence["holders"] == ["org-a/-", "org-b/-"]


SUMMARIES = Settings(optimize=OptimizeSettings(low_stakes=[{"feature": "summaries"}]))


def downgrade_workload() -> list[dict]:
    return [row(d, "anthropic", "claude-sonnet-4-5", input=1_000_000, output=100_000, requests=100,
                feature="summaries") for d in OCT]


def test_model_downgrade_only_where_marked_low_stakes(store):
    load(store, [*downgrade_workload(), *[row(d, "anthropic", "claude-sonnet-4-5", input=1_000_000, output=0,
                                              requests=100, feature="legal") for d in OCT]])
    assert found(store, Settings(), "model-downgrade") == []
    [rec] = found(store, SUMMARIES, "model-downgrade")
    # a day: Sonnet 4.5 at 3 / 15 per MTok = 4.50, Haiku 4.5 at 1 / 5 = 1.50
    assert rec.monthly_savings_usd == 30 * (Decimal("4.50") - Decimal("1.50")) == Decimal(90)
    assert rec.scope == {"feature": "summaries", "provider": "anthropic", "model": "claude-sonnet-4-5"}
    assert rec.action == {"type": "model-swap", "from": "claude-sonnet-4-5", "from_raw": "claude-sonnet-4-5",
                          "to": "claude-haiku-4-5", "where": {"feature": ["summaries"], "provider": ["anthropic"]}}
    named = Settings(optimize=OptimizeSettings(low_stakes=[{"feature": "summaries", "to": "gpt-4o-mini"}]))
    assert found(store, named, "model-downgrade") == []  # not priced for anthropic: nothing to stand on


def test_accepted_swap_is_tracked_week_by_week(store):
    load(store, downgrade_workload())
    [rec] = [r for r in recommend(store, SUMMARIES).recommendations if r.kind == "model-downgrade"]
    accept(store, rec.id, effective=date(2026, 10, 31))
    # Two weeks on Haiku, at 120 requests a day (traffic grew), plus another feature that must not count
    after = days(date(2026, 10, 31), 14)
    load(store, [*[row(d, "anthropic", "claude-haiku-4-5", input=1_200_000, output=120_000, requests=120,
                       feature="summaries") for d in after],
                 *[row(d, "anthropic", "claude-haiku-4-5", input=9_000_000, output=0, requests=9, feature="chat")
                   for d in after]])
    weeks = track(store, SUMMARIES)
    assert [w["week_start"] for w in weeks] == [date(2026, 10, 31), date(2026, 11, 7)]
    actual_day = Decimal("1.2") * 1 + Decimal("0.12") * 5  # Haiku 4.5: 1 / 5 per MTok
    baseline_day = Decimal("1.2") * 3 + Decimal("0.12") * 15  # the same tokens on Sonnet 4.5: 3 / 15
    for w in weeks:
        assert (w["days"], w["requests"], w["on_target_pct"]) == (7, 840, Decimal("100.0"))
        assert w["actual_usd"] == 7 * actual_day and w["baseline_usd"] == 7 * baseline_day
        assert w["saved_usd"] == 7 * (baseline_day - actual_day) == Decimal("25.2")
        assert w["estimated_usd"] == Decimal(90) * 7 / 30 == Decimal(21)
        assert w["saved_vs_estimate_pct"] == Decimal("120.0")
    # the accepted estimate stays what was accepted, whatever later runs find
    recommend(store, SUMMARIES)
    [kept] = stored(store, "accepted")
    assert kept.id == rec.id and kept.monthly_savings_usd == Decimal(90)
    assert kept.effective_from == datetime(2026, 10, 31)


def test_dismissal_persists_across_runs(workdir: Path, ledger_url):
    path = ledger_url("ledger")
    with open_store(path) as store:
        load(store, caching_workload())
        first = recommend(store, Settings())
        ids = [r.id for r in first.recommendations]
        assert len(ids) == 2 and first.recommendations[0].monthly_savings_usd == Decimal("393.75")  # ranked
        dismiss(store, ids[0], "the prompt differs per user")
        with pytest.raises(RecommendationError, match="needs a reason"):
            dismiss(store, ids[1], "  ")
        with pytest.raises(RecommendationError, match="no recommendation 'nope'; run `aispend recommend`"):
            accept(store, "nope")
    with open_store(path) as store:  # another run, another connection
        again = recommend(store, Settings())
        assert [r.id for r in again.recommendations] == ids[1:]
        [gone] = recommend(store, Settings(), status="dismissed").recommendations
        assert gone.id == ids[0] and gone.reason == "the prompt differs per user" and gone.status == "dismissed"
        assert {r.id for r in recommend(store, Settings(), status="all").recommendations} == set(ids)
        assert recommend(store, Settings(), min_savings=Decimal(200)).recommendations == []


def test_open_figures_refresh_and_ids_are_stable(store):
    load(store, caching_workload()[:30])
    [before] = recommend(store, Settings()).recommendations
    load(store, [row(LAST, "anthropic", "claude-sonnet-4-5", input=10_000_000, output=0, requests=1_000,
                     feature="kb")])
    [after] = recommend(store, Settings()).recommendations
    assert after.id == before.id and after.monthly_savings_usd == before.monthly_savings_usd + Decimal("13.125")
    assert stored(store, "open")[0].monthly_savings_usd == after.monthly_savings_usd


def test_every_kind_is_registered_and_cache_ttl_says_why_it_is_skipped(store):
    assert set(kinds()) == {"prompt-caching", "cache-ttl", "batch", "model-downgrade", "long-context", "off-peak",
                            "unowned", "subscription"}
    load(store, caching_workload()[:30])
    ctx = Context.build(store, Settings())
    notes = find_all(ctx).notes
    ctx.close()
    assert any(n.startswith("cache-ttl: skipped: the ledger has one cache_write_tokens column") for n in notes)
    assert any(n.startswith("model-downgrade: no scope is marked low-stakes") for n in notes)


def test_a_new_kind_is_one_subclass(store):
    class Always(Kind):
        name = "test-always"
        summary = "for this test"

        def find(self, ctx: Context) -> list[Recommendation]:
            return [Recommendation(self.name, {"x": "y"}, "t", {}, Decimal(1000), "a", "low")]

    try:
        load(store, caching_workload()[:1])
        assert next(r.kind for r in recommend(store, Settings()).recommendations) == "test-always"
    finally:
        Kind.registry.pop("test-always")


# --- the real CLI, one subprocess per command ---------------------------------------------------


def test_cli_recommend_accept_dismiss_track(workdir: Path, ledger_url):
    (workdir / "aispend.toml").write_text('[[optimize.low_stakes]]\nfeature = "summaries"\n')
    with open_store(ledger_url("aispend")) as store:
        load(store, [*caching_workload()[:30], *downgrade_workload()])

    listed = run_cli("recommend", "--format", "json", cwd=workdir)
    assert listed.returncode == 0, listed.stderr
    recs = {(r["kind"], r["scope"]["feature"]): r for r in json.loads(listed.stdout)}
    assert recs[("prompt-caching", "kb")]["monthly_savings_usd"] == "393.75"
    assert recs[("model-downgrade", "summaries")]["monthly_savings_usd"] == "90.00"
    assert recs[("model-downgrade", "summaries")]["evidence"]["monthly_cost_usd"] == "135.00"  # 4.50 a day
    assert next(r["monthly_savings_usd"] for r in json.loads(listed.stdout)) == "393.75"  # ranked
    assert "cache-ttl: skipped" in listed.stderr

    swap_id, caching_id = recs[("model-downgrade", "summaries")]["id"], recs[("prompt-caching", "kb")]["id"]
    accepted = run_cli("recommend", "accept", swap_id, "--effective", "2026-10-31", "--format", "json", cwd=workdir)
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)[0]["status"] == "accepted"

    dismissed = run_cli("recommend", "dismiss", caching_id, "--reason", "prompts vary", "--format", "json", cwd=workdir)
    assert dismissed.returncode == 0, dismissed.stderr
    [gone] = json.loads(dismissed.stdout)
    assert (gone["id"], gone["status"], gone["reason"]) == (caching_id, "dismissed", "prompts vary")

    with open_store(ledger_url("aispend")) as store:
        load(store, [row(d, "anthropic", "claude-haiku-4-5", input=1_000_000, output=100_000, requests=100,
                         feature="summaries") for d in days(date(2026, 10, 31), 7)])
    tracked = run_cli("recommend", "track", "--format", "json", cwd=workdir)
    assert tracked.returncode == 0, tracked.stderr
    [week] = json.loads(tracked.stdout)
    # a week on Haiku (1.50 a day) against Sonnet (4.50 a day): 21.00 saved, 21.00 estimated (90 x 7 / 30)
    assert (week["id"], week["week_start"], week["saved_usd"], week["estimated_usd"]) == (
        swap_id, "2026-10-31", "21.00", "21.00")

    unknown = run_cli("recommend", "dismiss", "nope", "--reason", "x", cwd=workdir)
    assert unknown.returncode == 1 and "no recommendation 'nope'" in unknown.stderr
