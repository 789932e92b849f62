"""Which parser reads a file: from ``--format`` or from the file's header."""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from . import csvmap, focus
from ..config import CsvMapping, Settings
from ..errors import FormatDetectionError, ImportError_
from .sqlparts import lit

FORMATS = ("focus", "csv")


@dataclass(frozen=True)
class FileFormat:
    kind: str  # focus | csv
    container: str  # csv | parquet
    headers: list[str]
    mapping_name: str | None = None
    mapping: CsvMapping | None = None

    @property
    def label(self) -> str:
        return f"csv:{self.mapping_name}" if self.mapping_name else self.kind

    def from_sql(self, path: Path) -> str:
        if self.container == "parquet":
            return f"read_parquet({lit(str(path))})"
        delim = self.mapping.delimiter if self.mapping else ","
        columns = ", ".join(f"{lit(h)}: 'VARCHAR'" for h in self.headers)
        return (
            f"read_csv({lit(str(path))}, header = true, auto_detect = false, columns = {{{columns}}}, "
            f"delim = {lit(delim)}, quote = '\"', escape = '\"', strict_mode = true)"
        )


def _container(path: Path) -> str:
    with path.open("rb") as fh:
        if fh.read(4) == b"PAR1":
            return "parquet"
    return "csv"


def read_headers(path: Path, delimiter: str = ",") -> list[str]:
    if _container(path) == "parquet":
        return list(pq.read_schema(path).names)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as raw:  # type: ignore[operator]
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            return next(csv.reader(text, delimiter=delimiter), [])
    except (UnicodeDecodeError, OSError, csv.Error) as exc:
        raise ImportError_(f"{path}: cannot read the header line: {exc}") from None


def detect(path: Path, settings: Settings, fmt: str | None = None, mapping: str | None = None) -> FileFormat:
    container = _container(path)
    if fmt and ":" in fmt:
        fmt, mapping = fmt.split(":", 1)
    if fmt not in (None, *FORMATS):
        raise FormatDetectionError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if mapping and mapping not in settings.csv_mappings:
        known = ", ".join(sorted(settings.csv_mappings)) or "none are configured"
        raise FormatDetectionError(f"no csv mapping named {mapping!r} in aispend.toml [csv_mappings] ({known})")
    if mapping:
        fmt = "csv"
    delimiter = settings.csv_mappings[mapping].delimiter if mapping else ","
    headers = read_headers(path, delimiter)
    if not headers:
        raise ImportError_(f"{path}: the file is empty (no header line)")

    if fmt in (None, "focus") and focus.matches(headers):
        return FileFormat("focus", container, headers)
    if fmt == "focus":
        missing = [h for h in focus.SIGNATURE if h not in headers]
        raise FormatDetectionError(f"{path}: not a FOCUS file: missing column(s) {', '.join(missing) or 'ProviderName'}")

    candidates = {mapping: settings.csv_mappings[mapping]} if mapping else settings.csv_mappings
    hits = [name for name, m in candidates.items() if csvmap.matches(headers, m)]
    if mapping:  # named explicitly: use it, and let the normalizer name any missing column
        return FileFormat("csv", container, headers, mapping, settings.csv_mappings[mapping])
    if len(hits) == 1:
        return FileFormat("csv", container, headers, hits[0], settings.csv_mappings[hits[0]])
    if len(hits) > 1:
        raise FormatDetectionError(f"{path}: several csv mappings match ({', '.join(hits)}); pick one with --mapping NAME")
    raise FormatDetectionError(
        f"{path}: no known format matches its header ({', '.join(headers[:8])}{', ...' if len(headers) > 8 else ''}). "
        "FOCUS files need BilledCost, ChargePeriodStart, ChargePeriodEnd, BillingCurrency and ProviderName; "
        "for any other CSV declare a [csv_mappings.NAME] table in aispend.toml (see README, 'CSV mappings')."
    )
