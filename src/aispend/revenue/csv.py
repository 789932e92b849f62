"""``aispend revenue import FILE``: revenue from a CSV you export from billing, a CRM or a spreadsheet.

The shape (header names, any order and case; docs/unit-economics.md has examples)::

    customer,date,amount,currency[,id][,description][,feature]

* ``customer``: the ledger's customer key (the same string your attribution writes);
* when: exactly one of ``date`` (YYYY-MM-DD: that day), ``month`` (YYYY-MM: that calendar month) or
  ``period_start`` + ``period_end`` (YYYY-MM-DD or ISO date-times, UTC, end exclusive);
* ``amount``: a plain decimal in currency units (``1234.50``, ``-20`` for a refund or credit); no
  thousands separators, no symbol. ``currency``: ISO 4217 (USD, EUR, JPY...);
* optional ``id`` (an invoice number: unique within the file), ``description``, ``feature``.

All or nothing: every bad row is reported with its line number, and nothing is loaded unless every
row is good. Re-importing replaces what the same source loaded before (source ``csv:<file name>``,
or ``csv:<--source>``), so a corrected file converges rather than adding up.
"""

from __future__ import annotations

import calendar
import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ..errors import ImportError_, RowError
from ..store import Store
from .model import RevenueRow, fits_money
from .store import replace_revenue

REQUIRED = ("customer", "amount", "currency")
TIME_SHAPES = (("date",), ("month",), ("period_start", "period_end"))
OPTIONAL = ("id", "description", "feature")
KNOWN = frozenset(REQUIRED + OPTIONAL + tuple(c for shape in TIME_SHAPES for c in shape))
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
SHOWN = 5


class RevenueCsvError(ImportError_):
    """A revenue CSV with bad rows or a bad header; nothing was loaded."""

    def __init__(self, path: str, errors: list[RowError]):
        self.path, self.errors = path, errors
        lines = "\n".join(f"  {e}" for e in errors[:SHOWN])
        more = f"\n  ... and {len(errors) - SHOWN} more" if len(errors) > SHOWN else ""
        super().__init__(f"{path}: {len(errors)} invalid row(s); no revenue was imported.\n{lines}{more}\n"
                         "Fix the rows and import the file again (the shape is in docs/unit-economics.md).")


@dataclass(frozen=True)
class CsvImport:
    path: str
    source: str
    rows_loaded: int
    rows_replaced: int
    totals: dict[str, Decimal]  # per currency, what the file holds


def import_revenue_csv(store: Store, path: str | Path, *, source: str | None = None) -> CsvImport:
    """Read ``path`` (all rows good, or :class:`RevenueCsvError`) and replace its source's revenue."""
    path = Path(path).expanduser()
    rows = read_revenue_csv(path)
    label = f"csv:{source or path.name}"
    loaded, replaced = replace_revenue(store, label, rows)
    totals: dict[str, Decimal] = {}
    for r in rows:
        totals[r.currency] = totals.get(r.currency, Decimal(0)) + r.amount
    return CsvImport(str(path), label, loaded, replaced, totals)


def read_revenue_csv(path: Path) -> list[RevenueRow]:
    """Every row of the file as a :class:`RevenueRow`; raises :class:`RevenueCsvError` listing bad lines."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportError_(f"{path}: cannot read the revenue file: {exc}") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise RevenueCsvError(str(path), [RowError(str(path), 1, None, "the file is empty: expected a header line")])
    names = [h.strip().lower() for h in header]
    time_cols = _check_header(str(path), names)
    rows: list[RevenueRow] = []
    errors: list[RowError] = []
    seen_ids: dict[str, int] = {}
    line = reader.line_num
    for record in reader:
        first_line, line = line + 1, reader.line_num  # a quoted field may span lines: report where the row starts
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(names):
            errors.append(RowError(str(path), first_line, None, f"{len(record)} fields, the header has {len(names)}"))
            continue
        cells = {n: c.strip() for n, c in zip(names, record, strict=True)}
        row, problems = _row(cells, time_cols)
        for column, reason, value in problems:
            errors.append(RowError(str(path), first_line, column, reason, value))
        if row is None:
            continue
        if row.external_id:
            if row.external_id in seen_ids:
                errors.append(RowError(str(path), first_line, "id", f"duplicate id: line {seen_ids[row.external_id]} has it",
                                       row.external_id))
                continue
            seen_ids[row.external_id] = first_line
        rows.append(row)
    if errors:
        raise RevenueCsvError(str(path), errors)
    return rows


def _check_header(path: str, names: list[str]) -> tuple[str, ...]:
    problems = []
    unknown = [n for n in names if n not in KNOWN]
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)}; the columns are {', '.join(sorted(KNOWN))}")
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"column(s) given twice: {', '.join(dupes)}")
    if missing := [c for c in REQUIRED if c not in names]:
        problems.append(f"missing column(s) {', '.join(missing)}")
    shapes = [s for s in TIME_SHAPES if any(c in names for c in s)]
    if len(shapes) != 1 or not all(c in names for c in shapes[0]):
        problems.append("give exactly one of: date, month, or period_start and period_end")
    if problems:
        raise RevenueCsvError(path, [RowError(path, 1, None, p) for p in problems])
    return shapes[0]


Problem = tuple[str, str, str | None]


def _row(cells: dict[str, str], time_cols: tuple[str, ...]) -> tuple[RevenueRow | None, list[Problem]]:
    problems: list[Problem] = []
    customer = cells["customer"]
    if not customer:
        problems.append(("customer", "empty: every revenue row names its customer", None))
    amount = _amount(cells["amount"], problems)
    currency = cells["currency"].upper()
    if not _CURRENCY.match(currency):
        problems.append(("currency", "not an ISO 4217 code (USD, EUR, JPY, ...)", cells["currency"]))
    period = _period(cells, time_cols, problems)
    if problems or amount is None or period is None:
        return None, problems
    start, end = period
    return RevenueRow(customer=customer, period_start=start, period_end=end, amount=amount, currency=currency,
                      occurred_at=start, external_id=cells.get("id") or None,
                      description=cells.get("description") or None, feature=cells.get("feature") or None), problems


def _amount(text: str, problems: list[Problem]) -> Decimal | None:
    # Decimal() alone accepts "1e3", "NaN" and "Infinity": only plain decimals are money here.
    if not _NUMBER.match(text):
        problems.append(("amount", "not a plain decimal amount (e.g. 1234.50; no symbol or separators)", text))
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern above admits only valid decimals
        problems.append(("amount", "not a decimal", text))
        return None
    if not fits_money(value):
        problems.append(("amount", "out of range: at most 20 digits before the point and 18 after", text))
        return None
    return value


def _period(cells: dict[str, str], time_cols: tuple[str, ...], problems: list[Problem]) -> tuple[datetime, datetime] | None:
    if time_cols == ("date",):
        day = _when(cells["date"], "date", problems, date_only=True)
        return (day, day + timedelta(days=1)) if day else None
    if time_cols == ("month",):
        try:
            first = datetime.strptime(cells["month"], "%Y-%m")
        except ValueError:
            problems.append(("month", "not YYYY-MM", cells["month"]))
            return None
        days = calendar.monthrange(first.year, first.month)[1]
        return first, first + timedelta(days=days)
    start = _when(cells["period_start"], "period_start", problems)
    end = _when(cells["period_end"], "period_end", problems)
    if start and end and end <= start:
        problems.append(("period_end", "must be after period_start (the end is exclusive)", cells["period_end"]))
        return None
    return (start, end) if start and end else None


def _when(text: str, column: str, problems: list[Problem], *, date_only: bool = False) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        problems.append((column, "not a date (YYYY-MM-DD)" if date_only else "not a date or ISO date-time", text or None))
        return None
    if date_only and len(text) != 10:
        problems.append((column, "not a date (YYYY-MM-DD)", text))
        return None
    if value.tzinfo is not None:  # stored as naive UTC, like the ledger
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value
