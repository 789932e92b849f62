"""Money as receipts print it ("$1,234.56", "€12,00", "1.234,56 €", "¥1,200", "CA$20.00", "20.00 USD"),
parsed exactly to Decimal.

The decimal separator is read per amount: with both "," and "." the last one is the decimal point;
with one kind, a separator followed by exactly three digits groups thousands (except in a currency
with three decimals), anything else is the decimal point. An amount with more decimals than its
currency has (``¥12.5``, ``$1.2345``) is refused rather than guessed. Zero-decimal currencies (JPY,
KRW, ...) and three-decimal ones (KWD, BHD, ...) follow Stripe's list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# ISO 4217 codes in current use (the ones a receipt may name).
ISO_CODES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD
    CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ
    GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR
    LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN
    PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SYP SZL THB TJS
    TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL
    """.split()  # noqa: SIM905 - a table, kept readable
)
# Stripe's zero-decimal and three-decimal currencies; every other one has two decimals.
ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())  # noqa: SIM905
THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())  # noqa: SIM905

# Symbols, longest first so "CA$" wins over "$". None: the document's ISO code must decide.
SYMBOLS: dict[str, str | None] = {
    "US$": "USD", "CA$": "CAD", "AU$": "AUD", "NZ$": "NZD", "HK$": "HKD", "SG$": "SGD", "MX$": "MXN",
    "NT$": "TWD", "CN¥": "CNY", "A$": "AUD", "C$": "CAD", "S$": "SGD", "R$": "BRL",
    "$": None, "€": "EUR", "£": "GBP", "¥": None, "￥": None, "₹": "INR", "₩": "KRW", "₺": "TRY", "₽": "RUB",
    "zł": "PLN", "Kč": "CZK", "kr": None, "CHF": "CHF", "Fr.": "CHF",
}
# Which ISO codes a bare ambiguous symbol may stand for, and the default when the document says none.
AMBIGUOUS = {"$": ({"USD", "CAD", "AUD", "NZD", "HKD", "SGD", "MXN", "TWD"}, "USD"),
             "¥": ({"JPY", "CNY"}, "JPY"), "￥": ({"JPY", "CNY"}, "JPY"),
             "kr": ({"SEK", "NOK", "DKK", "ISK"}, None)}

_SYM = "|".join(re.escape(s) for s in sorted(SYMBOLS, key=len, reverse=True))
_GROUP = "[,.'’\u00a0\u202f]"  # thousands separators; a plain space is not one (it separates columns)
_NUM = rf"\d{{1,3}}(?:{_GROUP}\d{{3}})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?"
_MINUS = "-−"  # attached to the amount: "-$4.00", "−4,00 €" (a spaced dash separates text, it is no sign)
MONEY = re.compile(
    rf"""(?P<open>\()?(?P<sign>[{_MINUS}])?
    (?:
        (?P<sym>{_SYM})[ \u00a0]?(?P<sign2>[{_MINUS}])?(?P<num1>{_NUM})(?![\w.,])(?:[ \u00a0](?P<code1>[A-Z]{{3}})\b)?
      | (?P<code2>[A-Z]{{3}})[ \u00a0]?(?P<sign3>[{_MINUS}])?(?P<num2>{_NUM})(?![\w.,])
      | (?<![\w.,])(?P<num3>{_NUM})[ \u00a0]?(?:(?P<sym3>{_SYM})|(?P<code3>[A-Z]{{3}})\b)(?![ \u00a0]?[{_MINUS}]?\d)
    )(?P<close>\))?""",
    re.VERBOSE,
)
_SYMBOL_CHARS = "$€£¥₹₩￥₺₽"


class MoneyError(ValueError):
    """An amount that cannot be read exactly."""


@dataclass(frozen=True)
class Amount:
    text: str  # as printed
    value: Decimal | None  # None: money-shaped but not readable exactly (see error)
    currency: str | None  # ISO code, or None when only an ambiguous symbol says (see resolve)
    symbol: str | None
    start: int
    end: int
    error: str | None = None

    def exact(self) -> Decimal:
        if self.value is None:
            raise MoneyError(self.error or f"{self.text!r} is not an amount")
        return self.value

    def resolve(self, document_currency: str | None) -> str:
        """The ISO code, deciding a bare "$", "¥" or "kr" by the currency the document names."""
        if self.currency:
            return self.currency
        allowed, default = AMBIGUOUS[self.symbol or "$"]
        if document_currency in allowed:
            return document_currency
        if default is None:
            raise MoneyError(f"{self.text!r}: {self.symbol!r} is several currencies and the receipt names none of them")
        return default


def minor_units(currency: str) -> int:
    return 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2


def parse_number(num: str, currency: str | None) -> Decimal:
    """The exact value of a printed number, its separators read as described in the module docstring."""
    places = minor_units(currency) if currency else 2
    seps = [(i, c) for i, c in enumerate(num) if not c.isdigit()]
    if not seps:
        return Decimal(num)
    kinds = {c for _, c in seps}
    last_at, last = seps[-1]
    after = len(num) - last_at - 1
    if len(kinds) == 1:
        leading_zero = num[0] == "0"  # "0.002" is a fraction, never thousands
        grouping = len(seps) > 1 or last in "'’\u00a0\u202f" or (after == 3 and places != 3 and not leading_zero)
        decimal_at = None if grouping else last_at
    else:
        if num.count(last) != 1:
            raise MoneyError(f"{num!r}: cannot tell the decimal point from the thousands separator")
        decimal_at = last_at
    whole, frac = (num, "") if decimal_at is None else (num[:decimal_at], num[decimal_at + 1:])
    groups = re.split(_GROUP, whole)
    if len(groups) > 1 and (not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])
                            or (groups[0].startswith("0") and groups[0] != "0")):
        raise MoneyError(f"{num!r}: the digit groups are not thousands")
    if len(frac) > places:
        what = "no decimals" if places == 0 else f"{places} decimals"
        raise MoneyError(f"{num!r}: {currency or 'the currency'} has {what}")
    try:
        return Decimal("".join(groups) + ("." + frac if frac else ""))
    except InvalidOperation:
        raise MoneyError(f"{num!r}: not a number") from None


def find_amounts(line: str) -> list[Amount]:
    """Every amount printed with a currency on one line, left to right (an unreadable one has an error)."""
    found = []
    for m in MONEY.finditer(line):
        code = m["code1"] or m["code2"] or m["code3"]
        if code and code not in ISO_CODES:
            if m["code2"] or (m["code3"] and not m["sym3"]):
                continue  # "QTY 1", "1 USB": a word next to a number, not money
            code = None
        symbol = m["sym"] or m["sym3"]
        currency = code or (SYMBOLS.get(symbol) if symbol else None)
        text = m.group(0).strip()
        ambiguous = symbol if symbol in AMBIGUOUS else None
        try:
            if symbol and SYMBOLS.get(symbol) and code and SYMBOLS[symbol] != code:
                raise MoneyError(f"{text!r}: the symbol says {SYMBOLS[symbol]}, the code {code}")
            value = parse_number(m["num1"] or m["num2"] or m["num3"], currency)
        except MoneyError as exc:
            found.append(Amount(text, None, currency, ambiguous, m.start(), m.end(), str(exc)))
            continue
        negative = bool(m["sign"] or m["sign2"] or m["sign3"]) or bool(m["open"] and m["close"])
        found.append(Amount(text, -value if negative else value, currency, ambiguous, m.start(), m.end()))
    return found


def money_attempts(line: str, amounts: list[Amount]) -> list[str]:
    """Tokens outside the parsed amounts that try to be money ("$2O.OO", "€12,3,4"): unreadable amounts."""
    rest = list(line)
    for a in amounts:
        rest[a.start:a.end] = [" "] * (a.end - a.start)
    return [t for t in "".join(rest).split() if any(c in _SYMBOL_CHARS for c in t) and len(t) > 1]


def check_places(amount: Amount, currency: str) -> None:
    """Refuse more decimals than the currency has ("¥12.5")."""
    places = minor_units(currency)
    if amount.exact() != amount.exact().quantize(Decimal(1).scaleb(-places)):
        what = "no decimals" if places == 0 else f"{places} decimals"
        raise MoneyError(f"{amount.text!r}: {currency} has {what}")


def parse_amount(text: str, currency: str | None = None) -> tuple[Decimal, str | None]:
    """One amount cell ("1234.56", "$1,234.56", "€12,00", "¥1,200"): (value, ISO code it names, if any)."""
    raw = text.strip()
    if re.fullmatch(r"[+-]?\d+(?:\.\d+)?", raw):
        return Decimal(raw), None  # a plain machine number: the point is the decimal point
    if currency and re.fullmatch(r"[+-]?[\d.,'’\u00a0\u202f]+", raw):
        sign = -1 if raw.startswith("-") else 1
        return sign * parse_number(raw.lstrip("+-"), currency), None
    amounts = find_amounts(raw)
    if len(amounts) != 1 or raw[: amounts[0].start].strip() or raw[amounts[0].end:].strip():
        raise MoneyError(f"{text!r} is not one amount")
    a = amounts[0]
    return a.exact(), a.currency or (a.resolve(currency) if a.symbol else None)
