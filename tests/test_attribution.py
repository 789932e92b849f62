"""Attribution rules on real vendor pages: applied on import and sync, first match wins per field,
source values kept, history re-attributed when rules change, rows explained."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from aispend.analysis import Window, spend_report
from aispend.attribution import attribute, explain
from aispend.config import load_settings
from aispend.errors import ConfigError
from aispend.ingest import import_file

from .conftest import run_cli

FIX = Path(__file__).parent / "fixtures" / "openai"

RULES = """
[[attribution.rules]]
name = "search key"
match = { api_key_id = "key_1" }
set = { owner = "search", feature = "answers" }

[[attribution.rules]]
name = "alpha project"
match = { project = "proj_a*" }
set = { owner = "platform", customer = "acme", "tags.cost_center" = "cc-42" }

[[attribution.rules]]
name = "4o family"
match = { model = ["re:gpt-4o(-mini)?", "gpt-5-mini"], source = "openai-usage" }
set = { feature = "chat", experiment = "arm-b" }
"""


def _settings(workdir: Path, text: str = RULES):
    (workdir / "aispend.toml").write_text(text)
    return load_settings(None)


def _rows(store) -> dict[tuple, tuple]:
    got = store.query("SELECT source, model, api_key_id, owner, feature, customer, experiment, tags, attributed_by "
                      "FROM ledger")
    return {(r[0], r[1], r[2]): r[3:] for r in got}


@pytest.fixture
def loaded(workdir, store):
    settings = _settings(workdir)
    import_file(store, settings, FIX / "usage_pages.json")
    import_file(store, settings, FIX / "costs_pages.json")
    return settings


def test_rules_attribute_rows_as_they_import_first_match_wins_per_field(store, loaded):
    rows = _rows(store)
    owner, feature, customer, experiment, tags, by = rows[("openai-usage", "gpt-4o-mini", "key_1")]
    # owner and feature from "search key" (first); customer and the tag from "alpha project";
    # experiment from "4o family" (feature was already taken by the first rule)
    assert (owner, feature, customer, experiment) == ("search", "answers", "acme", "arm-b")
    assert json.loads(tags) == {"user_id": "user-abc", "cost_center": "cc-42"}
    assert json.loads(by) == {"owner": "search key", "feature": "search key", "customer": "alpha project",
                              "tags.cost_center": "alpha project", "experiment": "4o family"}
    # key_2 / proj_beta: no key rule, no project rule; the embedding model is not in the 4o family
    assert rows[("openai-usage", "text-embedding-3-small", "key_2")][:5] == (None, None, None, None, None)
    # billed cost rows of proj_alpha: the project rule only (the 4o family rule is for usage rows)
    owner, feature, customer, experiment, tags, _ = rows[("openai", "gpt-5-mini", "key_batchjobs")]
    assert (owner, feature, customer, experiment) == ("platform", None, "acme", None)
    assert json.loads(tags)["cost_center"] == "cc-42" and json.loads(tags)["long_context"] == "true"


def test_a_value_from_the_source_is_never_overwritten(store, loaded):
    # as if the vendor (or [sources.X] owner = ...) had said who owns this row
    store.query("UPDATE ledger SET owner = 'finance', attributed_by = NULL, customer = NULL "
                "WHERE model = 'gpt-4o' AND source = 'openai-usage'")
    attribute(store, loaded)
    owner, _, customer, _, _, by = _rows(store)[("openai-usage", "gpt-4o", "key_1")]
    assert owner == "finance" and customer == "acme"
    assert "owner" not in json.loads(by) and json.loads(by)["customer"] == "alpha project"


def test_changed_rules_re_attribute_history_and_leave_nothing_behind(workdir, store, loaded):
    before = store.query("SELECT * FROM ledger ORDER BY row_id")
    assert attribute(store, loaded) == len(before) == 12
    assert store.query("SELECT * FROM ledger ORDER BY row_id") == before  # idempotent
    fewer = _settings(workdir, RULES.split("[[attribution.rules]]\nname = \"alpha project\"")[0])
    attribute(store, fewer)
    owner, feature, customer, _, tags, by = _rows(store)[("openai-usage", "gpt-4o-mini", "key_1")]
    assert (owner, feature, customer) == ("search", "answers", None)
    assert json.loads(tags) == {"user_id": "user-abc"}  # the rule's tag is gone, the vendor's stays
    assert set(json.loads(by)) == {"owner", "feature"}
    owner, _, customer, _, tags, by = _rows(store)[("openai", "gpt-5-mini", "key_batchjobs")]
    assert (owner, customer, by) == (None, None, None) and "cost_center" not in json.loads(tags)
    none = _settings(workdir, "")
    attribute(store, none)
    assert store.query("SELECT count(*) FROM ledger WHERE attributed_by IS NOT NULL OR owner IS NOT NULL")[0][0] == 0


def test_reports_show_the_unattributed_bucket_and_can_filter_it(store, loaded):
    report = spend_report(store, ["owner"], Window())
    by_owner = {r["owner"]: r["cost_usd"] for r in report.rows}
    assert set(by_owner) == {"search", "platform", "(unattributed)"}
    unattributed = store.query("SELECT sum(cost_usd) FROM ledger WHERE owner IS NULL AND source = 'openai'")[0][0]
    assert by_owner["(unattributed)"] == unattributed  # usage rows' estimates are superseded by the bill
    only = spend_report(store, ["provider"], Window(), where={"owner": ["(unattributed)"]})
    assert only.rows[0]["cost_usd"] == unattributed
    both = spend_report(store, ["provider"], Window(), where={"owner": ["(unattributed)", "platform"]})
    assert both.rows[0]["cost_usd"] == unattributed + by_owner["platform"]
    assert sum(by_owner.values(), Decimal(0)) == spend_report(store, [], Window()).rows[0]["cost_usd"]


def test_explain_names_the_rule_behind_each_field(store, loaded):
    [row_id] = store.query("SELECT row_id FROM ledger WHERE model = 'gpt-4o-mini'")[0]
    e = explain(store, loaded, row_id)
    by = {f["field"]: (f["value"], f["set_by"]) for f in e.fields}
    assert by["owner"] == ("search", "rule: search key") and by["customer"] == ("acme", "rule: alpha project")
    assert by["project"] == ("proj_alpha", "source") and by["environment"] == ("(unattributed)", "nothing: unattributed")
    assert by["tags.cost_center"] == ("cc-42", "rule: alpha project")
    assert e.matched == ["search key", "alpha project", "4o family"]


def test_bad_rules_are_refused_with_the_reason(workdir):
    for text, message in [
        ('[[attribution.rules]]\nmatch = { cost_usd = "1" }\nset = { owner = "x" }', "cannot match on cost_usd"),
        ('[[attribution.rules]]\nmatch = { provider = "aws" }\nset = { model = "x" }', "cannot set model"),
        ('[[attribution.rules]]\nmatch = { model = "re:gpt-(" }\nset = { owner = "x" }', "is not a regular expression"),
        ('[[attribution.rules]]\nmatch = {}\nset = { owner = "x" }', "match"),
    ]:
        (workdir / "aispend.toml").write_text(text)
        with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
            load_settings(None)


def test_sync_attributes_the_rows_it_loads(workdir, store, monkeypatch):
    from .fakes.openai_server import FakeOpenAI
    from .sync_helpers import run_sync, write_config

    with FakeOpenAI(seed=3) as fake:
        monkeypatch.setenv("OAI", fake.key)
        write_config(workdir, {"oai": {"type": "openai", "api_key": {"env": "OAI"}, "base_url": fake.base_url}})
        path = workdir / "aispend.toml"
        path.write_text(path.read_text() + '\n[[attribution.rules]]\nmatch = { source = "oai:usage" }\n'
                        'set = { owner = "from-usage" }\n')
        settings = load_settings(None)
        from datetime import date
        [r] = run_sync(store, settings, (date(2026, 1, 1), date(2026, 1, 8)))
    assert r.status == "ok", r.error
    owners = dict(store.query("SELECT source, list(DISTINCT owner) FROM ledger GROUP BY source"))
    assert owners == {"oai": [None], "oai:usage": ["from-usage"]}


def test_cli_attribute_and_explain(workdir, loaded, store, ledger_url):
    [row_id] = store.query("SELECT row_id FROM ledger WHERE model = 'gpt-4o-mini'")[0]
    store.close()
    db = ("--store", ledger_url("ledger"))
    out = run_cli(*db, "attribute", "--format", "json", cwd=workdir)
    assert out.returncode == 0, out.stderr
    cover = {c["field"]: c for c in json.loads(out.stdout)}
    assert cover["owner"]["by_rules"] == 8 and cover["owner"]["unattributed"] == 4  # proj_beta: 2 costs, 2 usage
    assert cover["owner"]["from_source"] == 0
    assert Decimal(cover["owner"]["unattributed_usd"]) > 0
    out = run_cli(*db, "attribute", "--explain", row_id, "--format", "json", cwd=workdir)
    assert out.returncode == 0, out.stderr
    fields = {f["field"]: f for f in json.loads(out.stdout)}
    assert fields["feature"]["set_by"] == "rule: search key"
    missing = run_cli(*db, "attribute", "--explain", "nope", cwd=workdir)
    assert missing.returncode == 1 and "no ledger row has row_id 'nope'" in missing.stderr


def test_lookup_tables_attribute_by_key_after_the_rules(workdir, store):
    (workdir / "keys.csv").write_text("api_key_id,owner,tags.team\nkey_1,billing,payments\nkey_2,ads,\n")
    (workdir / "projects.csv").write_text("project,customer\nproj_beta,initech\n")
    settings = _settings(workdir, RULES.split("[[attribution.rules]]\nname = \"alpha project\"")[0] +
                         '[[attribution.lookups]]\nfile = "keys.csv"\non = "api_key_id"\n'
                         '[[attribution.lookups]]\nfile = "projects.csv"\non = "project"\nname = "project owners"\n')
    import_file(store, settings, FIX / "usage_pages.json")
    rows = _rows(store)
    # key_1: the explicit rule "search key" sets owner first; the lookup fills only the tag
    owner, _, _, _, tags, by = rows[("openai-usage", "gpt-4o", "key_1")]
    assert owner == "search" and json.loads(tags) == {"team": "payments"}
    assert json.loads(by)["tags.team"] == "lookup keys.csv"
    owner, _, customer, _, tags, by = rows[("openai-usage", "text-embedding-3-small", "key_2")]
    assert (owner, customer, tags) == ("ads", "initech", None)  # an empty cell sets nothing
    assert json.loads(by) == {"owner": "lookup keys.csv", "customer": "project owners"}


def test_a_bad_lookup_file_names_its_line(workdir, store):
    (workdir / "keys.csv").write_text("api_key_id,owner\nkey_1,a\nkey_1,b\n")
    settings = _settings(workdir, '[[attribution.lookups]]\nfile = "keys.csv"\non = "api_key_id"\n')
    with pytest.raises(ConfigError, match="keys.csv:3: api_key_id 'key_1' appears twice"):
        import_file(store, settings, FIX / "usage_pages.json")
    assert store.query("SELECT count(*) FROM ledger")[0][0] == 0
