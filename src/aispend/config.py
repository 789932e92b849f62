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
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from .errors import ConfigError, SecretError
from .schema import COLUMN_NAMES

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
            raise ValueError('a literal key is not allowed in aispend.toml (the value is not shown); '
                             'write api_key = { env = "NAME" } or { file = "/path" }')
        return value


class Settings(_Strict):
    store: StoreConfig = Field(default_factory=StoreConfig)
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    pricing: PricingConfig = Field(default_factory=PricingConfig)
    csv_mappings: dict[str, CsvMapping] = Field(default_factory=dict)
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
