"""Revenue: the CSV import and the Stripe reader, against a real local server speaking Stripe's wire
format and a real DuckDB file.

Expected amounts are computed here from the values the test hands the fake (minor units and the
currency's exponent, by this file's own table), never read back from the code under test.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from aispend.config import SecretRef, StripeRevenueSettings
from aispend.errors import SyncError
from aispend.revenue import RevenueCsvError, import_revenue_csv, list_revenue, stripe_client, sync_stripe

from .conftest import run_cli
from .fakes.stripe_server import KEY, FakeStripe, Fault, charge, customer, invoice

ENV = "STRIPE_RESTRICTED_KEY"
EXPONENT = {"usd": 2, "eur": 2, "jpy": 0}  # Stripe: JPY is zero-decimal


def ts(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp())


FEB, MAR, APR = ts(2026, 2, 1), ts(2026, 3, 1), ts(2026, 4, 1)
NAMES = {"cus_A": "Acme Logistics", "cus_B": "Globex Retail"}  # by metadata; cus_C has none, cus_D is deleted


def world() -> tuple[FakeStripe, list[dict]]:
    """A Stripe account, and the revenue each document should give: (id, customer, currency, minor, created)."""
    fake = FakeStripe(customers={c: customer(c, {"aispend_customer": n}) for c, n in NAMES.items()}
                      | {"cus_C": customer("cus_C", {"other": "x"})})
    expected: list[dict] = []
    cycle = ["cus_A", "cus_B", "cus_C", "cus_D"]
    # 232 paid USD invoices in February: three pages of 100. Lines bill February; 8% tax is not revenue.
    for i in range(232):
        amount, discount, created = 1000 + 7 * i, (150 if i % 5 == 0 else 0), FEB + 10_000 * i
        fake.invoices.append(invoice(f"in_{i:04d}", cycle[i % 4], "usd", [(amount, FEB, MAR)], created=created,
                                     discount=discount, tax=(amount - discount) * 8 // 100,
                                     charge=f"ch_inv{i:04d}", payment_intent=f"pi_inv{i:04d}"))
        expected.append({"id": f"in_{i:04d}", "cus": cycle[i % 4], "currency": "usd", "minor": amount - discount,
                         "created": created})
    # A yen invoice (zero-decimal), a subscription billed in advance (its period is March), and
    # invoices the window or the status leaves out.
    fake.invoices.append(invoice("in_jpy", "cus_A", "jpy", [(120_000, FEB, MAR)], created=FEB + 3600))
    expected.append({"id": "in_jpy", "cus": "cus_A", "currency": "jpy", "minor": 120_000, "created": FEB + 3600})
    fake.invoices.append(invoice("in_adv", "cus_B", "usd", [(99_900, MAR, APR)], created=MAR - 7200))
    expected.append({"id": "in_adv", "cus": "cus_B", "currency": "usd", "minor": 99_900, "created": MAR - 7200})
    fake.invoices.append(invoice("in_jan", "cus_A", "usd", [(5_000, FEB - 86400 * 31, FEB)], created=FEB - 1))
    fake.invoices.append(invoice("in_mar", "cus_A", "usd", [(7_000, MAR, APR)], created=MAR + 86400))
    expected.append({"id": "in_mar", "cus": "cus_A", "currency": "usd", "minor": 7_000, "created": MAR + 86400})
    fake.invoices.append(invoice("in_open", "cus_A", "usd", [(9_999, FEB, MAR)], created=FEB + 50, status="open"))
    # Charges: one that paid an invoice (skipped), the same without Charge.invoice (matched by id),
    # a failed one, a full refund (skipped); a stand-alone one, a partial refund, a guest, yen.
    fake.charges += [
        charge("ch_inv0001", "cus_B", 1_000, "usd", created=FEB + 10, invoice="in_0001"),
        charge("ch_inv0002", "cus_C", 1_000, "usd", created=FEB + 20),
        charge("ch_failed", "cus_A", 4_000, "usd", created=FEB + 30, status="failed"),
        charge("ch_refunded", "cus_A", 2_500, "usd", created=FEB + 40, refunded=2_500),
        charge("ch_solo", "cus_B", 5_000, "usd", created=FEB + 86400 * 3, metadata={"aispend_feature": "api"}),
        charge("ch_partial", "cus_C", 3_000, "usd", created=FEB + 86400 * 4, refunded=1_000),
        charge("ch_guest", None, 700, "usd", created=FEB + 86400 * 5),
        charge("ch_yen", "cus_A", 500, "jpy", created=FEB + 86400 * 6),
    ]
    expected += [
        {"id": "ch_solo", "cus": "cus_B", "currency": "usd", "minor": 5_000, "created": FEB + 86400 * 3},
        {"id": "ch_partial", "cus": "cus_C", "currency": "usd", "minor": 2_000, "created": FEB + 86400 * 4},
        {"id": "ch_guest", "cus": None, "currency": "usd", "minor": 700, "created": FEB + 86400 * 5},
        {"id": "ch_yen", "cus": "cus_A", "currency": "jpy", "minor": 500, "created": FEB + 86400 * 6},
    ]
    return fake, expected


def totals(expected: list[dict], start: int, end: int) -> dict[str, D]:
    out: dict[str, D] = {}
    for e in expected:
        if start <= e["created"] < end:
            out[e["currency"].upper()] = out.get(e["currency"].upper(), D(0)) + D(e["minor"]) / 10 ** EXPONENT[e["currency"]]
    return out


def stored_totals(store) -> dict[str, D]:
    return {c: a for c, a in store.query("SELECT currency, sum(amount) FROM revenue GROUP BY currency")}


def day(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


@pytest.fixture
def stripe_cfg(monkeypatch):
    def make(fake: FakeStripe, key: str = KEY) -> StripeRevenueSettings:
        monkeypatch.setenv(ENV, key)
        return StripeRevenueSettings(api_key=SecretRef(env=ENV), base_url=fake.base_url)
    return make


# --- Stripe -------------------------------------------------------------------------------------------


def test_stripe_pages_amounts_and_customers(store, stripe_cfg):
    fake, expected = world()
    with fake:
        cfg = stripe_cfg(fake)
        result = sync_stripe(store, cfg, day(FEB), day(MAR))
    want = totals(expected, FEB, MAR)
    assert result.totals == want
    assert stored_totals(store) == want
    assert want["JPY"] == D(120_500)  # zero-decimal: never divided by 100
    assert (result.invoices, result.charges, result.skipped_charges) == (234, 4, 4)
    assert fake.hits("/v1/invoices") == 3 and fake.hits("/v1/charges") == 1  # 234 invoices, 100 a page
    pages = [dict(p) for path, p, _, _ in fake.requests if path == "/v1/invoices"]
    assert [p.get("starting_after") for p in pages] == [None, "in_0133", "in_0033"]  # newest first
    assert all(p["status"] == "paid" and p["limit"] == "100" and p["expand[]"] == "data.customer" for p in pages)
    assert {v for _, _, _, v in fake.requests} == {"2024-06-20"}  # the pinned API version

    by_id = {r["external_id"]: r for r in list_revenue(store)}
    assert by_id["in_0000"]["customer"] == "Acme Logistics" and by_id["in_0000"]["source_customer"] == "cus_A"
    assert by_id["in_0002"]["customer"] == "cus_C"  # no metadata: the Stripe id
    assert by_id["in_0003"]["customer"] == "cus_D"  # a deleted customer: the id
    assert by_id["ch_guest"]["customer"] is None
    assert by_id["ch_solo"]["feature"] == "api"
    assert by_id["in_0005"]["amount"] == D("8.85")  # 1035 cents less a 150 discount, tax left out
    assert by_id["in_adv"]["period_start"] == day(MAR)  # billed in advance: it counts in March
    assert "ch_inv0001" not in by_id and "ch_inv0002" not in by_id  # invoice payments counted once


def test_stripe_429_then_success(store, stripe_cfg):
    fake, expected = world()
    fake.faults.append(Fault("429", endpoint="invoices", page=2, retry_after=3))
    sleeps: list[float] = []
    with fake:
        cfg = stripe_cfg(fake)
        with stripe_client(cfg, sleep=sleeps.append) as http:
            result = sync_stripe(store, cfg, day(FEB), day(MAR), http=http)
    assert sleeps == [3.0]  # Retry-After honoured
    assert fake.hits("/v1/invoices") == 4 and result.requests == 5
    assert stored_totals(store) == totals(expected, FEB, MAR)


def test_stripe_401_names_the_key_reference_never_the_key(store, stripe_cfg):
    fake, _ = world()
    wrong = "rk_test_FAKE_wrong_key_do_not_print"
    with fake:
        cfg = stripe_cfg(fake, key=wrong)
        with pytest.raises(SyncError) as caught:
            sync_stripe(store, cfg, day(FEB), day(MAR))
    message = str(caught.value)
    assert "401" in message and f"env:{ENV}" in message and "restricted key" in message
    assert wrong not in message and KEY not in message
    assert fake.requests[0][3] == "2024-06-20"
    assert store.query("SELECT count(*) FROM revenue")[0][0] == 0


def test_stripe_malformed_page_loads_nothing(store, stripe_cfg):
    fake, expected = world()
    with fake:
        cfg = stripe_cfg(fake)
        sync_stripe(store, cfg, day(FEB), day(MAR))
        fake.faults.append(Fault("malformed", endpoint="charges"))
        with pytest.raises(SyncError, match="not JSON"):
            sync_stripe(store, cfg, day(FEB), day(MAR))
    assert stored_totals(store) == totals(expected, FEB, MAR)  # the earlier sync stands


def test_stripe_resync_is_idempotent_and_converges(store, stripe_cfg):
    fake, expected = world()
    with fake:
        cfg = stripe_cfg(fake)
        first = sync_stripe(store, cfg, day(FEB), day(MAR))
        again = sync_stripe(store, cfg, day(FEB), day(MAR))
        assert again.rows_replaced == first.rows_loaded == again.rows_loaded
        assert stored_totals(store) == totals(expected, FEB, MAR)
        # An overlapping window adds March's invoice and nothing twice.
        sync_stripe(store, cfg, day(FEB + 86400 * 14), day(MAR + 86400 * 14))
        assert stored_totals(store) == totals(expected, FEB, MAR + 86400 * 14)
        # A refund after the first pull: the re-sync converges on the net amount.
        next(c for c in fake.charges if c["id"] == "ch_solo")["amount_refunded"] = 1_250
        sync_stripe(store, cfg, day(FEB), day(MAR))
    want = totals(expected, FEB, MAR + 86400 * 14)
    want["USD"] -= D("12.50")
    assert stored_totals(store) == want
    assert store.query("SELECT count(*), count(DISTINCT external_id) FROM revenue")[0] == (len(expected),) * 2


# --- CSV ----------------------------------------------------------------------------------------------

GOOD = (
    "customer,date,amount,currency,id,description,feature\n"
    "Acme Logistics,2026-02-01,1234.50,USD,INV-1,\"Pro plan,\nFebruary\",chat\n"  # a quoted field over two lines
    "Globex Retail,2026-02-03,0.000000000000000001,usd,INV-2,,search\n"
    "Initech Finance,2026-02-28,-20,EUR,,refund,\n"
    "Hooli Cloud,2026-02-10,120000,JPY,INV-3,,\n"
)


def test_csv_import_exact_and_idempotent(store, workdir):
    path = workdir / "revenue.csv"
    path.write_text(GOOD)
    first = import_revenue_csv(store, path)
    assert (first.source, first.rows_loaded, first.rows_replaced) == ("csv:revenue.csv", 4, 0)
    rows = {r["customer"]: r for r in list_revenue(store)}
    assert rows["Acme Logistics"]["amount"] == D("1234.50") and rows["Acme Logistics"]["description"] == "Pro plan,\nFebruary"
    assert rows["Globex Retail"]["amount"] == D("1E-18") and rows["Globex Retail"]["currency"] == "USD"
    assert rows["Initech Finance"]["amount"] == D(-20) and rows["Initech Finance"]["external_id"] is None
    assert rows["Hooli Cloud"]["period_start"] == datetime(2026, 2, 10)
    assert rows["Hooli Cloud"]["period_end"] == datetime(2026, 2, 11)
    again = import_revenue_csv(store, path)
    assert (again.rows_loaded, again.rows_replaced) == (4, 4)
    assert store.query("SELECT count(*) FROM revenue")[0][0] == 4


def test_csv_bad_rows_reported_by_line_and_nothing_loaded(store, workdir):
    path = workdir / "revenue.csv"
    path.write_text(GOOD)
    import_revenue_csv(store, path)
    path.write_text(
        "customer,date,amount,currency,id,description\n"
        "Acme Logistics,2026-03-01,10,USD,A,\"two\nlines\"\n"  # lines 2-3
        "Globex Retail,2026-03-02,\"12,50\",USD,B,\n"  # line 4: a thousands/decimal comma
        "Initech Finance,2026-03-03,1e3,USD,C,\n"  # line 5: exponent
        ",2026-03-04,5,USD,D,\n"  # line 6: no customer
        "Hooli Cloud,2026-02-30,5,USD,E,\n"  # line 7: no such day
        "Wayne Media,2026-03-05,5,US,F,\n"  # line 8: currency
        "Stark Freight,2026-03-06,5,USD,A,\n"  # line 9: id again
        "Umbrella Health,2026-03-07,5,USD\n"  # line 10: a field short
    )
    with pytest.raises(RevenueCsvError) as caught:
        import_revenue_csv(store, path)
    lines = {(e.line, e.column) for e in caught.value.errors}
    assert lines == {(4, "amount"), (5, "amount"), (6, "customer"), (7, "date"), (8, "currency"), (9, "id"), (10, None)}
    assert f"{path}:4 column amount" in str(caught.value) and "no revenue was imported" in str(caught.value)
    assert store.query("SELECT count(*), min(period_start) FROM revenue")[0] == (4, datetime(2026, 2, 1))


def test_csv_month_and_period_shapes(store, workdir):
    monthly = workdir / "monthly.csv"
    monthly.write_text("Customer,Month,Amount,Currency,Feature\nAcme Logistics,2026-02,500.00,USD,chat\n")
    periods = workdir / "periods.csv"
    periods.write_text("customer,period_start,period_end,amount,currency\n"
                       "Globex Retail,2026-02-15,2026-03-15,75.25,USD\n"
                       "Globex Retail,2026-03-15,2026-03-15,1,USD\n")  # line 3: empty period
    import_revenue_csv(store, monthly)
    with pytest.raises(RevenueCsvError, match=r"periods.csv:3 column period_end"):
        import_revenue_csv(store, periods)
    periods.write_text("customer,period_start,period_end,amount,currency\nGlobex Retail,2026-02-15,2026-03-15,75.25,USD\n")
    import_revenue_csv(store, periods, source="crm")
    rows = {r["source"]: r for r in list_revenue(store)}
    assert rows["csv:monthly.csv"]["period_end"] == datetime(2026, 3, 1) and rows["csv:monthly.csv"]["feature"] == "chat"
    assert rows["csv:crm"]["period_start"] == datetime(2026, 2, 15) and rows["csv:crm"]["amount"] == D("75.25")
    bad = workdir / "bad.csv"
    bad.write_text("customer,date,month,amount,currency,ammount\n")
    with pytest.raises(RevenueCsvError, match="unknown column.*ammount") as caught:
        import_revenue_csv(store, bad)
    assert "exactly one of: date, month" in str(caught.value)


# --- the CLI, as a user runs it ---------------------------------------------------------------------


def test_cli_revenue_import_sync_list(workdir):
    fake, expected = world()
    (workdir / "revenue.csv").write_text(GOOD)
    imported = run_cli("revenue", "import", "revenue.csv", "--format", "json", cwd=workdir)
    assert imported.returncode == 0, imported.stderr
    [summary] = json.loads(imported.stdout)
    assert summary["rows_loaded"] == 4 and summary["totals"] == "-20.00 EUR, 120000.00 JPY, 1234.500000000000000001 USD"

    bad = workdir / "bad.csv"
    bad.write_text("customer,date,amount,currency\nAcme Logistics,2026-02-01,ten,USD\n")
    failed = run_cli("revenue", "import", "bad.csv", cwd=workdir)
    assert failed.returncode == 1 and "bad.csv:2 column amount" in failed.stderr and "Traceback" not in failed.stderr

    with fake:
        (workdir / "aispend.toml").write_text(f'[revenue.stripe]\napi_key = {{ env = "{ENV}" }}\nbase_url = "{fake.base_url}"\n')
        synced = run_cli("revenue", "sync", "--start", "2026-02-01", "--end", "2026-03-01", "--format", "json",
                         cwd=workdir, env={ENV: KEY})
        assert synced.returncode == 0, synced.stderr
        [s] = json.loads(synced.stdout)
        want = totals(expected, FEB, MAR)
        assert s["source"] == "stripe:main" and s["invoices"] == 234 and s["charges"] == 4
        assert s["totals"] == f"{want['JPY']}.00 JPY, {want['USD']} USD"

        wrong = "rk_test_FAKE_not_the_right_one"
        denied = run_cli("revenue", "sync", cwd=workdir, env={ENV: wrong})
        assert denied.returncode == 1 and f"env:{ENV}" in denied.stderr and wrong not in denied.stderr
        assert len(denied.stderr.strip().splitlines()) == 1

    listed = run_cli("revenue", "list", "--source", "stripe:main", "--month", "2026-02", "--format", "json", cwd=workdir)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert all(r["source"] == "stripe:main" and r["period_start"].startswith("2026-02") for r in rows)
    yen = next(r for r in rows if r["external_id"] == "in_jpy")
    assert (yen["amount"], yen["currency"], yen["customer"]) == ("120000.00", "JPY", "Acme Logistics")
    assert sum(D(r["amount"]) for r in rows if r["currency"] == "USD") == want["USD"] - D("999.00")  # in_adv is March


def test_literal_stripe_key_refused(workdir):
    (workdir / "aispend.toml").write_text('[revenue.stripe]\napi_key = "rk_test_FAKE_literal"\n')
    result = run_cli("revenue", "sync", cwd=workdir)
    assert result.returncode == 1 and "literal key is not allowed" in result.stderr
    assert "rk_test_FAKE_literal" not in result.stderr
