"""Every exception aispend raises on purpose.

    AispendError                      one line for the user: what failed, where, what to do
    ├── ConfigError                   aispend.toml or the environment is wrong or incomplete
    │   └── SecretError               a secret reference cannot be resolved (the value never shown)
    ├── StoreError                    the ledger store cannot be opened, migrated or written
    ├── ImportError_                  a file cannot be imported
    │   ├── FormatDetectionError      no known format matches the file's header
    │   └── ValidationError           rows failed validation; carries each RowError
    ├── PricingError                  the price book or an override is unusable
    ├── SyncError                     an API source cannot be pulled (status, URL, next step; secrets redacted)
    └── ExportError                   an export cannot be written or failed its validation

The CLI prints ``str(error)`` and exits non-zero; tracebacks only with ``--debug``.
"""

from __future__ import annotations

from dataclasses import dataclass


class AispendError(Exception):
    """Base of every error aispend raises deliberately."""


class ConfigError(AispendError):
    pass


class SecretError(ConfigError):
    pass


class StoreError(AispendError):
    pass


class ImportError_(AispendError):
    pass


class FormatDetectionError(ImportError_):
    pass


@dataclass(frozen=True)
class RowError:
    """One rejected input row."""

    file: str
    line: int
    column: str | None
    reason: str
    value: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        col = f" column {self.column}" if self.column else ""
        val = f" (value {self.value!r})" if self.value is not None else ""
        return f"{where}{col}: {self.reason}{val}"


class ValidationError(ImportError_):
    """Rows failed validation; nothing was loaded (unless the caller asked to skip them)."""

    shown = 5

    def __init__(self, path: str, errors: list[RowError], total: int):
        self.path = path
        self.errors = errors
        self.total = total
        lines = "\n".join(f"  {e}" for e in errors[: self.shown])
        more = f"\n  ... and {total - self.shown} more" if total > self.shown else ""
        super().__init__(
            f"{path}: {total} invalid row(s); nothing was imported.\n{lines}{more}\n"
            "Fix the rows, or re-run with --skip-invalid to load the valid rows and keep the rejects "
            "(list them with `aispend rejects`)."
        )


class PricingError(AispendError):
    pass


class SyncError(AispendError):
    """A source's API could not be pulled or its pages could not be loaded."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class ExportError(AispendError):
    pass
