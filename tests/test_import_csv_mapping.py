"""Mapped CSV imports: a vendor without a native format, described in aispend.toml."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest

from aispend.config import load_settings
from aispend.errors import ConfigError, ImportError_, ValidationError
from aispend.ingest import import_file

from .conftest import run_cli

CONFIG = """
[csv_mappings.vectorbase]
detect = ["Invoice Line", "Amount (cents)"]
timestamp_format = "%m/%d/%Y"
period = "day"
cost_unit = "cents"
constants = { provider = "VectorBase", service = "VectorBase Serverless", service_category = "Databases" }

[csv_mappings.vectorbase.columns]
period_start = "Usage Date"
description = "Invoice Line"
quantity = "Units"
unit = "Unit"
billed_cost = "Amount (cents)"
billing_currency = "Currency"
project = "Index"
"""

ROWS = """Usage Date,Invoice Line,Units,Unit,Amount (cents),Currency,Index
11/01/2026,Read units,1200000,Read Units,1234.5678,usd,support-kb
11/01/2026,Write units,30000,Write Units,45,usd,support-kb
11/02/2026,Storage,12.5,GB-Months,0.0001,usd,
"""


@pytest.fixture
def vendor(workdir):
    (workdir / "aispend.toml").write_text(CONFIG)
    (workdir / "vectorbase-2026-11.csv").write_text(ROWS)
    return workdir


def test_mapped_csv_lands_with_exact_dollars(vendor, store):
    settings = load_settings(None)
    result = import_file(store, settings, vendor / "vectorbase-2026-11.csv")
    assert (result.format, result.source, result.rows_loaded) == ("csv:vectorbase", "vectorbase", 3)
    rows = store.query(
        "SELECT period_start, period_end, provider, service, billed_cost, cost_usd, billing_currency, project, "
        "charge_category, cost_source, pricing_status FROM ledger ORDER BY period_start, billed_cost DESC"
    )
    assert rows[0] == (datetime(2026, 11, 1), datetime(2026, 11, 2), "vectorbase", "VectorBase Serverless",
                       Decimal("12.345678"), Decimal("12.345678"), "USD", "support-kb", "usage", "billed", "none")
    assert [r[4] for r in rows] == [Decimal("12.345678"), Decimal("0.45"), Decimal("0.000001")]


def test_detected_without_format_and_reported(vendor):
    imported = run_cli("import", "vectorbase-2026-11.csv", cwd=vendor)
    assert imported.returncode == 0, imported.stderr
    report = json.loads(run_cli("report", "--by", "provider,project", "--format", "json", cwd=vendor).stdout)
    assert {(r["provider"], r["project"]): r["cost_usd"] for r in report} == {
        ("vectorbase", "support-kb"): "12.795678",
        ("vectorbase", None): "0.000001",
    }


def test_a_bad_date_names_the_header_and_line(vendor, store):
    bad = vendor / "bad.csv"
    bad.write_text(ROWS.replace("11/02/2026", "2026-11-02"))
    with pytest.raises(ValidationError) as info:
        import_file(store, load_settings(None), bad)
    assert "bad.csv:4 column Usage Date: not a date/time (%m/%d/%Y) (value '2026-11-02')" in str(info.value)


def test_a_mapping_naming_a_missing_header_says_which(vendor, store):
    other = vendor / "other.csv"
    other.write_text(ROWS.replace("Index", "Namespace"))
    with pytest.raises(ImportError_) as info:
        import_file(store, load_settings(None), other, mapping="vectorbase")
    assert "Index" in str(info.value) and "Namespace" in str(info.value)


def test_a_mapping_must_name_ledger_columns(workdir):
    (workdir / "aispend.toml").write_text(CONFIG.replace('project = "Index"', 'projekt = "Index"'))
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert "projekt" in str(info.value) and "csv_mappings.vectorbase.columns" in str(info.value)


def test_token_rows_are_priced_and_unknown_models_flagged_never_zero(workdir, ledger_url):
    (workdir / "aispend.toml").write_text(
        '[csv_mappings.gateway]\ncolumns = { period_start = "day", model_raw = "model", input_tokens = "in", '
        'output_tokens = "out", requests = "calls", billed_cost = "usd" }\nconstants = { provider = "openai" }\n'
    )
    (workdir / "gw.csv").write_text("day,model,in,out,calls,usd\n2026-11-01,gpt-4o-mini,1000000,1000000,10,0.75\n"
                                     "2026-11-01,my-finetune-x,500,20,1,0.01\n")
    assert run_cli("import", "gw.csv", cwd=workdir).returncode == 0
    report = json.loads(run_cli("report", "--by", "model,pricing_status", "--format", "json", cwd=workdir).stdout)
    assert {(r["model"], r["pricing_status"]) for r in report} == {("gpt-4o-mini", "priced"), ("my-finetune-x", "unpriced")}
    table = run_cli("report", "--by", "model", cwd=workdir)
    assert "unpriced" not in table.stdout  # the unknown model's cost is known: it was billed

    # A gateway log without a bill: estimated rows; the unknown model's cost is unknown, and said so.
    (workdir / "aispend.toml").write_text(
        '[csv_mappings.gateway]\ncolumns = { period_start = "day", model_raw = "model", input_tokens = "in", '
        'output_tokens = "out", requests = "calls" }\nconstants = { provider = "openai" }\n'
    )
    (workdir / "gw.csv").write_text("day,model,in,out,calls\n2026-11-01,gpt-4o-mini,1000000,1000000,10\n"
                                     "2026-11-01,my-finetune-x,500,20,1\n")
    assert run_cli("import", "gw.csv", cwd=workdir).returncode == 0
    table = run_cli("report", "--by", "model,cost_source", cwd=workdir)
    assert "1 row(s) with 520 tokens are unpriced" in table.stdout and "estimated" in table.stdout

    # An override prices the unknown model; `aispend price` applies it to history.
    with (workdir / "aispend.toml").open("a") as fh:
        fh.write('[[pricing.overrides]]\nprovider = "openai"\nmodel = "my-finetune-x"\ninput_mtok = "3"\noutput_mtok = "12"\n')
    assert run_cli("price", cwd=workdir).returncode == 0
    from aispend.store import open_store

    with open_store(ledger_url("aispend")) as store:
        status, list_cost = store.query("SELECT pricing_status, list_cost_usd FROM ledger WHERE model = 'my-finetune-x'")[0]
        mini = store.query("SELECT list_cost_usd FROM ledger WHERE model = 'gpt-4o-mini'")[0][0]
    assert status == "override"
    assert list_cost == Decimal(500 * 3 + 20 * 12) / 1_000_000
    assert mini == Decimal("0.75")  # 1M in at $0.15 + 1M out at $0.60, the book's list price
