"""Anomaly detection on generated ledgers with known, injected anomalies, on real DuckDB files.

The generator below writes ten weeks of a fictional company's AI spend: daily rows for most
workloads and hourly rows for one, with weekday/weekend seasonality and lognormal noise from a
seed. Into the last four weeks (the window judged) it plants six anomalies, and beside them
the look-alikes that must stay quiet: a slow ramp (+3%/day for six weeks), a deep weekend dip, a
weekday-only job, and a 10x spike worth cents. Precision and recall are computed against that
truth over several seeds.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest

from aispend.analysis.anomalies import detect_anomalies, run_anomalies, stored_anomalies
from aispend.config import AnomalySettings, Settings, load_settings
from aispend.errors import ConfigError
from aispend.schema import ARROW_SCHEMA
from aispend.store import open_store
from tests.conftest import run_cli

START = datetime(2026, 1, 5)  # a Monday
DAYS = 70
SINCE = START + timedelta(days=42)  # the window judged: the last four weeks
UNTIL = START + timedelta(days=DAYS)
SPIKE_DAY = SINCE + timedelta(days=10)  # chat spends 4x
SUNDAY_SPIKE = SINCE + timedelta(days=20)  # chat spends 2.5x a Sunday: still less than a weekday
NEW_MODEL_DAY = SINCE + timedelta(days=8)  # o3 appears
NEW_KEY_DAY = SINCE + timedelta(days=14)  # half of chat moves to a new key
TPR_JUMP = SINCE + timedelta(days=17, hours=14)  # kb's prompt goes 4k -> 40k input tokens, for 6 hours
TPR_HOURS = 6
SILENT_DAY = SINCE + timedelta(days=22)  # tagging stops for good
CENTS_DAY = SINCE + timedelta(days=12)  # embeddings spend 10x: four cents
RAMP_FROM = 28  # review grows 3% a day from this day index on
NOISE = 0.08  # sigma of the daily lognormal noise on spend


@dataclass(frozen=True)
class Stream:
    """One workload: who, what, and its tokens and prices (USD per million tokens)."""

    provider: str
    model: str
    feature: str
    project: str
    key: str | None
    tokens_in: int
    tokens_out: int
    price_in: float
    price_out: float


CHAT = Stream("openai", "gpt-4o", "chat", "Assistant", "key_chat", 3000, 350, 2.5, 10)
KB = Stream("openai", "gpt-4.1", "kb", "Knowledge", "key_kb", 4000, 400, 2, 8)
RESEARCH = Stream("openai", "o3", "research", "Assistant", "key_chat", 5000, 2000, 2, 8)
EMBED = Stream("openai", "text-embedding-3-small", "indexing", "Knowledge", "key_kb", 700, 0, 0.02, 0)
REVIEW = Stream("anthropic", "claude-sonnet-4", "review", "DevTools", "key_dev", 9000, 700, 3, 15)
BATCH = Stream("anthropic", "claude-haiku-4-5", "nightly-batch", "DevTools", "key_dev", 2000, 150, 1, 5)
MODERATION = Stream("gcp", "gemini-2.5-flash", "moderation", "trust", None, 1500, 260, 0.3, 2.5)
TAGGING = Stream("azure", "gpt-4o-mini", "tagging", "catalog", None, 1200, 80, 0.15, 0.6)


def _weekend(day: datetime) -> bool:
    return day.weekday() >= 5


def daily_usd(stream: Stream, i: int, day: datetime) -> float:
    """The spend a stream means to make on day ``i`` (before noise)."""
    if stream is CHAT:
        return 200 * (0.5 if _weekend(day) else 1) * (4 if day == SPIKE_DAY else 2.5 if day == SUNDAY_SPIKE else 1)
    if stream is REVIEW:  # the slow ramp
        return 50 * (0.6 if _weekend(day) else 1) * 1.03 ** max(0, i - RAMP_FROM)
    if stream is BATCH:  # weekdays only
        return 0 if _weekend(day) else 30
    if stream is MODERATION:  # a deep weekend dip: Monday is 8x Sunday
        return 15 if _weekend(day) else 120
    if stream is TAGGING:
        return 0 if day >= SILENT_DAY else (40 if _weekend(day) else 60)
    if stream is RESEARCH:
        return 30 if day >= NEW_MODEL_DAY else 0
    if stream is EMBED:  # cents: a 10x day must not alert
        return 0.04 * (10 if day == CENTS_DAY else 1)
    raise AssertionError(stream)


def _row(stream: Stream, start: datetime, length: timedelta, requests: int, tin: int, tout: int,
         key: str | None) -> dict:
    cost = Decimal(requests * (tin * stream.price_in + tout * stream.price_out)) / 1_000_000
    cost = cost.quantize(Decimal("1e-9"))
    row = dict.fromkeys(ARROW_SCHEMA.names)
    row.update(
        row_id=f"{stream.feature}-{stream.model}-{key}-{start.isoformat()}", source="synthetic", source_type="focus",
        period_start=start, period_end=start + length, billing_period=start.strftime("%Y-%m"),
        provider=stream.provider, publisher=stream.provider, model=stream.model, model_raw=stream.model,
        charge_category="usage", input_tokens=requests * tin, output_tokens=requests * tout, requests=requests,
        billed_cost=cost, billing_currency="USD", cost_usd=cost, list_cost_usd=cost, cost_source="billed",
        pricing_status="priced", project=stream.project, api_key_id=key, environment="prod",
        feature=stream.feature,
    )
    return row


def generate(seed: int) -> list[dict]:
    """Every ledger row of the synthetic company, deterministic for a seed."""
    rng = random.Random(seed)
    rows = []
    for i in range(DAYS):
        day = START + timedelta(days=i)
        for stream in (CHAT, RESEARCH, EMBED, REVIEW, BATCH, MODERATION, TAGGING):
            usd = daily_usd(stream, i, day) * rng.lognormvariate(0, NOISE)
            tin = round(stream.tokens_in * rng.lognormvariate(0, 0.03))
            tout = round(stream.tokens_out * rng.lognormvariate(0, 0.03))
            per_request = (tin * stream.price_in + tout * stream.price_out) / 1_000_000
            requests = round(usd / per_request)
            if requests <= 0:
                continue
            if stream is CHAT and day >= NEW_KEY_DAY:
                half = requests // 2
                rows.append(_row(stream, day, timedelta(days=1), half, tin, tout, "key_chat_v2"))
                requests -= half
            rows.append(_row(stream, day, timedelta(days=1), requests, tin, tout, stream.key))
        for hour in range(24):  # kb is synced hourly
            at = day + timedelta(hours=hour)
            daylight = 0.3 + 1.2 * max(0.0, 1 - abs(hour - 14) / 8)
            requests = round(100 * daylight * (0.6 if _weekend(day) else 1) * rng.lognormvariate(0, 0.1))
            tin = round(KB.tokens_in * rng.lognormvariate(0, 0.03))
            if TPR_JUMP <= at < TPR_JUMP + timedelta(hours=TPR_HOURS):
                tin *= 10
            tout = round(KB.tokens_out * rng.lognormvariate(0, 0.03))
            rows.append(_row(KB, at, timedelta(hours=1), requests, tin, tout, KB.key))
    return rows


def load(store, rows: list[dict]) -> None:
    with store.transaction() as tx:
        tx.append("ledger", pa.Table.from_pylist(rows, schema=ARROW_SCHEMA))


# --- the truth ----------------------------------------------------------------------------------


def _attrs(stream: Stream, **extra: str) -> dict[str, str]:
    return {"provider": stream.provider, "model": stream.model, "feature": stream.feature,
            "project": stream.project, **({"api_key_id": stream.key} if stream.key else {}), **extra}


@dataclass
class Injected:
    """An anomaly put there on purpose: found when an alert of ``kind`` starts in [start, end).

    ``side`` lists (kind, start, end) that are true consequences (the 10x prompt makes its day a
    spend spike too): they count as correct alerts, but not as finding the anomaly.
    """

    name: str
    kind: str
    attrs: dict[str, str]
    start: datetime
    end: datetime
    side: list[tuple[str, datetime, datetime]] = field(default_factory=list)

    def explains(self, a, *, primary_only: bool = False) -> bool:
        if any(self.attrs.get(k) != v for k, v in a.scope):
            return False
        spans = [(self.kind, self.start, self.end)] + ([] if primary_only else self.side)
        return any(a.kind == kind and lo <= a.start < hi for kind, lo, hi in spans)


DAY = timedelta(days=1)
TRUTH = [
    Injected("spike", "spend_spike", _attrs(CHAT), SPIKE_DAY, SPIKE_DAY + DAY),
    # Found only by comparing a Sunday with past Sundays: it is below an ordinary weekday.
    Injected("Sunday spike", "spend_spike", _attrs(CHAT), SUNDAY_SPIKE, SUNDAY_SPIKE + DAY),
    # Judged within the hour: the anomaly starts in the first jumping hour.
    Injected("prompt 4k->40k", "tokens_per_request", _attrs(KB), TPR_JUMP, TPR_JUMP + timedelta(hours=1),
             side=[("spend_spike", TPR_JUMP.replace(hour=0), TPR_JUMP.replace(hour=0) + DAY)]),
    Injected("new model", "new_model", _attrs(RESEARCH), NEW_MODEL_DAY, NEW_MODEL_DAY + DAY),
    Injected("new key", "new_api_key", _attrs(CHAT, api_key_id="key_chat_v2"), NEW_KEY_DAY, NEW_KEY_DAY + DAY),
    Injected("silence", "silent_scope", _attrs(TAGGING), SILENT_DAY, SILENT_DAY + DAY),
]
QUIET = (REVIEW, BATCH, MODERATION, EMBED)  # the ramp, the weekday-only job, the weekend dip, the cents


def score(anomalies) -> tuple[float, float, list, list]:
    """(precision, recall, false alarms, missed injections)."""
    false = [a for a in anomalies if not any(t.explains(a) for t in TRUTH)]
    missed = [t.name for t in TRUTH if not any(t.explains(a, primary_only=True) for a in anomalies)]
    precision = 1 - len(false) / len(anomalies) if anomalies else 0.0
    return precision, 1 - len(missed) / len(TRUTH), false, missed


def lookalike(a) -> bool:
    """A false alarm whose scope holds a look-alike that must stay quiet."""
    return any(all(_attrs(s).get(k) == v for k, v in a.scope) for s in QUIET)


@pytest.fixture
def ledger(store):
    load(store, generate(seed=1))
    return store


# --- precision and recall -------------------------------------------------------------------------


def test_precision_and_recall_over_seeds(workdir, ledger_url):
    found = false_alarms = 0
    missed: list[str] = []
    noisy: list[str] = []
    for seed in range(1, 6):
        with open_store(ledger_url(f"seed{seed}")) as store:
            load(store, generate(seed))
            anomalies = detect_anomalies(store, AnomalySettings(), SINCE, UNTIL).anomalies
        _, _, false, miss = score(anomalies)
        found += len(anomalies)
        false_alarms += len(false)
        missed += miss
        noisy += [a.explanation for a in false]
        assert not [a.explanation for a in false if lookalike(a)], "a ramp, dip, weekday-only job or cents alerted"
    precision = 1 - false_alarms / found
    recall = 1 - len(missed) / (5 * len(TRUTH))
    print(f"\nanomalies: {found} alerts over 5 seeds, precision {precision:.3f}, recall {recall:.3f}")
    assert recall == 1.0, missed
    assert precision >= 0.9, noisy


def test_each_kind_reports_what_happened(ledger):
    anomalies = detect_anomalies(ledger, AnomalySettings(), SINCE, UNTIL).anomalies

    def one(kind, scope, start=None):
        hits = [a for a in anomalies if (a.kind, a.scope) == (kind, scope) and start in (None, a.start)]
        assert len(hits) == 1, [a.explanation for a in hits]
        return hits[0]

    spike = one("spend_spike", (("provider", "openai"), ("model", "gpt-4o")), SPIKE_DAY)
    assert spike.metric == "usd_per_day"
    assert 3 < spike.actual / spike.expected < 5.5  # 4x, give or take the noise
    assert spike.impact_usd == spike.actual - spike.expected and isinstance(spike.impact_usd, Decimal)
    assert spike.severity == "critical"  # ~$600 over, past critical_usd = 500

    tpr = one("tokens_per_request", (("model", "gpt-4.1"), ("feature", "kb")))
    assert (tpr.start, tpr.end) == (TPR_JUMP, TPR_JUMP + timedelta(hours=TPR_HOURS))  # one anomaly for the 6 hours
    assert tpr.metric == "input_tokens_per_request"
    assert 3600 < tpr.expected < 4400 and 36_000 < tpr.actual < 44_000
    # The extra 36k input tokens of each request at $2/M, over the jump's requests.
    hours = [r for r in generate(1) if r["feature"] == "kb"
             and TPR_JUMP <= r["period_start"] < TPR_JUMP + timedelta(hours=TPR_HOURS)]
    extra = sum(r["input_tokens"] - r["requests"] * 4000 for r in hours) * Decimal(2) / 1_000_000
    assert abs(tpr.impact_usd - extra) / extra < Decimal("0.1")

    silent = one("silent_scope", (("provider", "azure"), ("model", "gpt-4o-mini")))
    assert silent.actual == 0 and silent.end == UNTIL and silent.impact_usd < 0
    assert "still silent" in silent.explanation
    new_key = one("new_api_key", (("api_key_id", "key_chat_v2"),))
    assert new_key.start == NEW_KEY_DAY and new_key.expected == 0 and new_key.actual > 0


def test_a_jump_on_hourly_data_is_found_within_the_hour(ledger):
    # Judged at 15:00, one hour into the jump: nothing later is read.
    detection = detect_anomalies(ledger, AnomalySettings(), SINCE, TPR_JUMP + timedelta(hours=1))
    jumps = [a for a in detection.anomalies if a.kind == "tokens_per_request"]
    assert {a.start for a in jumps} == {TPR_JUMP} and {a.end for a in jumps} == {TPR_JUMP + timedelta(hours=1)}
    assert "for 1 h" in jumps[0].explanation


def test_a_jump_in_usage_rows_under_a_bill_is_priced_from_their_estimate(store):
    # kb's hourly rows as a usage report (estimated) while openai's bill covers every day: the
    # counted ledger zeroes their cost, yet the jump's impact is what those tokens cost.
    rows = generate(seed=1)
    for r in rows:
        if r["feature"] == "kb":
            r["cost_source"] = "estimated"
    load(store, rows)
    jumps = [a for a in detect_anomalies(store, AnomalySettings(), SINCE, UNTIL).anomalies
             if a.kind == "tokens_per_request"]
    assert jumps and {a.start for a in jumps} == {TPR_JUMP}
    assert all(Decimal(40) < a.impact_usd < Decimal(60) for a in jumps)  # ~36k extra tokens x ~690 requests x $2/M


def test_the_yesterday_rule_is_optional_and_literal(ledger):
    settings = AnomalySettings()
    assert not [a for a in detect_anomalies(ledger, settings, SINCE, UNTIL).anomalies if a.kind == "spend_vs_yesterday"]
    settings.spike.yesterday = True
    rule = [a for a in detect_anomalies(ledger, settings, SINCE, UNTIL).anomalies if a.kind == "spend_vs_yesterday"]
    assert SPIKE_DAY in {a.start for a in rule if dict(a.scope).get("model") == "gpt-4o"}
    # Why it is off by default: taken literally it calls every Monday after a quiet weekend a jump.
    mondays = {a.start for a in rule if dict(a.scope).get("model") == "gemini-2.5-flash"}
    assert mondays and all(d.weekday() == 0 for d in mondays)


def test_thresholds_come_from_config(ledger):
    settings = AnomalySettings()
    settings.spike.min_impact_usd = Decimal(10_000)
    kinds = {a.kind for a in detect_anomalies(ledger, settings, SINCE, UNTIL).anomalies}
    assert "spend_spike" not in kinds and "tokens_per_request" in kinds
    settings = AnomalySettings(warning_usd=Decimal(1), critical_usd=Decimal(1))
    assert {a.severity for a in detect_anomalies(ledger, settings, SINCE, UNTIL).anomalies} == {"critical"}


def test_bad_scope_in_config_names_the_choices(workdir):
    (workdir / "aispend.toml").write_text('[anomalies.spike]\nscopes = [["provider", "modle"]]\n')
    with pytest.raises(ConfigError, match=r"anomalies\.spike\.scopes.*choose from: .*model"):
        load_settings(None)


# --- storage --------------------------------------------------------------------------------------


def test_rerunning_a_window_replaces_never_duplicates(ledger):
    first = run_anomalies(ledger, AnomalySettings(), SINCE, UNTIL)
    stored = {r["id"]: r for r in stored_anomalies(ledger)}
    assert len(stored) == len(first.anomalies) > 5 and first.replaced == 0
    again = run_anomalies(ledger, AnomalySettings(), SINCE, UNTIL)
    assert again.replaced == len(first.anomalies)
    after = {r["id"]: r for r in stored_anomalies(ledger)}
    assert after.keys() == stored.keys()
    assert all(after[i]["first_detected_at"] == stored[i]["first_detected_at"] for i in after)
    # An overlapping window replaces only its own part.
    run_anomalies(ledger, AnomalySettings(), SINCE + timedelta(days=14), UNTIL)
    assert {r["id"] for r in stored_anomalies(ledger)} == stored.keys()
    row = after[next(a.id for a in first.anomalies if a.kind == "spend_spike")]
    assert isinstance(row["impact_usd"], Decimal) and isinstance(row["scope"], dict)
    critical = stored_anomalies(ledger, kinds=["spend_spike"], min_severity="critical")
    assert critical and all(r["severity"] == "critical" and r["kind"] == "spend_spike" for r in critical)


# --- the demo's runaway prompt -------------------------------------------------------------------


def test_the_demo_runaway_prompt_day_is_found(workdir, ledger_url):
    from aispend.demo import run_demo

    with open_store(ledger_url("demo")) as store:
        demo = run_demo(store, Settings(), workdir / "demo", date(2026, 3, 12), months=2)
        since = datetime.combine(demo.migration_day, datetime.min.time())
        anomalies = run_anomalies(store, AnomalySettings(), since).anomalies
    runaway = datetime.combine(demo.runaway_day, datetime.min.time())
    on_day = {(a.kind, a.scope) for a in anomalies if a.start == runaway}
    assert ("tokens_per_request", (("model", "gpt-4.1"), ("feature", "kb-answers"))) in on_day
    assert ("spend_spike", (("provider", "openai"), ("model", "gpt-4.1"))) in on_day
    # Besides the runaway day, only the migration's new model: no false alarm in 3 weeks of demo.
    others = [(a.kind, a.scope) for a in anomalies if a.start != runaway]
    assert others == [("new_model", (("model", "gpt-4.1-mini"),))]


# --- the CLI --------------------------------------------------------------------------------------


def test_cli_detects_stores_and_prints_json(workdir, ledger_url):
    with open_store(ledger_url("aispend")) as store:
        load(store, generate(seed=2))
    (workdir / "aispend.toml").write_text('[anomalies.spike]\nscopes = [["provider", "model"], ["feature"]]\n')
    since, until = f"{SINCE:%Y-%m-%d}", f"{UNTIL:%Y-%m-%d}"
    proc = run_cli("anomalies", "--since", since, "--until", until, "--format", "json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    spikes = {json.dumps(r["scope"]): r for r in rows if r["kind"] == "spend_spike"}
    by_feature = spikes['{"feature": "chat"}']  # the configured scope
    assert by_feature["period_start"] == f"{SPIKE_DAY:%Y-%m-%d}T00:00:00Z"
    assert Decimal(by_feature["impact_usd"]) == Decimal(by_feature["actual"]) - Decimal(by_feature["expected"])
    assert "stored" in proc.stderr
    # Stored: a second run replaces them, and --kind only filters what is printed.
    again = run_cli("anomalies", "--since", since, "--until", until, "--kind", "silent_scope", "-f", "json",
                    cwd=workdir)
    assert again.returncode == 0 and {r["kind"] for r in json.loads(again.stdout)} == {"silent_scope"}
    assert f"replacing {len(rows)} from an earlier run" in again.stderr
    with open_store(ledger_url("aispend")) as store:
        assert store.query("SELECT count(*) FROM anomalies")[0][0] == len(rows)
    bad = run_cli("anomalies", "--since", "last tuesday", cwd=workdir)
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0 and "YYYY-MM-DD" in bad.stderr


def test_a_spike_is_reported_once_at_the_scope_that_names_its_cause(ledger, monkeypatch):
    import aispend.analysis.anomalies.detect as detect

    coarse = (("provider", "openai"),)
    fine = (("provider", "openai"), ("model", "gpt-4o"))

    def spikes(found):
        return {a.scope for a in found if a.kind == "spend_spike" and a.start == SPIKE_DAY}

    monkeypatch.setattr(detect, "_finest", lambda anomalies: anomalies)
    both = spikes(detect_anomalies(ledger, AnomalySettings(), SINCE, UNTIL).anomalies)
    assert {coarse, fine} <= both  # the provider's day spiked too, by the same dollars
    monkeypatch.undo()
    assert spikes(detect_anomalies(ledger, AnomalySettings(), SINCE, UNTIL).anomalies) == both - {coarse}
