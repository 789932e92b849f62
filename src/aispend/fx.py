"""Dated exchange rates: rows keep their billing currency; ``cost_usd`` uses the rate of their day.

Rates live in the store's ``fx_rates`` table as USD per one unit of a currency, one row per
(currency, day). Two CSV layouts import:

* the ECB reference-rate layout (``eurofxref-hist.csv``, also zipped, and the one-day
  ``eurofxref.csv``): ``Date,USD,JPY,...`` with foreign units per 1 EUR. USD per unit of X is
  ``USD column / X column``, computed exactly in Decimal and rounded (half even) to 18 places;
  EUR itself is the USD column. Empty or ``N/A`` cells (a currency not quoted that day) are skipped;
* a plain ``currency,day,usd_rate`` file, rates already in USD per unit.

Re-importing replaces the same (currency, day) pairs; other days are kept.

The pricer (``aispend.pricing.Pricer(book, fx=fx_table(store, settings))``) converts a billed row in
currency C whose period starts on day D with the stored rate of the latest day <= D, at most
:data:`MAX_AGE_DAYS` days before D (the ECB publishes no weekend or holiday rates); failing that,
with the undated ``[pricing.fx]`` rate of aispend.toml; failing that ``cost_usd`` stays NULL and
reports count the row as unconverted.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pyarrow as pa

from .config import Settings
from .errors import ImportError_
from .schema import MONEY_ARROW
from .store import Store

MAX_AGE_DAYS = 7  # a rate serves the 7 days after its own (weekends, holidays), not longer
RATE_PLACES = Decimal(1).scaleb(-18)
_EXACT = Context(prec=80, rounding=ROUND_HALF_EVEN)  # far beyond any quotient we keep

FX_SCHEMA = pa.schema([("currency", pa.string()), ("day", pa.date32()), ("usd_rate", MONEY_ARROW)])
"""What :func:`fx_table` returns and the pricer joins: ``day`` NULL for an undated (config) rate."""

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MISSING = {"", "N/A", "NA", "-", "#N/A"}


def import_fx(store: Store, path: str | Path, *, source: str | None = None) -> int:
    """Load an ECB-style or ``currency,day,usd_rate`` CSV (or a .zip holding one); return the rows stored.

    All or nothing: a bad cell fails the whole file with its line and column, and nothing is written.
    """
    path = Path(path).expanduser()
    rows = read_fx_file(path)
    label = source or path.name
    table = pa.Table.from_pylist(
        [{"currency": c, "day": d, "usd_rate": r, "source": label} for (c, d), r in rows.items()],
        schema=FX_SCHEMA.append(pa.field("source", pa.string())),
    )
    with store.transaction() as tx:
        tx.execute("CREATE TEMP TABLE IF NOT EXISTS _fx_in "
                   "(currency VARCHAR, day DATE, usd_rate DECIMAL(38, 18), source VARCHAR)")
        tx.execute("DELETE FROM _fx_in")
        tx.append("_fx_in", table)
        tx.execute(
            "DELETE FROM fx_rates WHERE EXISTS "
            "(SELECT 1 FROM _fx_in n WHERE n.currency = fx_rates.currency AND n.day = fx_rates.day)"
        )
        tx.execute("INSERT INTO fx_rates (currency, day, usd_rate, source) "
                   "SELECT currency, day, usd_rate, source FROM _fx_in")
        tx.execute("DROP TABLE _fx_in")
    return table.num_rows


def list_fx(store: Store, currency: str | None = None) -> list[dict[str, Any]]:
    """Per currency: first and last day stored, number of days, the latest rate (for ``aispend fx list``)."""
    where, params = ("WHERE currency = ?", [currency.upper()]) if currency else ("", [])
    rows = store.query(
        f"""SELECT s.currency, s.first_day, s.last_day, s.days, r.usd_rate
            FROM (SELECT currency, min(day) AS first_day, max(day) AS last_day, count(*) AS days
                  FROM fx_rates {where} GROUP BY currency) s
            JOIN fx_rates r ON r.currency = s.currency AND r.day = s.last_day
            ORDER BY s.currency""",
        params,
    )
    return [
        {"currency": c, "first_day": first, "last_day": last, "days": n, "latest_usd_rate": rate}
        for c, first, last, n, rate in rows
    ]


def fx_table(store: Store | None, settings: Settings) -> pa.Table:
    """Every rate the pricer may use: the undated ``[pricing.fx]`` rates (USD = 1) plus the stored dated ones."""
    undated = [{"currency": "USD", "day": None, "usd_rate": Decimal(1)}]
    undated += [
        {"currency": c.upper(), "day": None, "usd_rate": r}
        for c, r in settings.pricing.fx.items()
        if c.upper() != "USD"
    ]
    table = pa.Table.from_pylist(undated, schema=FX_SCHEMA)
    if store is None:
        return table
    dated = store.scan("SELECT currency, day, usd_rate FROM fx_rates WHERE upper(currency) <> 'USD'").read_all()
    if dated.num_rows:
        table = pa.concat_tables([table, dated.cast(FX_SCHEMA)])
    return table


# --- reading -----------------------------------------------------------------------------------------


def read_fx_file(path: Path) -> dict[tuple[str, date], Decimal]:
    """{(currency, day): USD per unit} from either layout; raises ImportError_ naming file, line and column."""
    try:
        text = _read_text(path)
    except (OSError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise ImportError_(f"{path}: cannot read the rates file: {exc}") from None
    records = list(csv.reader(io.StringIO(text)))
    if not records:
        raise ImportError_(f"{path}: the file is empty")
    header = [h.strip() for h in records[0]]
    lowered = [h.lower() for h in header]
    if lowered[:1] == ["date"]:
        rows = _ecb(path, header, records[1:])
    elif {"currency", "day", "usd_rate"} <= set(lowered):
        rows = _plain(path, lowered, records[1:])
    else:
        raise ImportError_(
            f"{path}: not a rates file: expected the ECB layout (Date,USD,JPY,...: units per 1 EUR) "
            f"or the columns currency,day,usd_rate; the header is: {', '.join(header)}"
        )
    if not rows:
        raise ImportError_(f"{path}: no rates in the file")
    return rows


def _read_text(path: Path) -> str:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".csv")]
            if len(names) != 1:
                raise ImportError_(f"{path}: a rates archive must hold exactly one .csv file, it holds {len(names)}")
            return zf.read(names[0]).decode("utf-8-sig")
    return path.read_text(encoding="utf-8-sig")


def _fail(path: Path, line: int, column: str, reason: str, value: str) -> ImportError_:
    return ImportError_(f"{path}:{line} column {column}: {reason} (value {value!r}); nothing was imported")


def _day(path: Path, line: int, column: str, raw: str) -> date:
    raw = raw.strip()
    for fmt in ("%Y-%m-%d", "%d %B %Y"):  # eurofxref-hist.csv; the one-day eurofxref.csv
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    raise _fail(path, line, column, "not a date (YYYY-MM-DD)", raw)


def _rate(path: Path, line: int, column: str, raw: str) -> Decimal:
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise _fail(path, line, column, "not a decimal number", raw) from None
    if not value.is_finite() or value <= 0:
        raise _fail(path, line, column, "not a positive rate", raw)
    return value


def _put(rows: dict[tuple[str, date], Decimal], key: tuple[str, date], rate: Decimal, path: Path, line: int) -> None:
    if key in rows and rows[key] != rate:
        raise ImportError_(
            f"{path}:{line}: {key[0]} on {key[1]} appears twice with different rates; nothing was imported"
        )
    rows[key] = rate


def _ecb(path: Path, header: list[str], records: list[list[str]]) -> dict[tuple[str, date], Decimal]:
    if "USD" not in header:
        raise ImportError_(f"{path}: an ECB rates file needs a USD column (units per 1 EUR) to convert to USD")
    usd_at = header.index("USD")
    currencies = [(i, h) for i, h in enumerate(header) if i > 0 and h]  # the ECB file ends with an empty column
    for _, code in currencies:
        if not _CURRENCY.match(code):
            raise ImportError_(f"{path}:1: column {code!r} is not an ISO 4217 currency code")
    rows: dict[tuple[str, date], Decimal] = {}
    for n, rec in enumerate(records, start=2):
        if not any(cell.strip() for cell in rec):
            continue
        day = _day(path, n, header[0], rec[0])
        cells = [c.strip() for c in rec] + [""] * (len(header) - len(rec))
        if cells[usd_at].upper() in _MISSING:
            continue  # no USD quote that day: nothing converts
        usd_per_eur = _rate(path, n, "USD", cells[usd_at])
        _put(rows, ("EUR", day), usd_per_eur.quantize(RATE_PLACES, context=_EXACT), path, n)
        for i, code in currencies:
            if code == "USD" or cells[i].upper() in _MISSING:
                continue
            per_eur = _rate(path, n, code, cells[i])
            _put(rows, (code, day), _EXACT.divide(usd_per_eur, per_eur).quantize(RATE_PLACES, context=_EXACT), path, n)
    return rows


def _plain(path: Path, header: list[str], records: list[list[str]]) -> dict[tuple[str, date], Decimal]:
    at = {name: header.index(name) for name in ("currency", "day", "usd_rate")}
    rows: dict[tuple[str, date], Decimal] = {}
    for n, rec in enumerate(records, start=2):
        if not any(cell.strip() for cell in rec):
            continue
        cells = [c.strip() for c in rec] + [""] * (len(header) - len(rec))
        code = cells[at["currency"]].upper()
        if not _CURRENCY.match(code):
            raise _fail(path, n, "currency", "not an ISO 4217 currency code", cells[at["currency"]])
        day = _day(path, n, "day", cells[at["day"]])
        rate = _rate(path, n, "usd_rate", cells[at["usd_rate"]])
        if rate != rate.quantize(RATE_PLACES, context=_EXACT):
            raise _fail(path, n, "usd_rate", "has more than 18 decimals", cells[at["usd_rate"]])
        if code == "USD" and rate != 1:
            raise _fail(path, n, "usd_rate", "USD is always 1", cells[at["usd_rate"]])
        _put(rows, (code, day), rate, path, n)
    return rows
