"""aispend.toml plus environment variables.

Where things are looked for, first hit wins:

* the config file: ``--config PATH``, else ``$AISPEND_CONFIG``, else ``./aispend.toml``; none is fine
  (every setting has a default);
* ``store.url``: ``$AISPEND_STORE_URL``, else the file, else ``./aispend.duckdb``.

A secret is never a literal in the file: it is ``{ env = "NAME" }`` or ``{ file = "/path" }`` and is
resolved only when used, into a ``SecretStr`` whose repr never shows the value.
"""

from __future__ import annotations

import os
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from .errors import ConfigError, SecretError
from .schema import COLUMN_NAMES, COLUMNS_BY_NAME, DIMENSIONS

DEFAULT_CONFIG_FILE = "aispend.toml"
DEFAULT_STORE_URL = "./aispend.duckdb"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SecretRef(_Strict):
    """A pointer to a secret: exactly one of ``env`` or ``file``."""

    env: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError('a secret is { env = "NAME" } or { file = "/path" }, exactly one of them')
        return self

    def resolve(self) -> SecretStr:
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise SecretError(f"environment variable {self.env} is not set (it holds a secret named in aispend.toml)")
            return SecretStr(value)
        path = Path(self.file or "")
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise SecretError(f"cannot read secret file {path}: {exc.strerror}") from None
        if not value:
            raise SecretError(f"secret file {path} is empty")
        return SecretStr(value)

    def describe(self) -> str:
        """Where the secret comes from, for listings; never the value."""
        return f"env:{self.env}" if self.env else f"file:{self.file}"


class StoreConfig(_Strict):
    url: str = DEFAULT_STORE_URL
    # DuckDB allows one writer: a command finding the ledger open (a sync, `aispend serve` between
    # requests) retries for up to this many seconds before saying so.
    wait_seconds: float = Field(default=30.0, ge=0)


class PriceOverride(_Strict):
    """A negotiated or missing price, USD per million tokens (requests: per thousand)."""

    provider: str
    model: str
    input_mtok: Decimal | None = None
    output_mtok: Decimal | None = None
    cache_read_mtok: Decimal | None = None
    cache_write_mtok: Decimal | None = None
    requests_kcount: Decimal | None = None
    service_tier: str | None = None  # None: every tier
    start: str | None = None  # YYYY-MM-DD, inclusive
    end: str | None = None  # YYYY-MM-DD, exclusive


class PricingConfig(_Strict):
    overrides: list[PriceOverride] = Field(default_factory=list)
    # Percent off list, per provider, applied to estimated costs (what you pay) but not to list cost.
    discounts: dict[str, Decimal] = Field(default_factory=dict)
    # Multiplier on the standard price for a tier the price book has no price for.
    tier_multipliers: dict[str, Decimal] = Field(default_factory=lambda: {"batch": Decimal("0.5")})
    # USD per unit of a billing currency, e.g. EUR = "1.08". Rows in other currencies stay unconverted.
    fx: dict[str, Decimal] = Field(default_factory=dict)

    @field_validator("discounts")
    @classmethod
    def _percent(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for provider, pct in value.items():
            if not Decimal(0) <= pct < Decimal(100):
                raise ValueError(f"discount for {provider} must be a percent in [0, 100), got {pct}")
        return value


class CsvMapping(_Strict):
    """How a vendor's CSV maps onto the ledger, for vendors without a native format.

    Rows with a ``billed_cost`` are billed; a mapping without one (a gateway's token log) yields
    estimated rows, priced from the book.

    ``columns`` maps a ledger column to the CSV header holding it; ``constants`` fixes a ledger
    column for every row. ``detect`` lists headers whose presence identifies the file.
    """

    columns: dict[str, str]
    constants: dict[str, str] = Field(default_factory=dict)
    detect: list[str] = Field(default_factory=list)
    timestamp_format: str | None = None  # strptime format of period columns; ISO 8601 when omitted
    period: Literal["hour", "day", "month"] = "day"  # length of a row when period_end is not mapped
    cost_unit: Literal["units", "cents"] = "units"
    delimiter: str = ","

    @field_validator("columns", "constants")
    @classmethod
    def _ledger_columns(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(COLUMN_NAMES))
        if unknown:
            raise ValueError(f"not ledger columns: {', '.join(unknown)} (see docs/schema.md)")
        return value

    @model_validator(mode="after")
    def _required(self) -> CsvMapping:
        have = set(self.columns) | set(self.constants)
        missing = [c for c in ("period_start", "provider") if c not in have]
        if not have & {"billed_cost", "input_tokens", "output_tokens"}:
            missing.append("billed_cost (or token columns, for usage without a bill)")
        if missing:
            raise ValueError(f"a CSV mapping must give {', '.join(missing)} (as a column or a constant)")
        return self


class SourceConfig(_Strict):
    """``[sources.NAME]``: a read-only API source. Keys beyond these are the connector's own.

    The connector of ``type`` validates the whole table with its ``settings_model`` (a subclass)
    when the file is loaded, so a typo is named before any network call.
    """

    model_config = ConfigDict(extra="allow")
    type: str
    api_key: SecretRef | None = None
    base_url: str | None = None
    environment: str | None = None  # default attribution of the rows this source loads
    owner: str | None = None
    project: str | None = None
    restatement_days: int = Field(default=3, ge=0, le=90)  # re-pulled days before the cursor

    @field_validator("api_key", mode="before")
    @classmethod
    def _no_literal(cls, value: Any) -> Any:
        if isinstance(value, str):
            # The value is never echoed: it is probably a real key.
            raise ValueError('a literal key is not allowed in aispend.toml (the value is not shown); '  # noqa: TRY004
                             'write api_key = { env = "NAME" } or { file = "/path" }')
        return value


class EventsSettings(_Strict):
    """``[events]``: per-request events (OTel GenAI spans, gateway logs); see docs/events.md.

    ``attributes`` maps an event field (customer, feature, experiment, branch, project, api_key_id,
    environment, service) to the span/resource attribute names read for it, first hit wins; a field
    given here replaces that field's default list. ``receiver_token`` is the bearer token
    ``aispend serve`` requires (mandatory on a non-loopback host).
    """

    retention_days: int = Field(default=90, ge=1)
    attributes: dict[str, list[str]] = Field(default_factory=dict)
    receiver_token: SecretRef | None = None

    @field_validator("attributes")
    @classmethod
    def _known_fields(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        known = {"customer", "feature", "experiment", "branch", "project", "api_key_id", "environment", "service"}
        if unknown := sorted(set(value) - known):
            raise ValueError(f"not event fields: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return value

    @field_validator("receiver_token", mode="before")
    @classmethod
    def _no_literal(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(  # noqa: TRY004 - pydantic reports ValueError, not TypeError, as a validation error
                'a literal token is not allowed in aispend.toml (the value is not shown); '
                'write receiver_token = { env = "NAME" } or { file = "/path" }')
        return value


def _scopes(value: list[list[str]]) -> list[list[str]]:
    from .schema import DIMENSIONS  # local: keeps the anomaly block self-contained

    for scope in value:
        if not scope or any(d not in DIMENSIONS for d in scope):
            raise ValueError(f"scope {scope} must list ledger dimensions; choose from: {', '.join(DIMENSIONS)}")
    return value


class SpikeSettings(_Strict):
    """``[anomalies.spike]``: a day's spend far above its trend-adjusted same-weekday median."""

    enabled: bool = True
    scopes: list[list[str]] = Field(default_factory=lambda: [["provider"], ["provider", "model"]])
    baseline_weeks: int = Field(default=4, ge=2, le=26)
    min_weeks: int = Field(default=3, ge=1)  # fewer same-weekday days: compare with the last 14 days
    z: float = Field(default=4.0, gt=0)  # log(actual / expected) in units of the scope's daily noise
    min_ratio: Decimal = Field(default=Decimal("1.5"), gt=1)
    min_impact_usd: Decimal = Field(default=Decimal(20), ge=0)
    yesterday: bool = False  # the simple rule: spend > yesterday_multiplier x yesterday
    yesterday_multiplier: Decimal = Field(default=Decimal(3), gt=1)

    @field_validator("scopes")
    @classmethod
    def _dims(cls, value: list[list[str]]) -> list[list[str]]:
        return _scopes(value)


class TokensSettings(_Strict):
    """``[anomalies.tokens]``: input or output tokens per request jumping (a prompt template change)."""

    enabled: bool = True
    scopes: list[list[str]] = Field(default_factory=lambda: [["model", "project"], ["model", "feature"]])
    baseline_days: int = Field(default=7, ge=1)
    min_points: int = Field(default=6, ge=1)  # baseline buckets (hours or days) needed
    min_requests: int = Field(default=20, ge=1)  # a bucket with fewer requests is too noisy to judge
    min_ratio: Decimal = Field(default=Decimal(2), gt=1)
    z: float = Field(default=4.0, gt=0)
    min_impact_usd: Decimal = Field(default=Decimal(1), ge=0)

    @field_validator("scopes")
    @classmethod
    def _dims(cls, value: list[list[str]]) -> list[list[str]]:
        return _scopes(value)


class NewSettings(_Strict):
    """``[anomalies.new]``: a value of these dimensions seen for the first time."""

    enabled: bool = True
    dimensions: list[str] = Field(default_factory=lambda: ["model", "api_key_id"])
    min_history_days: int = Field(default=7, ge=0)  # on a younger ledger everything is new: say nothing

    @field_validator("dimensions")
    @classmethod
    def _dims(cls, value: list[str]) -> list[str]:
        _scopes([[d] for d in value])
        return value


class SilentSettings(_Strict):
    """``[anomalies.silent]``: a scope with steady daily spend that has spent nothing for ``days`` days."""

    enabled: bool = True
    scopes: list[list[str]] = Field(default_factory=lambda: [["provider"], ["provider", "model"]])
    days: int = Field(default=3, ge=1)
    baseline_days: int = Field(default=14, ge=2)
    min_active_share: float = Field(default=0.8, gt=0, le=1)  # of baseline days with spend
    min_daily_usd: Decimal = Field(default=Decimal(5), ge=0)  # median daily spend of the baseline

    @field_validator("scopes")
    @classmethod
    def _dims(cls, value: list[list[str]]) -> list[list[str]]:
        return _scopes(value)


class AnomalySettings(_Strict):
    """``[anomalies]``: what `aispend anomalies` calls unusual (docs/anomalies.md)."""

    lookback_days: int = Field(default=7, ge=1)  # the window detected when --since is omitted
    charge_categories: list[str] = Field(default_factory=lambda: ["usage"])  # spend for spikes and silence
    warning_usd: Decimal = Field(default=Decimal(50), ge=0)  # |impact| from which severity is warning
    critical_usd: Decimal = Field(default=Decimal(500), ge=0)
    spike: SpikeSettings = Field(default_factory=SpikeSettings)
    tokens: TokensSettings = Field(default_factory=TokensSettings)
    new: NewSettings = Field(default_factory=NewSettings)
    silent: SilentSettings = Field(default_factory=SilentSettings)

    @model_validator(mode="after")
    def _ordered(self) -> AnomalySettings:
        if self.critical_usd < self.warning_usd:
            raise ValueError("critical_usd must be at least warning_usd")
        return self


class OptimizeSettings(_Strict):
    """``[optimize]``: the assumptions behind ``aispend recommend`` (docs/optimize.md explains each)."""

    # [[optimize.low_stakes]] feature = "summaries" (any ledger dimension; optional to = "MODEL")
    low_stakes: list[dict[str, str]] = Field(default_factory=list)
    downgrades: dict[str, str] = Field(default_factory=dict)  # model -> cheaper model, beside the built-in ladder
    window_days: int = Field(default=30, ge=7, le=366)  # the observed period recommendations rest on
    cache_hit_rate: Decimal = Field(default=Decimal("0.5"), gt=0, le=1)  # share of input a cache would serve
    cache_reads_per_write: int = Field(default=10, ge=1)  # reads each cache write pays for
    low_cache_share: Decimal = Field(default=Decimal("0.1"), ge=0, le=1)  # below this, caching is "low"
    min_cacheable_tokens: int = Field(default=1024, ge=0)  # shortest prompt a provider caches
    batch_environments: list[str] = Field(default_factory=lambda: ["dev", "development", "staging", "test", "qa", "ci"])
    off_hours_utc: tuple[int, int] = (0, 6)  # [start, end) hours: hourly prod rows here may batch
    long_context_margin: Decimal = Field(default=Decimal("0.1"), gt=0, le=1)  # "just over" a tier edge

    @field_validator("low_stakes")
    @classmethod
    def _scopes(cls, value: list[dict[str, str]]) -> list[dict[str, str]]:
        for scope in value:
            unknown = sorted(set(scope) - set(DIMENSIONS) - {"to"})
            if unknown or not set(scope) - {"to"}:
                raise ValueError(f"a low_stakes entry names ledger dimensions (and optionally to = MODEL); "
                                 f"got {', '.join(unknown) or 'no dimension'}")
        return value


class DoctorSettings(_Strict):
    """``[doctor]``: the thresholds of ``aispend doctor`` (docs/doctor.md explains each check)."""

    drift_pct: Decimal = Field(default=Decimal(10), gt=0)  # estimate vs bill, per provider and month
    drift_min_usd: Decimal = Field(default=Decimal(1), ge=0)  # smaller bills are not judged for drift
    api_stale_days: int = Field(default=2, ge=1)  # an API source without a successful sync for longer
    file_stale_days: int = Field(default=35, ge=1)  # a file source without an import for longer (monthly bills)


# -- [attribution]: rules (compiled to SQL in aispend/attribution/rules.py) --------------------------

SETTABLE = ("owner", "feature", "customer", "environment", "experiment", "project")
TAG = "tags."


def _matchable(key: str) -> bool:
    if key.startswith(TAG):
        return len(key) > len(TAG)
    col = COLUMNS_BY_NAME.get(key)
    return col is not None and col.sql == "VARCHAR" and key != "attributed_by"


class Rule(_Strict):
    name: str | None = None
    match: dict[str, str | list[str]] = Field(min_length=1)
    set: dict[str, str] = Field(min_length=1)

    @field_validator("match")
    @classmethod
    def _match(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        if bad := sorted(k for k in value if not _matchable(k)):
            raise ValueError(f"cannot match on {', '.join(bad)}: use a text column of the ledger "
                             "(provider, model, api_key_id, project, account_id, region, ...) or tags.KEY")
        for key, pattern in value.items():
            for p in [pattern] if isinstance(pattern, str) else pattern:
                if p.startswith("re:"):
                    _check_regex(key, p[3:])
        return value

    @field_validator("set")
    @classmethod
    def _set(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k in value if k not in SETTABLE and not (k.startswith(TAG) and len(k) > len(TAG)))
        if bad:
            raise ValueError(f"cannot set {', '.join(bad)}: a rule sets {', '.join(SETTABLE)} or tags.KEY")
        return value


class Lookup(_Strict):
    """``[[attribution.lookups]]``: a CSV of metadata (API key or project -> owner, team; customer id
    -> name, plan). Its ``on`` column matches that ledger column (or tags.KEY) exactly; every other
    column sets a field, as a rule would (after the explicit rules)."""

    file: Path  # relative to aispend.toml
    on: str
    name: str | None = None

    @field_validator("on")
    @classmethod
    def _on(cls, value: str) -> str:
        if not _matchable(value):
            raise ValueError(f"cannot look up by {value}: use a text column of the ledger or tags.KEY")
        return value


class AttributionSettings(_Strict):
    """``[attribution]``: the ordered rules and lookups; semantics in aispend/attribution/rules.py."""

    rules: list[Rule] = Field(default_factory=list)
    lookups: list[Lookup] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names(self) -> AttributionSettings:
        for i, rule in enumerate(self.rules, 1):
            if rule.name is None:
                rule.name = f"rule {i}"
        for lookup in self.lookups:
            lookup.name = lookup.name or f"lookup {lookup.file.name}"
        return self

    def fields(self) -> list[str]:
        """Every field some rule or lookup sets, in first-seen order."""
        from .attribution.lookups import lookup_fields  # local: reads the CSV headers

        return list(dict.fromkeys([*(k for r in self.rules for k in r.set), *lookup_fields(self.lookups)]))


def _check_regex(key: str, pattern: str) -> None:
    import re

    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{key}: {pattern!r} is not a regular expression ({exc})") from None



class StripeRevenueSettings(_Strict):
    """``[revenue.stripe]``: your own Stripe account, read with a restricted key (docs/unit-economics.md).

    The key needs read access to Invoices, Charges and (for ``customer_metadata_key``) Customers.
    ``api_version`` is pinned so the wire format stays the one this reader was written for.
    """

    api_key: SecretRef
    name: str = "main"  # revenue rows are recorded under source "stripe:<name>"
    base_url: str = "https://api.stripe.com"
    customer_metadata_key: str = "aispend_customer"  # "" : always the Stripe customer id
    feature_metadata_key: str = "aispend_feature"  # invoice/charge metadata naming a product feature
    api_version: str = "2024-06-20"

    @field_validator("api_key", mode="before")
    @classmethod
    def _no_literal(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(  # noqa: TRY004 - pydantic reports ValueError, not TypeError
                'a literal key is not allowed in aispend.toml (the value is not shown); '
                'write api_key = { env = "NAME" } or { file = "/path" }')
        return value


class RevenueSettings(_Strict):
    """``[revenue]``: where revenue comes from, for margin (``aispend revenue sync``)."""

    stripe: StripeRevenueSettings | None = None


class DashboardSettings(_Strict):
    """``[dashboard]``: the web dashboard and REST API of ``aispend serve`` (docs/dashboard.md).

    Login is required beyond loopback, or everywhere with ``require_login``. ``session_secret``
    signs session cookies; without it a random key is made at start (sessions end on restart).
    The branding (``company_name``, ``logo_path``, ``accent_color``) goes on customer reports.
    """

    require_login: bool = False  # also on 127.0.0.1 (always required on any other address)
    session_secret: SecretRef | None = None
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    login_failures_per_minute: int = Field(default=5, ge=1)  # per user and client address
    company_name: str = "Your company"
    logo_path: str | None = None  # PNG, JPEG or SVG, embedded in the customer report
    accent_color: str = Field(default="#2563eb", pattern=r"^#[0-9a-fA-F]{6}$")
    chromium_path: str | None = None  # for customer report PDFs (default: chromium on PATH)

    @field_validator("session_secret", mode="before")
    @classmethod
    def _no_literal(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(  # noqa: TRY004 - pydantic reports ValueError, not TypeError
                'a literal secret is not allowed in aispend.toml (the value is not shown); '
                'write session_secret = { env = "NAME" } or { file = "/path" }')
        return value


# -- [[budgets]], [alerts], [schedule]: budgets and alerts (docs/budgets-alerts.md) -------------------


def _refuse_literal(value: Any, what: str) -> Any:
    if isinstance(value, str):
        raise ValueError(  # noqa: TRY004 - pydantic reports ValueError as a validation error
            f'a literal {what} is not allowed in aispend.toml (the value is not shown); '
            f'write {{ env = "NAME" }} or {{ file = "/path" }}')
    return value


class BudgetSettings(_Strict):
    """``[[budgets]]``: an amount over a scope and a period; thresholds in percent (aispend/budgets)."""

    name: str = Field(min_length=1)
    # Like --where: dimension = value or [values] (any of them), AND across keys; tags as "tags.KEY".
    scope: dict[str, str | list[str]] = Field(default_factory=dict)
    amount: Decimal = Field(gt=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    period: Literal["month", "quarter", "fiscal_year", "custom"] = "month"
    fiscal_year_start_month: int = Field(default=1, ge=1, le=12)
    start: date | None = None  # custom: first day, inclusive
    end: date | None = None  # custom: last day, exclusive
    thresholds: list[int] = Field(default_factory=lambda: [50, 80, 100])  # percent of the amount, actual spend
    forecast: list[int] = Field(default_factory=lambda: [100])  # percent of the amount, forecast spend
    channels: list[str] = Field(default_factory=list)  # [[alerts.channels]] names told of a breach
    owners: list[str] = Field(default_factory=list)  # people or teams (emails reach email channels)

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        bad = sorted(k for k in value if k not in DIMENSIONS and not (k.startswith(TAG) and len(k) > len(TAG)))
        if bad:
            raise ValueError(f"cannot scope on {', '.join(bad)}: use ledger dimensions ({', '.join(DIMENSIONS)}) "
                             "or tags.KEY")
        return value

    @field_validator("thresholds", "forecast")
    @classmethod
    def _percent(cls, value: list[int]) -> list[int]:
        if any(p <= 0 or p > 1000 for p in value):
            raise ValueError("thresholds are percents of the amount, between 1 and 1000")
        return sorted(set(value))

    @model_validator(mode="after")
    def _custom(self) -> BudgetSettings:
        if self.period == "custom" and (self.start is None or self.end is None or self.start >= self.end):
            raise ValueError("a custom period needs start and end dates, start before end (end is exclusive)")
        if self.period != "custom" and (self.start or self.end):
            raise ValueError("start and end are for period = \"custom\" only")
        return self


class AlertChannel(_Strict):
    """``[[alerts.channels]]``: where alerts go. Every URL, key and password is a secret reference."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(min_length=1)
    type: Literal["slack", "teams", "webhook", "email"]
    url: SecretRef | None = None  # slack, teams, webhook: a webhook URL carries its own credential
    signing_key: SecretRef | None = None  # webhook: HMAC-SHA256 key for X-Aispend-Signature
    smtp_host: str | None = None
    smtp_port: int = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretRef | None = None
    ca_file: str | None = None  # a private CA to verify the SMTP server with (default: the system's)
    sender: str | None = Field(default=None, alias="from")
    to: list[str] = Field(default_factory=list)
    timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("url", "signing_key", "password", mode="before")
    @classmethod
    def _no_literal(cls, value: Any) -> Any:
        return _refuse_literal(value, "secret (webhook URL, key or password)")

    @model_validator(mode="after")
    def _complete(self) -> AlertChannel:
        if self.type == "email":
            missing = [k for k, v in (("smtp_host", self.smtp_host), ("from", self.sender)) if not v]
            if missing:
                raise ValueError(f"email channel {self.name} needs {', '.join(missing)}")
        elif self.url is None:
            raise ValueError(f'{self.type} channel {self.name} needs url = {{ env = "NAME" }}')
        return self


class AlertRule(_Strict):
    """``[[alerts.rules]]``: what to watch and whom to tell."""

    name: str | None = None
    what: Literal["budgets", "anomalies", "data_quality"]
    channels: list[str] = Field(min_length=1)
    owners: list[str] = Field(default_factory=list)
    budgets: list[str] = Field(default_factory=list)  # budgets: these only (default all)
    kinds: list[str] = Field(default_factory=list)  # anomalies: kinds; data_quality: doctor checks
    min_severity: str | None = None  # anomalies: info|warning|critical (warning); data_quality: warning|error (error)
    max_age_days: int = Field(default=7, ge=1)  # anomalies starting longer ago are not announced

    @model_validator(mode="after")
    def _severity(self) -> AlertRule:
        levels = {"anomalies": ("info", "warning", "critical"), "data_quality": ("warning", "error")}.get(self.what)
        if self.min_severity is not None and (levels is None or self.min_severity not in levels):
            raise ValueError(f"min_severity {self.min_severity!r}: for {self.what} choose "
                             f"{', '.join(levels) if levels else 'nothing (budgets use thresholds)'}")
        return self


class AlertsSettings(_Strict):
    """``[alerts]``: channels, rules and delivery (docs/budgets-alerts.md)."""

    dashboard_url: str | None = None  # links in messages: {dashboard_url}/explorer?owner=search
    channels: list[AlertChannel] = Field(default_factory=list)
    rules: list[AlertRule] = Field(default_factory=list)
    max_attempts: int = Field(default=8, ge=1)  # delivery tries across runs before a delivery is marked failed
    retry_seconds: int = Field(default=60, ge=1)  # wait after a failed run; doubles each time, at most 6 hours
    top_contributors: int = Field(default=3, ge=1, le=20)

    @model_validator(mode="after")
    def _references(self) -> AlertsSettings:
        names = [c.name for c in self.channels]
        if dup := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"channel names must be unique: {', '.join(dup)}")
        for i, rule in enumerate(self.rules, 1):
            rule.name = rule.name or f"rule {i}"
            if unknown := [c for c in rule.channels if c not in names]:
                raise ValueError(f"rule {rule.name}: unknown channel(s) {', '.join(unknown)}")
        return self


class ScheduleSettings(_Strict):
    """``[schedule]``: ``aispend serve``'s jobs: "every 6h" (s, m, h, d), a 5-field cron line, or "off"."""

    sync: str = "every 6h"  # runs only when [sources] are configured
    alerts: str = "every 1h"  # runs only when alert rules or budget channels are configured
    timezone: str = "UTC"  # of cron lines

    @model_validator(mode="after")
    def _specs(self) -> ScheduleSettings:
        from .schedule import parse_trigger  # local: the scheduler builds on this module

        for value in (self.sync, self.alerts):
            try:
                parse_trigger(value, self.timezone)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return self


# -- [allocation]: billed cost split over per-request events (aispend/attribution/allocate.py) ----


class SharedCost(_Strict):
    """``[[allocation.shared]]``: a cost with no usage key (a subscription, a seat plan) split over
    the values of ``to``: evenly, by fixed percentages, or by each value's share of other spend."""

    name: str | None = None
    match: dict[str, str | list[str]] = Field(min_length=1)
    to: Literal["owner", "feature", "customer", "environment", "experiment", "project"]
    split: Literal["even", "fixed", "by_cost"]
    shares: dict[str, Decimal] = Field(default_factory=dict)  # fixed: value -> percent, adding up to 100
    among: dict[str, str | list[str]] = Field(default_factory=dict)  # even/by_cost: whose values count

    @field_validator("match", "among")
    @classmethod
    def _conditions(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        return Rule._match(value) if value else value

    @model_validator(mode="after")
    def _shares(self) -> SharedCost:
        if self.split == "fixed":
            if not self.shares or sum(self.shares.values()) != 100 or any(v <= 0 for v in self.shares.values()):
                raise ValueError("split = \"fixed\" needs shares = { VALUE = PERCENT, ... } of positive percents adding up to 100")
        elif self.shares:
            raise ValueError(f"shares are for split = \"fixed\", not {self.split!r}")
        return self


class AllocationSettings(_Strict):
    """``[allocation]``: see docs/attribution.md#allocation."""

    enabled: bool = False  # split billed usage per (day, provider, model) over its per-request events
    weight: Literal["estimated_cost", "tokens", "requests"] = "estimated_cost"
    shared: list[SharedCost] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names(self) -> AllocationSettings:
        for i, rule in enumerate(self.shared, 1):
            rule.name = rule.name or f"shared {i}"
        return self

    @property
    def active(self) -> bool:
        return self.enabled or bool(self.shared)


class Settings(_Strict):
    store: StoreConfig = Field(default_factory=StoreConfig)
    anomalies: AnomalySettings = Field(default_factory=AnomalySettings)
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    pricing: PricingConfig = Field(default_factory=PricingConfig)
    csv_mappings: dict[str, CsvMapping] = Field(default_factory=dict)
    attribution: AttributionSettings = Field(default_factory=AttributionSettings)
    allocation: AllocationSettings = Field(default_factory=AllocationSettings)
    events: EventsSettings = Field(default_factory=EventsSettings)
    optimize: OptimizeSettings = Field(default_factory=OptimizeSettings)
    doctor: DoctorSettings = Field(default_factory=DoctorSettings)
    revenue: RevenueSettings = Field(default_factory=RevenueSettings)
    budgets: list[BudgetSettings] = Field(default_factory=list)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    path: Path | None = Field(default=None, exclude=True)


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("AISPEND_CONFIG") or DEFAULT_CONFIG_FILE)


def load_settings(explicit: str | os.PathLike[str] | None = None) -> Settings:
    path = config_path(explicit)
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    elif explicit or os.environ.get("AISPEND_CONFIG"):
        raise ConfigError(f"config file {path} does not exist (given by {'--config' if explicit else '$AISPEND_CONFIG'})")
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe_validation(path, exc)) from None
    settings.path = path if path.exists() else None
    for lookup in settings.attribution.lookups:  # relative to the file that names them
        if not lookup.file.is_absolute():
            lookup.file = path.resolve().parent / lookup.file
    from .ingest.presets import preset_mappings  # local: presets build on this module

    settings.csv_mappings = {**preset_mappings(), **settings.csv_mappings}  # a user mapping wins
    if settings.sources:
        from .connectors import validate_sources  # local: connectors build on this module

        settings.sources = validate_sources(settings.sources, path)
    if url := os.environ.get("AISPEND_STORE_URL"):
        settings.store.url = url
    return settings


def _describe_validation(path: Path, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        # Never echo the input: it may be a literal secret someone pasted.
        problems.append(f"{where}: {err['msg']}")
    return f"{path}: " + "; ".join(problems)
