"""Unit costs and margin on a generated ledger and revenue whose answers are known by construction.

The expected figures are computed here in plain Python from the generated rows (with the counting
rule of docs/unit-economics.md written out again), never read back from the code under test.
"""

from __future__ import annotations

import itertools
import json
import random
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context
from decimal import Decimal as D
from pathlib import Path

import pyarrow as pa
import pytest

from aispend.analysis import Window
from aispend.analysis.report import ReportError
from aispend.analysis.unit_economics import UNATTRIBUTED, margin, unit_costs
from aispend.config import load_settings
from aispend.fx import import_fx
from aispend.revenue import import_revenue_csv
from aispend.schema import ARROW_SCHEMA
from aispend.store import open_store

from .conftest import run_cli

CUSTOMERS = ["Acme Logistics", "Globex Retail", "Initech Finance", "Hooli Cloud", None]
FEATURES = ["chat", "search", None]
ARMS = ["arm-a", "arm-b", None]
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4"]
FEB = Window(datetime(2026, 2, 1), datetime(2026, 3, 1))
CTX = Context(prec=100, rounding=ROUND_HALF_EVEN)


def generate(seed: int = 11) -> list[dict]:
    """A month of usage rows, a purchase without requests, a row outside the window, and one vendor
    seen twice on one day (a bill and a usage report of the same calls)."""
    rng = random.Random(seed)
    rows = []
    for d in range(28):
        day = datetime(2026, 2, 1) + timedelta(days=d)
        for customer in CUSTOMERS:
            for feature in FEATURES:
                rows.append(_row(day, "openai", "estimated", D(rng.randint(1, 5 * 10**9)).scaleb(-9),
                                 requests=rng.choice([None, rng.randint(0, 500)]), input_tokens=rng.randint(0, 2 * 10**6),
                                 output_tokens=rng.choice([None, rng.randint(0, 5 * 10**5)]), customer=customer,
                                 feature=feature, experiment=rng.choice(ARMS), model=rng.choice(MODELS)))
    rows.append(_row(datetime(2026, 2, 1), "vectorbase", "billed", D("99.99"), customer="Acme Logistics", feature="chat",
                     charge_category="purchase"))
    rows.append(_row(datetime(2026, 1, 31), "openai", "estimated", D(5000), requests=7, input_tokens=9,
                     customer="Acme Logistics", feature="chat", model="gpt-4o"))
    for kind, cost in (("billed", D("50.00")), ("estimated", D("40.00"))):
        rows.append(_row(datetime(2026, 2, 3), "aws", kind, cost, requests=100, input_tokens=1000, output_tokens=500,
                         customer="Acme Logistics", feature="chat", experiment="arm-a", model="claude-sonnet-4"))
    return rows


_IDS = itertools.count()


def _row(day: datetime, provider: str, cost_source: str, cost: D, **kw) -> dict:
    row = dict.fromkeys(ARROW_SCHEMA.names)
    row.update(row_id=f"r{next(_IDS)}", source=f"gen-{provider}", source_type="test", period_start=day,
               period_end=day + timedelta(days=1), billing_period=day.strftime("%Y-%m"), provider=provider,
               cost_source=cost_source, cost_usd=cost, billed_cost=cost if cost_source == "billed" else None,
               billing_currency="USD", charge_category="usage", pricing_status="priced")
    row.update(kw)
    return row


def load(store, rows: list[dict]) -> None:
    with store.transaction() as tx:
        tx.append("ledger", pa.Table.from_pylist(rows, schema=ARROW_SCHEMA))


def counted(rows: list[dict], window: Window = FEB) -> list[dict]:
    """The counting rule, again: on a provider and day with a bill and a usage report, the bill is
    the money and the usage report the quantities."""
    both = {(r["provider"], r["period_start"].date()) for r in rows if r["cost_source"] == "billed"} & \
           {(r["provider"], r["period_start"].date()) for r in rows if r["cost_source"] == "estimated"}
    out = []
    for r in rows:
        if not window.start <= r["period_start"] < window.end:
            continue
        r = dict(r)
        if (r["provider"], r["period_start"].date()) in both:
            if r["cost_source"] == "estimated":
                r["cost_usd"] = D(0)
            else:
                r["requests"] = r["input_tokens"] = r["output_tokens"] = None
        out.append(r)
    return out


def expected_units(rows: list[dict], by: list[str]) -> dict[tuple, dict]:
    groups: dict[tuple, dict] = {}
    for r in counted(rows):
        key = tuple(r[d] if r[d] else UNATTRIBUTED for d in by)
        g = groups.setdefault(key, {"cost_usd": D(0), "requests": 0, "tokens": 0})
        g["cost_usd"] += r["cost_usd"]
        g["requests"] += r["requests"] or 0
        g["tokens"] += (r["input_tokens"] or 0) + (r["output_tokens"] or 0)
    for g in groups.values():
        g["per_request"] = CTX.divide(g["cost_usd"], g["requests"]).quantize(D("1e-12"), context=CTX) if g["requests"] else None
        g["per_1k"] = CTX.divide(g["cost_usd"] * 1000, g["tokens"]).quantize(D("1e-12"), context=CTX) if g["tokens"] else None
    return groups


def cost_of(rows: list[dict], customer: str | None) -> D:
    return sum((r["cost_usd"] for r in counted(rows) if r["customer"] == customer), D(0))


@pytest.fixture
def ledger(workdir: Path, ledger_url):
    rows = generate()
    with open_store(ledger_url("aispend")) as store:
        load(store, rows)
    return rows


# --- unit costs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("by", [["feature"], ["customer"], ["model"], ["experiment"], ["feature", "customer"]])
def test_unit_costs_match_independent_sums(ledger, workdir, by, ledger_url):
    want = expected_units(ledger, by)
    with open_store(ledger_url("aispend")) as store:
        report = unit_costs(store, by, FEB)
    got = {tuple(r[d] for d in by): r for r in report.rows}
    assert set(got) == set(want)
    for key, w in want.items():
        g = got[key]
        assert (g["cost_usd"], g["requests"], g["input_tokens"] + g["output_tokens"]) == (w["cost_usd"], w["requests"], w["tokens"])
        assert (g["cost_per_request"], g["cost_per_1k_tokens"]) == (w["per_request"], w["per_1k"])
    # Buckets add up to the window: nothing without the dimension is dropped.
    assert sum(r["cost_usd"] for r in report.rows) == sum(r["cost_usd"] for r in counted(ledger))
    assert (UNATTRIBUTED,) * len(by) in got or by == ["model"]


def test_a_vendor_seen_twice_counts_its_requests_once(ledger, workdir, ledger_url):
    with open_store(ledger_url("aispend")) as store:
        report = unit_costs(store, ["provider"], FEB)
    aws = next(r for r in report.rows if r["provider"] == "aws")
    assert (aws["cost_usd"], aws["requests"], aws["input_tokens"], aws["output_tokens"]) == (D(50), 100, 1000, 500)
    assert aws["cost_per_request"] == D("0.5") and aws["cost_per_1k_tokens"] == CTX.divide(D(50_000), 1500).quantize(D("1e-12"))
    vb = next(r for r in report.rows if r["provider"] == "vectorbase")
    assert vb["requests"] == 0 and vb["cost_per_request"] is None and vb["cost_per_1k_tokens"] is None


def test_unit_costs_refuse_unknown_dimensions(store):
    with pytest.raises(ReportError, match="unknown dimension"):
        unit_costs(store, ["planet"])


# --- margin -------------------------------------------------------------------------------------------


def revenue_csv(rows: list[dict]) -> str:
    """Revenue built so each customer's February margin is known."""
    return (
        "customer,date,amount,currency,id\n"
        f"Acme Logistics,2026-02-15,{cost_of(rows, 'Acme Logistics') + 1000},USD,R1\n"  # margin +1000
        f"Globex Retail,2026-02-15,{cost_of(rows, 'Globex Retail') - D('12.34')},USD,R2\n"  # margin -12.34
        "Initech Finance,2026-02-10,800.00,EUR,R3\n"  # at 1.085 USD per EUR: 868 USD
        "Hooli Cloud,2026-02-10,120000,JPY,R4\n"  # no JPY rate: not converted, reported
        "Vandelay Imports,2026-02-20,300,USD,R5\n"  # revenue, no AI cost
        "Acme Logistics,2026-03-01,777,USD,R6\n"  # March: outside the window
    )


@pytest.fixture
def with_revenue(ledger, workdir, ledger_url):
    (workdir / "revenue.csv").write_text(revenue_csv(ledger))
    (workdir / "rates.csv").write_text("currency,day,usd_rate\nEUR,2026-02-09,1.085\n")
    with open_store(ledger_url("aispend")) as store:
        import_revenue_csv(store, workdir / "revenue.csv")
        import_fx(store, workdir / "rates.csv")
    return ledger


def expected_margin(rows: list[dict]) -> dict[str, dict]:
    revenue = {"Acme Logistics": cost_of(rows, "Acme Logistics") + 1000,
               "Globex Retail": cost_of(rows, "Globex Retail") - D("12.34"),
               "Initech Finance": D("868.0"), "Hooli Cloud": D(0), "Vandelay Imports": D(300), UNATTRIBUTED: D(0)}
    out = {}
    for name, rev in revenue.items():
        cost = cost_of(rows, None if name == UNATTRIBUTED else name)
        m = rev - cost
        out[name] = {"revenue_usd": rev, "cost_usd": cost, "margin_usd": m,
                     "margin_pct": CTX.divide(m * 100, rev).quantize(D("0.01"), context=CTX) if rev > 0 else None}
    return out


def test_margin_known_by_construction(with_revenue, workdir, ledger_url):
    want = expected_margin(with_revenue)
    assert want["Acme Logistics"]["margin_usd"] == 1000 and want["Globex Retail"]["margin_usd"] == D("-12.34")
    with open_store(ledger_url("aispend")) as store:
        report = margin(store, load_settings(None), "customer", FEB)
    got = {r["customer"]: r for r in report.rows}
    assert set(got) == set(want)
    for name, w in want.items():
        assert {k: got[name][k] for k in w} == w, name
    assert got["Hooli Cloud"]["unconverted_revenue_rows"] == 1 and report.unconverted == {"JPY": D(120000)}
    assert [r["margin_usd"] for r in report.rows] == sorted(w["margin_usd"] for w in want.values())  # worst first
    assert report.revenue_usd == sum(w["revenue_usd"] for w in want.values())
    assert report.cost_usd == sum(r["cost_usd"] for r in counted(with_revenue))
    notes = "\n".join(report.lines())
    assert "1 revenue row(s)" in notes and "120000.00 JPY" in notes


def test_margin_by_feature_needs_revenue_that_names_features(with_revenue, workdir, ledger_url):
    with open_store(ledger_url("aispend")) as store:
        with pytest.raises(ReportError, match="names a feature"):
            margin(store, load_settings(None), "feature", FEB)
        (workdir / "by_feature.csv").write_text("customer,month,amount,currency,feature\n"
                                                "Acme Logistics,2026-02,2500,USD,chat\n"
                                                "Globex Retail,2026-02,400,USD,search\n")
        import_revenue_csv(store, workdir / "by_feature.csv")
        report = margin(store, load_settings(None), "feature", FEB)
    got = {r["feature"]: r for r in report.rows}
    chat = sum((r["cost_usd"] for r in counted(with_revenue) if r["feature"] == "chat"), D(0))
    assert got["chat"]["revenue_usd"] == 2500 and got["chat"]["margin_usd"] == 2500 - chat
    assert got["search"]["revenue_usd"] == 400
    # Revenue without a feature (the first CSV) and cost without one meet in (unattributed).
    assert got[UNATTRIBUTED]["revenue_usd"] == expected_margin(with_revenue)["Acme Logistics"]["revenue_usd"] + \
        expected_margin(with_revenue)["Globex Retail"]["revenue_usd"] + D("868.0") + 300


def test_margin_refuses_other_dimensions(store):
    with pytest.raises(ReportError, match="customer or feature"):
        margin(store, load_settings(None), "model")


# --- the CLI, as a user runs it ---------------------------------------------------------------------


def test_cli_unit_cost_json(ledger, workdir):
    result = run_cli("unit-cost", "--by", "feature", "--month", "2026-02", "--format", "json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    want = expected_units(ledger, ["feature"])
    got = {r["feature"]: r for r in json.loads(result.stdout)}
    assert set(got) == {"chat", "search", UNATTRIBUTED}
    for (feature,), w in want.items():
        assert D(got[feature]["cost_usd"]) == w["cost_usd"] and got[feature]["requests"] == w["requests"]
        assert D(got[feature]["cost_per_request"]) == w["per_request"]
        assert D(got[feature]["cost_per_1k_tokens"]) == w["per_1k"]
        assert isinstance(got[feature]["cost_per_request"], str)  # exact decimal text, never a float


def test_cli_margin_json(with_revenue, workdir):
    result = run_cli("margin", "--by", "customer", "--month", "2026-02", "--format", "json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    got = {r["customer"]: r for r in json.loads(result.stdout)}
    want = expected_margin(with_revenue)
    assert got["Acme Logistics"]["margin_usd"] == "1000.00" and got["Globex Retail"]["margin_usd"] == "-12.34"
    for name, w in want.items():
        assert D(got[name]["revenue_usd"]) == w["revenue_usd"] and D(got[name]["cost_usd"]) == w["cost_usd"]
        assert got[name]["margin_pct"] == (None if w["margin_pct"] is None else format(w["margin_pct"], "f"))
    assert "120000.00 JPY" in result.stderr  # the note, on stderr: stdout stays JSON
    bad = run_cli("margin", "--by", "feature", "--month", "2026-02", cwd=workdir)
    assert bad.returncode == 1 and "names a feature" in bad.stderr
