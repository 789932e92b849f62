"""Any vendor's CSV -> ledger rows, driven by a ``[csv_mappings.NAME]`` table (pure: SQL out).

Every mapped column is parsed as its ledger type and checked; a mapped header missing from the
file is a configuration error named before any row is read.
"""

from __future__ import annotations

from ..config import CsvMapping
from ..errors import ImportError_
from ..schema import CHARGE_CATEGORIES, COLUMNS_BY_NAME, MONEY_SQL
from ..vendors import provider_sql_case
from . import sqlparts as s

_PERIOD = {"hour": "INTERVAL 1 HOUR", "day": "INTERVAL 1 DAY", "month": "INTERVAL 1 MONTH"}
_CENTS = "CAST(0.01 AS DECIMAL(3, 2))"


def matches(headers: list[str], mapping: CsvMapping) -> bool:
    wanted = mapping.detect or list(mapping.columns.values())
    return bool(wanted) and set(wanted) <= set(headers)


def normalize_sql(
    headers: list[str], mapping: CsvMapping, from_sql: str, *, name: str, source: str, batch_id: str, ingested_at: str
) -> str:
    missing = [h for h in mapping.columns.values() if h not in headers]
    if missing:
        raise ImportError_(
            f"csv mapping {name!r} names column(s) the file does not have: {', '.join(missing)}; "
            f"the file's header is: {', '.join(headers)}"
        )
    raw: dict[str, str] = {}
    parsed: dict[str, str] = {}
    checks: list[s.Check] = []
    values: dict[str, str] = {}

    for col, header in mapping.columns.items():
        r, p = f"r_{col}", f"p_{col}"
        raw[r] = s.blank(s.q(header))
        sql_type = COLUMNS_BY_NAME[col].sql
        if sql_type == "TIMESTAMP":
            what = f"a date/time ({mapping.timestamp_format or 'ISO 8601'})"
            parsed[p] = s.timestamp(r, mapping.timestamp_format)
        elif sql_type == MONEY_SQL:
            what = "a decimal number"
            parsed[p] = s.decimal(r)
            if col == "billed_cost" and mapping.cost_unit == "cents":
                parsed[p] = f"CAST({parsed[p]} * {_CENTS} AS {MONEY_SQL})"
        elif sql_type == "BIGINT":
            what, parsed[p] = "a whole number", s.integer(r)
        elif sql_type == "JSON":
            what, parsed[p] = "a JSON object", f"CASE WHEN json_type(try_cast({r} AS JSON)) = 'OBJECT' THEN try_cast({r} AS JSON) END"
        else:
            what, parsed[p] = "text", r
        required = col in ("period_start", "billed_cost", "provider")
        checks += (s.required if required else s.optional)(header, r, p, what)
        values[col] = p

    for col, constant in mapping.constants.items():
        values.setdefault(col, s.lit(constant))

    if "provider" in values:
        values["provider"] = provider_sql_case(values["provider"])
    if "publisher" in values:
        values["publisher"] = provider_sql_case(values["publisher"])
    if "charge_category" in values:
        allowed = ", ".join(s.lit(c) for c in CHARGE_CATEGORIES)
        values["charge_category"] = f"lower({values['charge_category']})"
        if "charge_category" in mapping.columns:
            header = mapping.columns["charge_category"]
            checks.append(s.Check(header, f"p_charge_category IS NOT NULL AND lower(p_charge_category) NOT IN ({allowed})",
                                  "not one of " + ", ".join(CHARGE_CATEGORIES), "r_charge_category"))
    if "period_end" in mapping.columns:
        checks.append(s.Check(mapping.columns["period_end"], "p_period_end < p_period_start",
                              "ends before the period start", "r_period_end"))

    values.setdefault("period_end", f"{values['period_start']} + {_PERIOD[mapping.period]}")
    values.setdefault("billing_period", f"strftime({values['period_start']}, '%Y-%m')")
    values.setdefault("charge_category", "'usage'")
    values.setdefault("billing_currency", "'USD'")
    values["billing_currency"] = f"upper({values['billing_currency']})"
    values.setdefault("cost_source", "'billed'" if "billed_cost" in values else "'estimated'")
    values.update(
        source=s.lit(source),
        source_type=s.lit(f"csv:{name}"),
        ingested_at=f"CAST({s.lit(ingested_at)} AS TIMESTAMP)",
        batch_id=s.lit(batch_id),
    )
    if "model_raw" in values:
        values.setdefault("model", values["model_raw"])
    return s.ledger_select(raw, parsed, values, checks, from_sql)
