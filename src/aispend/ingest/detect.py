"""Which parser reads a file: from ``--format`` or from the file's container and header."""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from ..config import CsvMapping, Settings
from ..errors import FormatDetectionError, ImportError_
from . import csvmap, focus
from .native import NativeFormat, Probe, by_name, native_formats
from .sqlparts import file_sql

BASE_FORMATS = ("focus", "csv")
_JSON_SAMPLE_LIMIT = 64 * 2**20  # parse JSON up to this size for detection


def formats() -> tuple[str, ...]:
    return BASE_FORMATS + tuple(f.name for f in native_formats())


@dataclass(frozen=True)
class FileFormat:
    kind: str  # focus | csv | a native format's name
    probe: Probe
    mapping_name: str | None = None
    mapping: CsvMapping | None = None
    native: NativeFormat | None = None

    @property
    def label(self) -> str:
        return f"csv:{self.mapping_name}" if self.mapping_name else self.kind

    @property
    def headers(self) -> list[str]:
        return list(self.probe.headers)

    def from_sql(self, path: Path) -> str:
        delim = self.mapping.delimiter if self.mapping else ","
        return file_sql(str(path), self.probe.container, self.probe.headers, delim)


def _open_text(path: Path) -> io.TextIOWrapper:
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")  # noqa: SIM115 - the caller closes it
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def probe_file(path: Path, delimiter: str = ",") -> Probe:
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"PAR1"):
        return Probe(path, "parquet", tuple(pq.read_schema(path).names), head)
    if head.startswith(b"%PDF"):
        return Probe(path, "pdf", (), head)
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as gz:
            head = gz.read(4096)
    text_head = head.decode("utf-8-sig", errors="replace").lstrip()
    if text_head[:1] in ("{", "["):
        return _json_probe(path, head)
    if path.suffix.lower() == ".eml" or any(text_head.startswith(h) for h in ("Received:", "Return-Path:", "MIME-Version:", "Delivered-To:")):
        return Probe(path, "eml", (), head)
    try:
        with _open_text(path) as text:
            headers = next(csv.reader(text, delimiter=delimiter), [])
    except (UnicodeDecodeError, OSError, csv.Error) as exc:
        raise ImportError_(f"{path}: cannot read the header line: {exc}") from None
    return Probe(path, "csv", tuple(headers), head)


def read_headers(path: Path, delimiter: str = ",") -> list[str]:
    """A CSV's (plain or gzip) or Parquet file's column names."""
    return list(probe_file(path, delimiter).headers)


def _json_probe(path: Path, head: bytes) -> Probe:
    sample = None
    if path.stat().st_size <= _JSON_SAMPLE_LIMIT:
        try:
            with _open_text(path) as text:
                body = text.read()
            try:
                sample = json.loads(body)
            except json.JSONDecodeError:  # JSON lines
                sample = [json.loads(line) for line in body.splitlines() if line.strip()]
        except (ValueError, OSError) as exc:
            raise ImportError_(f"{path}: looks like JSON but does not parse: {exc}") from None
    first = sample[0] if isinstance(sample, list) and sample else sample
    keys = tuple(first) if isinstance(first, dict) else ()
    return Probe(path, "json", keys, head, sample)


def detect(path: Path, settings: Settings, fmt: str | None = None, mapping: str | None = None) -> FileFormat:
    if fmt and ":" in fmt:
        fmt, mapping = fmt.split(":", 1)
    known = formats()
    if fmt not in (None, *known):
        raise FormatDetectionError(f"unknown --format {fmt!r}; choose one of {', '.join(known)}")
    if mapping and mapping not in settings.csv_mappings:
        names = ", ".join(sorted(settings.csv_mappings)) or "none are configured"
        raise FormatDetectionError(f"no csv mapping named {mapping!r} in aispend.toml [csv_mappings] ({names})")
    if mapping:
        fmt = "csv"
    probe = probe_file(path, settings.csv_mappings[mapping].delimiter if mapping else ",")
    if probe.container in ("csv", "parquet") and not probe.headers:
        raise ImportError_(f"{path}: the file is empty (no header line)")

    if fmt not in (None, "focus", "csv"):
        native = by_name(fmt)
        assert native is not None
        if not native.matches(probe):
            raise FormatDetectionError(f"{path}: does not look like a {fmt} file (header: {_show(probe)})")
        return FileFormat(fmt, probe, native=native)

    if fmt in (None, "focus") and focus.matches(list(probe.headers)):
        return FileFormat("focus", probe)
    if fmt == "focus":
        missing = [h for h in focus.SIGNATURE if h not in probe.headers]
        raise FormatDetectionError(f"{path}: not a FOCUS file: missing column(s) {', '.join(missing) or 'ProviderName'}")

    if mapping:  # named explicitly: use it, and let the normalizer name any missing column
        return FileFormat("csv", probe, mapping, settings.csv_mappings[mapping])
    if fmt is None:
        for native in native_formats():
            if native.matches(probe):
                return FileFormat(native.name, probe, native=native)
    hits = [name for name, m in settings.csv_mappings.items() if csvmap.matches(list(probe.headers), m)]
    if len(hits) == 1:
        return FileFormat("csv", probe, hits[0], settings.csv_mappings[hits[0]])
    if len(hits) > 1:
        raise FormatDetectionError(f"{path}: several csv mappings match ({', '.join(hits)}); pick one with --mapping NAME")
    raise FormatDetectionError(
        f"{path}: no known format matches its header ({_show(probe)}). Known formats: {', '.join(known)}. "
        "FOCUS files need BilledCost, ChargePeriodStart, ChargePeriodEnd, BillingCurrency and ProviderName; "
        "for any other CSV declare a [csv_mappings.NAME] table in aispend.toml (see README, 'CSV mappings')."
    )


def _show(probe: Probe) -> str:
    if not probe.headers:
        return f"a {probe.container} file"
    cols = list(probe.headers)
    return ", ".join(cols[:8]) + (", ..." if len(cols) > 8 else "")
