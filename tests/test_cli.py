"""The `aispend` command end to end, as a user runs it (a real process, a real DuckDB file)."""

from __future__ import annotations

import csv
import json
from decimal import Decimal

import pytest

from aispend.store import open_store

from .conftest import FOCUS_SAMPLE, STORE_ENGINE, run_cli

COMMANDS = ["import", "report", "export", "demo", "price", "rejects", "imports", "schema", "sync", "renormalize"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself(workdir, command):
    result = run_cli(command, "--help", cwd=workdir)
    assert result.returncode == 0
    assert "Usage:" in result.stdout and len(result.stdout.splitlines()) > 5


def test_demo_then_report_and_export_agree(workdir):
    demo = run_cli("demo", "--months", "2", "--today", "2026-11-30", "--format", "json", cwd=workdir)
    assert demo.returncode == 0, demo.stderr
    this_month = {r["provider"]: Decimal(r["cost_usd"]) for r in json.loads(demo.stdout)}
    assert set(this_month) == {"openai", "anthropic", "aws", "azure", "gcp", "vectorbase"}
    assert (workdir / "aispend-demo").is_dir()
    if STORE_ENGINE == "duckdb":  # on PostgreSQL the default ledger is a database, not a file
        assert (workdir / "aispend.duckdb").exists()

    report = run_cli("report", "--month", "2026-11", "--by", "provider", "--format", "json", cwd=workdir)
    assert {r["provider"]: Decimal(r["cost_usd"]) for r in json.loads(report.stdout)} == this_month

    daily = run_cli("report", "--month", "2026-11", "--by", "provider", "--granularity", "day",
                    "--where", "provider=aws", "--format", "csv", cwd=workdir)
    rows = list(csv.DictReader(daily.stdout.splitlines()))
    assert {r["provider"] for r in rows} == {"aws"} and len({r["period"] for r in rows}) == 30
    assert sum(Decimal(r["cost_usd"]) for r in rows) == this_month["aws"]

    out = workdir / "nov.focus.csv"
    exported = run_cli("export", "--format", "focus", "--out", str(out), "--month", "2026-11", cwd=workdir)
    assert exported.returncode == 0, exported.stderr
    with out.open(newline="") as fh:
        focus_rows = list(csv.DictReader(fh))
    assert sum(Decimal(r["BilledCost"]) for r in focus_rows) == sum(this_month.values())

    again = run_cli("demo", "--months", "2", "--today", "2026-11-30", "--format", "json", cwd=workdir)
    assert json.loads(again.stdout) == json.loads(demo.stdout)  # re-running never double counts


def test_errors_are_one_line_with_a_non_zero_exit(workdir):
    missing = run_cli("import", "nope.csv", cwd=workdir)
    assert missing.returncode == 1 and "nope.csv: no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_month = run_cli("report", "--month", "2026/11", cwd=workdir)
    assert bad_month.returncode == 1 and "--month '2026/11' is not YYYY-MM" in bad_month.stderr
    bad_where = run_cli("report", "--where", "colour=red", cwd=workdir)
    assert bad_where.returncode == 1 and "unknown dimension(s) colour" in bad_where.stderr


def test_one_bad_file_does_not_stop_the_others(workdir):
    (workdir / "junk.csv").write_text("a,b\n1,2\n")
    result = run_cli("import", "--json", "junk.csv", str(FOCUS_SAMPLE), cwd=workdir)
    assert result.returncode == 1
    assert "junk.csv: no known format matches its header" in result.stderr
    assert [r["rows_loaded"] for r in json.loads(result.stdout)] == [1000]


def test_the_store_option_and_env_pick_the_ledger(workdir, ledger_url):
    elsewhere = ledger_url("elsewhere")
    run_cli("--store", elsewhere, "import", str(FOCUS_SAMPLE), cwd=workdir)
    if STORE_ENGINE == "duckdb":
        assert (workdir / "elsewhere.duckdb").exists() and not (workdir / "aispend.duckdb").exists()
    else:  # both databases exist from the start: the rows must have gone to the one named
        count = "SELECT count(*) FROM ledger"
        with open_store(elsewhere) as there, open_store(ledger_url("aispend")) as default:
            assert there.query(count)[0][0] > 0 and default.query(count)[0][0] == 0
    via_env = run_cli("report", "--format", "json", cwd=workdir, env={"AISPEND_STORE_URL": elsewhere})
    assert len(json.loads(via_env.stdout)) == 3


def test_fx_rates_convert_rows_billed_in_another_currency(workdir):
    (workdir / "aispend.toml").write_text(
        '[csv_mappings.eu-vendor]\ncolumns = { period_start = "day", billed_cost = "amount", billing_currency = "cur" }\n'
        'constants = { provider = "mistral" }\n'
    )
    (workdir / "bill.csv").write_text("day,amount,cur\n2026-11-06,100.00,EUR\n2026-11-07,10.00,EUR\n")
    assert run_cli("import", "bill.csv", cwd=workdir).returncode == 0
    before = run_cli("report", cwd=workdir)
    assert "2 row(s) billed in a currency without a USD rate (110.00 EUR)" in before.stdout
    assert "[pricing.fx]" in before.stdout  # rich markup does not eat it

    # ECB layout: units per EUR; Saturday 2026-11-07 uses Friday's rate.
    (workdir / "eurofxref.csv").write_text("Date,USD,JPY\n2026-11-06,1.0800,170.00\n")
    imported = run_cli("fx", "import", "eurofxref.csv", cwd=workdir)
    assert imported.returncode == 0, imported.stderr
    listed = json.loads(run_cli("fx", "list", "--format", "json", cwd=workdir).stdout)
    assert {r["currency"]: r["latest_usd_rate"] for r in listed}["EUR"] == "1.08"
    after = json.loads(run_cli("report", "--format", "json", cwd=workdir).stdout)
    assert Decimal(after[0]["cost_usd"]) == Decimal("118.80")
