"""Dated FX: ECB-style and plain rate files, and the pricer converting each row at its day's rate."""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Context
from decimal import Decimal as D

import pyarrow as pa
import pytest

from aispend.analysis import footer
from aispend.config import CsvMapping, PricingConfig
from aispend.errors import ImportError_
from aispend.fx import MAX_AGE_DAYS, fx_table, import_fx, list_fx
from aispend.ingest import import_file
from aispend.pricing import PriceBook, Pricer
from aispend.schema import ARROW_SCHEMA

Q18 = D(1).scaleb(-18)
WIDE = Context(prec=80, rounding=ROUND_HALF_EVEN)


def q18(value: D) -> D:
    return value.quantize(Q18, context=WIDE)

# ECB layout: foreign units per 1 EUR, newest first, a trailing empty column, N/A for no quote.
ECB = """Date,USD,JPY,GBP,CYP,
2026-01-09,1.1650,183.12,0.8672,N/A,
2026-01-08,1.1702,183.49,0.8691,N/A,
2026-01-02,1.1721,184.03,0.8717,N/A,
"""


def usd_per(usd: str, per_eur: str) -> D:
    return (D(usd) / D(per_eur)).quantize(Q18, rounding=ROUND_HALF_EVEN)


def stored(store) -> dict[tuple[str, date], D]:
    return {(c, d): r for c, d, r in store.query("SELECT currency, day, usd_rate FROM fx_rates")}


@pytest.fixture
def ecb(workdir):
    path = workdir / "eurofxref-hist.csv"
    path.write_text(ECB)
    return path


def test_ecb_rates_convert_exactly_to_usd_per_unit(store, ecb):
    assert import_fx(store, ecb) == 9  # 3 days x (EUR, JPY, GBP); USD itself and the N/A column are not rows
    rates = stored(store)
    assert rates[("EUR", date(2026, 1, 9))] == D("1.1650")
    assert rates[("JPY", date(2026, 1, 9))] == usd_per("1.1650", "183.12") == D("0.006361948449104412")
    assert rates[("GBP", date(2026, 1, 8))] == usd_per("1.1702", "0.8691")
    assert ("CYP", date(2026, 1, 9)) not in rates and ("USD", date(2026, 1, 9)) not in rates
    assert store.query("SELECT DISTINCT source FROM fx_rates") == [("eurofxref-hist.csv",)]
    listed = {r["currency"]: r for r in list_fx(store)}
    assert listed["JPY"]["first_day"] == date(2026, 1, 2) and listed["JPY"]["last_day"] == date(2026, 1, 9)
    assert listed["JPY"]["days"] == 3 and listed["JPY"]["latest_usd_rate"] == usd_per("1.1650", "183.12")


def test_reimport_replaces_the_same_days_and_keeps_the_others(store, ecb, workdir):
    import_fx(store, ecb)
    assert import_fx(store, ecb) == 9
    assert store.query("SELECT count(*) FROM fx_rates")[0][0] == 9  # idempotent

    revised = workdir / "revised.csv"
    revised.write_text("Date,USD,JPY,\n2026-01-09,1.2000,180.00,\n2026-01-12,1.1600,182.00,\n")
    assert import_fx(store, revised) == 4
    rates = stored(store)
    assert len(rates) == 11  # 9 - 2 replaced + 4
    assert rates[("EUR", date(2026, 1, 9))] == D("1.2")
    assert rates[("JPY", date(2026, 1, 9))] == usd_per("1.2000", "180.00")
    assert rates[("GBP", date(2026, 1, 9))] == usd_per("1.1650", "0.8672")  # not in the revision: kept
    assert rates[("EUR", date(2026, 1, 12))] == D("1.16")


def test_plain_and_zipped_files(store, workdir):
    plain = workdir / "rates.csv"
    plain.write_text("currency,day,usd_rate\nchf,2026-01-09,1.254321987654321987\nUSD,2026-01-09,1\n")
    assert import_fx(store, plain) == 2
    assert stored(store)[("CHF", date(2026, 1, 9))] == D("1.254321987654321987")

    archive = workdir / "eurofxref-hist.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("eurofxref-hist.csv", ECB)
    assert import_fx(store, archive, source="ecb") == 9
    assert stored(store)[("JPY", date(2026, 1, 2))] == usd_per("1.1721", "184.03")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Date,USD,JPY\n2026-01-09,1.1650,abc\n", "eurofxref.csv:2 column JPY: not a decimal number (value 'abc')"),
        ("Date,USD,JPY\n09/01/2026,1.1650,183\n", "eurofxref.csv:2 column Date: not a date (YYYY-MM-DD)"),
        ("Date,USD,JPY\n2026-01-09,0,183\n", "eurofxref.csv:2 column USD: not a positive rate"),
        ("Date,JPY\n2026-01-09,183\n", "needs a USD column"),
        ("currency,day,usd_rate\nEURO,2026-01-09,1.1\n", "column currency: not an ISO 4217 currency code"),
        ("currency,day,usd_rate\nEUR,2026-01-09,1.1\nEUR,2026-01-09,1.2\n", "EUR on 2026-01-09 appears twice"),
        ("when,what\n1,2\n", "not a rates file"),
    ],
)
def test_a_bad_file_names_line_and_column_and_stores_nothing(store, workdir, body, message):
    path = workdir / "eurofxref.csv"
    path.write_text(body)
    with pytest.raises(ImportError_) as info:
        import_fx(store, path)
    assert message in str(info.value)
    assert store.query("SELECT count(*) FROM fx_rates")[0][0] == 0


# --- the pricer at the row's day ------------------------------------------------------------------


def billed(key: str, day: date, amount: str, currency: str) -> dict:
    row = {name: None for name in ARROW_SCHEMA.names}
    row.update(row_id=key, provider="acme", period_start=datetime.combine(day, datetime.min.time()),
               billed_cost=D(amount), billing_currency=currency, cost_source="billed")
    return row


def price(store, settings, *rows: dict) -> dict[str, D | None]:
    pricer = Pricer(PriceBook(settings.pricing), fx=fx_table(store, settings))
    out = pricer.price(pa.Table.from_pylist(list(rows), schema=ARROW_SCHEMA)).to_pylist()
    pricer.close()
    return {r["row_id"]: r["cost_usd"] for r in out}


def test_each_row_uses_the_latest_rate_of_its_day_within_seven_days(store, settings, ecb):
    import_fx(store, ecb)
    friday_eur = D("1.1650")
    out = price(
        store, settings,
        billed("friday", date(2026, 1, 9), "100", "EUR"),
        billed("saturday", date(2026, 1, 10), "100", "EUR"),  # no ECB rate on weekends: Friday's
        billed("thursday", date(2026, 1, 8), "100", "eur"),
        billed("jan-5", date(2026, 1, 5), "100", "EUR"),  # Friday 2 January's, 3 days old
        billed("last-day", date(2026, 1, 9 + MAX_AGE_DAYS), "100", "EUR"),  # 7 days old: still used
        billed("ten-days", date(2026, 1, 19), "100", "EUR"),  # 10 days after the last rate: none
        billed("before", date(2026, 1, 1), "100", "EUR"),  # before the first rate: none
        billed("usd", date(2026, 1, 19), "7.000000000000000001", "USD"),
        billed("no-rate", date(2026, 1, 9), "100", "SEK"),
    )
    assert out["friday"] == out["saturday"] == out["last-day"] == D(100) * friday_eur
    assert out["thursday"] == D("117.02")
    assert out["jan-5"] == D("117.21")
    assert out["ten-days"] is None and out["before"] is None and out["no-rate"] is None
    assert out["usd"] == D("7.000000000000000001")


def test_conversion_is_exact_to_18_places(store, settings, ecb):
    import_fx(store, ecb)
    jpy = usd_per("1.1650", "183.12")
    amount = D("1234567.891234567891234567")  # more decimals than a row keeps: the row holds 18
    row_amount = amount.quantize(Q18)
    out = price(store, settings, billed("jpy", date(2026, 1, 10), str(amount), "JPY"),
                billed("big", date(2026, 1, 9), "98765432109876543.21", "GBP"))
    assert out["jpy"] == q18(WIDE.multiply(row_amount, jpy))
    assert out["jpy"] == D("7854.257280953863593485")  # 7854.2572809538635934845379...: rounded up
    assert out["big"] == q18(WIDE.multiply(D("98765432109876543.21"), usd_per("1.1650", "0.8672")))


def test_the_config_rate_covers_currencies_and_days_without_a_dated_rate(store, settings, ecb):
    import_fx(store, ecb)
    settings.pricing = PricingConfig(fx={"EUR": D(2), "SEK": D("0.095")})
    out = price(
        store, settings,
        billed("dated", date(2026, 1, 10), "10", "EUR"),  # a dated rate beats the config's
        billed("stale", date(2026, 1, 30), "10", "EUR"),  # dated rate too old: the config's
        billed("sek", date(2026, 1, 9), "10", "SEK"),
        billed("gbp-stale", date(2026, 1, 30), "10", "GBP"),  # neither: unconverted
    )
    assert out == {"dated": D("11.65"), "stale": D(20), "sek": D("0.95"), "gbp-stale": None}


def test_no_store_means_config_rates_only(settings):
    settings.pricing = PricingConfig(fx={"EUR": D("1.08")})
    out = price(None, settings, billed("eur", date(2026, 1, 10), "10", "EUR"))
    assert out == {"eur": D("10.8")}


def test_imports_convert_at_the_dated_rate_and_report_the_rest_as_unconverted(store, settings, ecb, workdir):
    import_fx(store, ecb)
    settings.csv_mappings = {"vendor": CsvMapping(
        columns={"period_start": "day", "billed_cost": "amount", "billing_currency": "currency"},
        constants={"provider": "acme"})}
    bill = workdir / "bill.csv"
    bill.write_text("day,amount,currency\n2026-01-10,100.00,EUR\n2026-01-19,50.00,EUR\n2026-01-09,1000,JPY\n")
    result = import_file(store, settings, bill)
    assert result.rows_loaded == 3
    rows = dict(store.query("SELECT CAST(period_start AS DATE), cost_usd FROM ledger"))
    assert rows[date(2026, 1, 10)] == D("116.5")  # Saturday: Friday's rate
    assert rows[date(2026, 1, 19)] is None  # ten days after the last rate
    assert rows[date(2026, 1, 9)] == (1000 * usd_per("1.1650", "183.12")).quantize(Q18)
    f = footer(store)
    assert (f.unconverted_rows, f.unconverted) == (1, {"EUR": D(50)})
