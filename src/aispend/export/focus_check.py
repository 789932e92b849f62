"""Our own FOCUS 1.2 cost-and-usage checks, run in DuckDB over the written file.

Why not focus-validator: its 2.x line (the one that knows FOCUS 1.2) needs Python >= 3.12, and
1.0 (the last that runs on 3.11) stops at FOCUS 1.0. So aispend checks the rules that catch real
export bugs itself, from the 1.2 column table (shared/reference/vendors.md section 8.2):

* every Mandatory column is present; custom columns are ``x_``-prefixed and come after FOCUS ones;
* columns that may not be null hold no nulls (empty, blank and the text ``NULL`` count as null);
* Decimal columns are plain or ``mEn`` numbers; Date/Time columns are ``YYYY-MM-DDTHH:mm:ssZ``
  (Parquet timestamps pass as they are); each period ends after it starts;
* ChargeCategory, ChargeClass, ChargeFrequency, PricingCategory, ServiceCategory and
  ServiceSubcategory hold allowed values (the subcategory one of its category's);
* BillingCurrency is a three-letter code; Tags and SkuPriceDetails are JSON objects of scalars.

The file is scanned once by one aggregate query (CSV read as text, Parquet as stored), so
checking a file of millions of rows takes flat memory: no row ever becomes a Python object.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..errors import ImportError_
from ..ingest.detect import read_headers
from ..ingest.sqlparts import blank, lit, q

MANDATORY, RECOMMENDED, CONDITIONAL = "Mandatory", "Recommended", "Conditional"
STRING, DECIMAL, DATETIME, JSON = "String", "Decimal", "Date/Time", "JSON"


@dataclass(frozen=True)
class FocusColumn:
    name: str
    level: str
    type: str
    nullable: bool


def _c(name: str, level: str, type_: str, nullable: str) -> FocusColumn:
    return FocusColumn(name, level, type_, nullable == "yes")


M, R, C = MANDATORY, RECOMMENDED, CONDITIONAL
# FOCUS 1.2 Cost and Usage columns, as in the spec's column table (section 8.2 of vendors.md).
FOCUS_12_COLUMNS: tuple[FocusColumn, ...] = (
    _c("AvailabilityZone", R, STRING, "yes"),
    _c("BilledCost", M, DECIMAL, "no"),
    _c("BillingAccountId", M, STRING, "no"),
    _c("BillingAccountName", M, STRING, "yes"),
    _c("BillingAccountType", C, STRING, "no"),
    _c("BillingCurrency", M, STRING, "no"),
    _c("BillingPeriodEnd", M, DATETIME, "no"),
    _c("BillingPeriodStart", M, DATETIME, "no"),
    _c("CapacityReservationId", C, STRING, "yes"),
    _c("CapacityReservationStatus", C, STRING, "yes"),
    _c("ChargeCategory", M, STRING, "no"),
    _c("ChargeClass", M, STRING, "yes"),
    _c("ChargeDescription", M, STRING, "yes"),
    _c("ChargeFrequency", R, STRING, "no"),
    _c("ChargePeriodEnd", M, DATETIME, "no"),
    _c("ChargePeriodStart", M, DATETIME, "no"),
    _c("CommitmentDiscountCategory", C, STRING, "yes"),
    _c("CommitmentDiscountId", C, STRING, "yes"),
    _c("CommitmentDiscountName", C, STRING, "yes"),
    _c("CommitmentDiscountQuantity", C, DECIMAL, "yes"),
    _c("CommitmentDiscountStatus", C, STRING, "yes"),
    _c("CommitmentDiscountType", C, STRING, "yes"),
    _c("CommitmentDiscountUnit", C, STRING, "yes"),
    _c("ConsumedQuantity", C, DECIMAL, "yes"),
    _c("ConsumedUnit", C, STRING, "yes"),
    _c("ContractedCost", M, DECIMAL, "no"),
    _c("ContractedUnitPrice", C, DECIMAL, "yes"),
    _c("EffectiveCost", M, DECIMAL, "no"),
    _c("InvoiceId", R, STRING, "yes"),
    _c("InvoiceIssuerName", M, STRING, "no"),
    _c("ListCost", M, DECIMAL, "no"),
    _c("ListUnitPrice", C, DECIMAL, "yes"),
    _c("PricingCategory", C, STRING, "yes"),
    _c("PricingCurrency", C, STRING, "yes"),
    _c("PricingCurrencyContractedUnitPrice", C, DECIMAL, "yes"),
    _c("PricingCurrencyEffectiveCost", C, DECIMAL, "yes"),
    _c("PricingCurrencyListUnitPrice", C, DECIMAL, "yes"),
    _c("PricingQuantity", M, DECIMAL, "yes"),
    _c("PricingUnit", M, STRING, "yes"),
    _c("ProviderName", M, STRING, "no"),
    _c("PublisherName", M, STRING, "no"),
    _c("RegionId", C, STRING, "yes"),
    _c("RegionName", C, STRING, "yes"),
    _c("ResourceId", C, STRING, "yes"),
    _c("ResourceName", C, STRING, "yes"),
    _c("ResourceType", C, STRING, "yes"),
    _c("ServiceCategory", M, STRING, "no"),
    _c("ServiceName", M, STRING, "no"),
    _c("ServiceSubcategory", R, STRING, "no"),
    _c("SkuId", C, STRING, "yes"),
    _c("SkuMeter", C, STRING, "yes"),
    _c("SkuPriceDetails", C, JSON, "yes"),
    _c("SkuPriceId", C, STRING, "yes"),
    _c("SubAccountId", C, STRING, "yes"),
    _c("SubAccountName", C, STRING, "yes"),
    _c("SubAccountType", C, STRING, "yes"),
    _c("Tags", C, JSON, "yes"),
)
FOCUS_12_BY_NAME = {c.name: c for c in FOCUS_12_COLUMNS}
MANDATORY_COLUMNS = tuple(c.name for c in FOCUS_12_COLUMNS if c.level == MANDATORY)

CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
CHARGE_CLASSES = ("Correction",)  # or null
CHARGE_FREQUENCIES = ("One-Time", "Recurring", "Usage-Based")
PRICING_CATEGORIES = ("Standard", "Dynamic", "Committed", "Other")
AI_CATEGORY = "AI and Machine Learning"
AI_SUBCATEGORIES = ("AI Platforms", "Bots", "Generative AI", "Machine Learning", "Natural Language Processing",
                    "Other (AI and Machine Learning)")


def _sub(category: str, *names: str) -> tuple[str, tuple[str, ...]]:
    return category, (*names, f"Other ({category})")


# ServiceCategory -> its ServiceSubcategory values. The AI list is confirmed from the 1.2 spec;
# the others follow the spec's appendix as published, plus the two spellings finops-toolkit's
# Services.csv uses ("Quantum", "Data Transfer"), so a toolkit-produced file is not rejected.
SERVICE_SUBCATEGORIES: dict[str, tuple[str, ...]] = dict((
    (AI_CATEGORY, AI_SUBCATEGORIES),
    _sub("Analytics", "Analytics Platforms", "Business Intelligence", "Data Processing", "Search",
         "Streaming Analytics"),
    _sub("Business Applications", "Productivity and Collaboration"),
    _sub("Compute", "Containers", "End User Computing", "Quantum Compute", "Quantum", "Serverless Compute",
         "Virtual Machines"),
    _sub("Databases", "Caching", "Data Warehouses", "Ledger Databases", "NoSQL Databases", "Relational Databases",
         "Time Series Databases"),
    _sub("Developer Tools", "Developer Platforms", "Continuous Integration and Deployment",
         "Development Environments", "Source Code Management", "Quality Assurance"),
    _sub("Identity", "Identity and Access Management"),
    _sub("Integration", "API Management", "Messaging", "Workflow Orchestration"),
    _sub("Internet of Things", "IoT Analytics", "IoT Platforms"),
    _sub("Management and Governance", "Architecture", "Compliance", "Cost Management", "Data Governance",
         "Disaster Recovery", "Endpoint Management", "Observability", "Support"),
    _sub("Media", "Content Creation", "Gaming", "Media Streaming", "Mixed Reality"),
    _sub("Migration", "Data Migration", "Data Transfer", "Resource Migration"),
    _sub("Mobile"),
    _sub("Multicloud", "Multicloud Integration"),
    _sub("Networking", "Application Networking", "Content Delivery", "Network Connectivity",
         "Network Infrastructure", "Network Routing", "Network Security"),
    _sub("Security", "Secret Management", "Security Posture Management", "Threat Detection and Response"),
    _sub("Storage", "Backup Storage", "Block Storage", "File Storage", "Object Storage", "Storage Platforms"),
    _sub("Web", "Application Platforms"),
    _sub("Other"),
))
SERVICE_CATEGORIES = tuple(SERVICE_SUBCATEGORIES)

ALLOWED_VALUES: dict[str, tuple[str, ...]] = {
    "ChargeCategory": CHARGE_CATEGORIES,
    "ChargeClass": CHARGE_CLASSES,
    "ChargeFrequency": CHARGE_FREQUENCIES,
    "PricingCategory": PRICING_CATEGORIES,
    "ServiceCategory": SERVICE_CATEGORIES,
}

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_DATETIME_RE = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"
_NUMERIC_RE = r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?"
_NUMERIC_TYPES = ("DECIMAL", "DOUBLE", "FLOAT", "REAL", "HUGEINT", "BIGINT", "INTEGER", "SMALLINT", "TINYINT",
                  "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT", "UHUGEINT")
# Every rule check_focus_file applies, by the name a Problem carries.
RULES = ("readable", "mandatory_column", "custom_column_prefix", "custom_column_order", "not_null", "decimal",
         "datetime", "period_order", "allowed_values", "currency", "key_value")
_PERIODS = (("ChargePeriodStart", "ChargePeriodEnd"), ("BillingPeriodStart", "BillingPeriodEnd"))


@dataclass(frozen=True)
class Problem:
    """One broken rule: which rule, on which column, how many rows, and one offending value."""

    rule: str
    column: str
    rows: int
    example: str | None
    detail: str

    def __str__(self) -> str:
        eg = f" (e.g. {self.example!r})" if self.example is not None else ""
        return f"{self.rule}: {self.column}: {self.detail}: {self.rows} row(s){eg}"


@dataclass(frozen=True)
class _RowRule:
    rule: str
    column: str
    failed: str  # SQL over the aliased columns: true when the row breaks the rule
    example: str  # SQL: the value to show
    detail: str


def _container(path: Path) -> str:
    with path.open("rb") as fh:
        return "parquet" if fh.read(4) == b"PAR1" else "csv"


def _from_sql(path: Path, container: str, headers: list[str]) -> str:
    if container == "parquet":
        return f"read_parquet({lit(str(path))})"
    columns = ", ".join(f"{lit(h)}: 'VARCHAR'" for h in headers)
    return (f"read_csv({lit(str(path))}, header = true, auto_detect = false, columns = {{{columns}}}, "
            "delim = ',', quote = '\"', escape = '\"', strict_mode = true)")


def _column_problems(headers: list[str], total: int) -> list[Problem]:
    """Rules about the header alone: mandatory columns, custom prefix, custom columns last."""
    problems = [Problem("mandatory_column", name, total, None, "Mandatory FOCUS 1.2 column is missing")
                for name in MANDATORY_COLUMNS if name not in headers]
    for name in headers:
        if name not in FOCUS_12_BY_NAME and not name.startswith("x_"):
            problems.append(Problem("custom_column_prefix", name, total, name,
                                    "not a FOCUS 1.2 column and not prefixed x_"))
    focus_positions = [i for i, h in enumerate(headers) if h in FOCUS_12_BY_NAME]
    last_focus = max(focus_positions, default=-1)
    for i, name in enumerate(headers):
        if name not in FOCUS_12_BY_NAME and i < last_focus:
            problems.append(Problem("custom_column_order", name, total, headers[last_focus],
                                    "custom column comes before a FOCUS column"))
    return problems


def _value_rules(headers: list[str], types: dict[str, str]) -> list[_RowRule]:
    """Per-row rules for the FOCUS columns the file has. Column ``c`` is aliased ``v_c`` (blanked text)."""
    rules: list[_RowRule] = []
    present = [FOCUS_12_BY_NAME[h] for h in headers if h in FOCUS_12_BY_NAME]
    for col in present:
        v = f"v_{col.name}"
        native = types[col.name].upper()
        if not col.nullable:
            rules.append(_RowRule("not_null", col.name, f"{v} IS NULL", "CAST(NULL AS VARCHAR)",
                                  "null in a column that may not be null"))
        if col.type == DECIMAL and not native.startswith(_NUMERIC_TYPES):
            rules.append(_RowRule("decimal", col.name,
                                  f"{v} IS NOT NULL AND NOT regexp_full_match({v}, {lit(_NUMERIC_RE)})", v,
                                  "not a decimal number (plain or mEn, no separators, symbols or +)"))
        if col.type == DATETIME and not native.startswith("TIMESTAMP"):
            rules.append(_RowRule(
                "datetime", col.name,
                f"{v} IS NOT NULL AND NOT (regexp_full_match({v}, {lit(_DATETIME_RE)}) "
                f"AND try_strptime({v}, {lit(DATETIME_FORMAT)}) IS NOT NULL)",
                v, "not a UTC date/time YYYY-MM-DDTHH:mm:ssZ"))
        if col.type == JSON:
            j = f"try_cast({v} AS JSON)"
            bad = (f"json_type({j}) IS DISTINCT FROM 'OBJECT' OR coalesce(list_bool_or(list_transform("
                   f"json_extract({j}, '$.*'), lambda x: json_type(x) IN ('OBJECT', 'ARRAY'))), false)")
            rules.append(_RowRule("key_value", col.name, f"{v} IS NOT NULL AND ({bad})", v,
                                  "not a JSON object with only string, number, boolean or null values"))
        if col.name in ALLOWED_VALUES:
            allowed = ", ".join(lit(a) for a in ALLOWED_VALUES[col.name])
            rules.append(_RowRule("allowed_values", col.name, f"{v} IS NOT NULL AND {v} NOT IN ({allowed})", v,
                                  "not one of " + ", ".join(ALLOWED_VALUES[col.name])))
    names = {c.name for c in present}
    if "BillingCurrency" in names:
        v = "v_BillingCurrency"
        rules.append(_RowRule("currency", "BillingCurrency",
                              f"{v} IS NOT NULL AND NOT regexp_full_match({v}, '[A-Z]{{3}}')", v,
                              "not a three-letter ISO 4217 currency code"))
    if "ServiceSubcategory" in names:
        rules.append(_subcategory_rule("ServiceCategory" in names))
    for start, end in _PERIODS:
        if start in names and end in names:
            s, e = _as_timestamp(start, types[start]), _as_timestamp(end, types[end])
            rules.append(_RowRule("period_order", end, f"{e} <= {s}", f"v_{start} || ' .. ' || v_{end}",
                                  f"does not end after {start}"))
    return rules


def _subcategory_rule(have_category: bool) -> _RowRule:
    """ServiceSubcategory must be one of its own ServiceCategory's values (pairs joined by " / ")."""
    pairs = ", ".join(lit(f"{cat} / {sub}") for cat, subs in SERVICE_SUBCATEGORIES.items() for sub in subs)
    pair = f"{'v_ServiceCategory' if have_category else 'NULL'} || ' / ' || v_ServiceSubcategory"
    return _RowRule("allowed_values", "ServiceSubcategory",
                    f"v_ServiceSubcategory IS NOT NULL AND coalesce({pair}, '') NOT IN ({pairs})",
                    f"coalesce({pair}, v_ServiceSubcategory)",
                    "not a FOCUS 1.2 subcategory of the row's ServiceCategory")


def _as_timestamp(name: str, native: str) -> str:
    if native.upper().startswith("TIMESTAMP"):
        return f"CAST(n_{name} AS TIMESTAMP)"
    return f"try_strptime(v_{name}, {lit(DATETIME_FORMAT)})"


def check_focus_file(path: str | Path) -> list[Problem]:
    """Check a FOCUS 1.2 cost-and-usage file (CSV or Parquet); an empty list means it passed."""
    path = Path(path)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        try:
            container = _container(path)
            headers = read_headers(path)
        except (OSError, ImportError_) as exc:
            return [Problem("readable", str(path), 0, None, f"cannot read the header: {exc}")]
        source = _from_sql(path, container, headers)
        try:
            described = con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {source})")
            types = dict(described.fetchall())
            total = con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]  # type: ignore[index]
        except duckdb.Error as exc:
            return [Problem("readable", str(path), 0, None, f"cannot read the file: {str(exc).splitlines()[0]}")]
        problems = _column_problems(headers, total)
        rules = _value_rules(headers, types)
        if rules and total:
            problems += _run_rules(con, source, headers, rules)
        return problems
    finally:
        con.close()


def _run_rules(
    con: duckdb.DuckDBPyConnection, source: str, headers: list[str], rules: list[_RowRule]
) -> list[Problem]:
    """One aggregate pass: per rule, the count of failing rows and one failing value."""
    focus = [h for h in headers if h in FOCUS_12_BY_NAME]
    aliases = ", ".join(f"{blank(q(h))} AS v_{h}, {q(h)} AS n_{h}" for h in focus)
    aggregates = ", ".join(
        f"count(*) FILTER (WHERE coalesce({r.failed}, false)) AS c{i}, "
        f"any_value(CAST({r.example} AS VARCHAR)) FILTER (WHERE coalesce({r.failed}, false)) AS e{i}"
        for i, r in enumerate(rules)
    )
    row = con.execute(f"SELECT {aggregates} FROM (SELECT {aliases} FROM {source})").fetchone()
    assert row is not None
    problems = []
    for i, r in enumerate(rules):
        count, example = row[2 * i], row[2 * i + 1]
        if count:
            problems.append(Problem(r.rule, r.column, count, example, r.detail))
    return problems
