"""Built-in CSV mapping presets: valid mappings, detected by header, exact totals on a fixture each."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from aispend.config import CsvMapping, load_settings
from aispend.ingest import import_file
from aispend.ingest.presets import preset_mappings

FIXTURES = Path(__file__).parent / "fixtures" / "presets"
PRESETS = sorted(preset_mappings())


@pytest.fixture
def merged(settings):
    """Settings as the loader will build them: presets under the user's own mappings."""
    settings.csv_mappings = {**preset_mappings(), **settings.csv_mappings}
    return settings


def test_every_preset_is_a_valid_mapping_with_a_fixture():
    presets = preset_mappings()
    assert PRESETS == ["github-copilot-usage", "oci-cost-report", "openrouter-activity"]
    for name, mapping in presets.items():
        assert isinstance(mapping, CsvMapping)
        CsvMapping.model_validate(mapping.model_dump())  # round-trips through validation
        assert mapping.detect, f"{name}: a preset must say which headers identify its file"
        assert (FIXTURES / f"{name}.csv").is_file(), f"{name}: every preset needs a fixture"
    presets["openrouter-activity"].constants["provider"] = "changed"
    assert preset_mappings()["openrouter-activity"].constants["provider"] == "openrouter"  # copies


@pytest.mark.parametrize("name", PRESETS)
def test_each_fixture_is_detected_as_its_own_preset_only(store, merged, name):
    result = import_file(store, merged, FIXTURES / f"{name}.csv")
    assert (result.format, result.source) == (f"csv:{name}", name)


def test_openrouter_activity_totals_and_tokens(store, merged):
    result = import_file(store, merged, FIXTURES / "openrouter-activity.csv")
    assert result.rows_loaded == 4
    assert store.query(
        "SELECT sum(billed_cost), sum(cost_usd), sum(input_tokens), sum(output_tokens), sum(reasoning_tokens), "
        "sum(requests), count(cache_read_tokens) FROM ledger"
    ) == [(D("0.02674175"), D("0.02674175"), 8202, 1522, 640, 4, 0)]
    rows = {r[0]: r[1:] for r in store.query(
        "SELECT model_raw, provider, service, service_category, model, pricing_status, period_start, period_end "
        "FROM ledger")}
    sonnet = rows["anthropic/claude-sonnet-4"]
    assert sonnet[:5] == ("openrouter", "Anthropic", "AI and Machine Learning", "anthropic/claude-sonnet-4", "priced")
    assert sonnet[5:] == (datetime(2026, 1, 1, 1, 0, 0, 2000), datetime(2026, 1, 1, 2, 0, 0, 2000))
    assert rows["openai/gpt-4o-mini-2024-07-18"][3:5] == ("openai/gpt-4o-mini", "priced")
    assert rows["perplexity/sonar"][5] == datetime(2026, 1, 2)  # ISO with Z, UTC
    # reasoning is a subset of output: no row has more reasoning than output tokens
    assert store.query("SELECT count(*) FROM ledger WHERE reasoning_tokens > output_tokens") == [(0,)]


def test_github_copilot_usage_totals(store, merged):
    import_file(store, merged, FIXTURES / "github-copilot-usage.csv")
    assert store.query("SELECT sum(billed_cost), sum(quantity), count(*) FROM ledger") == [
        (D("6.8275"), D("380.25"), 4)]
    by_user = dict(store.query("SELECT owner, sum(billed_cost) FROM ledger GROUP BY owner"))
    assert by_user == {"octocat": D("5.2"), "hubot": D("1.6275")}
    distinct = "SELECT DISTINCT provider, service, service_category, account_id, pricing_status FROM ledger"
    assert store.query(distinct) == [
        ("github", "GitHub Copilot", "AI and Machine Learning", "acme-corp", "none")]
    # the in-quota requests stay as zero-cost usage, with their quantity
    assert store.query("SELECT quantity, unit, billed_cost FROM ledger WHERE model_raw = 'Claude Sonnet 4.5' "
                       "AND unit = 'requests'") == [(D(120), "requests", D(0))]


def test_a_user_mapping_of_the_same_name_overrides_the_preset(store, workdir):
    (workdir / "aispend.toml").write_text(
        '[csv_mappings.openrouter-activity]\n'
        'detect = ["generation_id", "cost_total"]\n'
        'constants = { provider = "my-router" }\n'
        '[csv_mappings.openrouter-activity.columns]\n'
        'period_start = "created_at"\nbilled_cost = "cost_total"\n'
    )
    settings = load_settings(None)
    settings.csv_mappings = {**preset_mappings(), **settings.csv_mappings}
    import_file(store, settings, FIXTURES / "openrouter-activity.csv")
    assert store.query("SELECT DISTINCT provider, input_tokens FROM ledger") == [("my-router", None)]


def test_oci_cost_report_both_timestamp_spellings_and_exact_cost(store, merged):
    import_file(store, merged, FIXTURES / "oci-cost-report.csv")
    rows = store.query("SELECT provider, service, period_start, billed_cost, project FROM ledger ORDER BY billed_cost DESC")
    assert [(r[0], r[1], r[2].isoformat(), r[3], r[4]) for r in rows] == [
        ("oracle", "GENERATIVE_AI", "2026-11-02T10:00:00", D("0.0225"), "ml-team"),
        ("oracle", "OBJECTSTORE", "2026-11-02T10:00:00", D("0.000000102"), "ml-team"),
    ]
