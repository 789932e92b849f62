"""Native vendor formats: one module per vendor file family, each exposing ``FORMAT``.

A format is a small declaration plus pure hooks (the dlt/meltano shape): ``matches`` looks at a
:class:`Probe` (the file's container, header or top-level keys, first bytes); ``tables`` may parse
a file DuckDB cannot read by itself (PDF, e-mail) into raw Arrow tables; ``normalize_sql`` returns
one SELECT yielding every ledger column plus ``_error`` (see ``ingest/sqlparts.py``). The runner
owns streaming, validation, row ids, pricing, the transaction and replacement.

Modules in this package are discovered at run time; adding a format touches one new file.
"""

from __future__ import annotations

import abc
import importlib
import pkgutil
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa


@dataclass(frozen=True)
class Probe:
    """What detection knows about a file before reading it in full."""

    path: Path
    container: str  # csv | parquet | json | pdf | eml | other
    headers: tuple[str, ...] = ()  # CSV/Parquet column names (BOM stripped); JSON: top-level keys
    head: bytes = b""  # the first bytes, for sniffing
    json_sample: Any = field(default=None, compare=False)  # the parsed document, for small JSON files


@dataclass(frozen=True)
class Context:
    """Lineage values every normalizer stamps on its rows."""

    source: str
    batch_id: str
    ingested_at: str  # 'YYYY-MM-DD HH:MM:SS.ffffff', UTC


class NativeFormat(abc.ABC):
    name: str  # the --format value, e.g. "aws-cur"
    priority: int = 100  # lower is tried first when detecting
    # Ledger column(s) whose values a newer import of the same source restates: rows of earlier
    # imports with a value the new import also has are replaced (CUR: billing_period; receipts:
    # invoice_id; API pages: period_start). None: only the same file (content or path) is replaced.
    restates_by: str | tuple[str, ...] | None = None
    header_lines: int = 1  # lines before the first record, for line numbers in errors

    def header_lines_for(self, probe: Probe) -> int:
        """Lines before the first record of this file: a CSV has a header, JSON lines have none."""
        return 0 if probe.container in ("json", "parquet") else self.header_lines

    @abc.abstractmethod
    def matches(self, probe: Probe) -> bool: ...

    def tables(self, probe: Probe) -> dict[str, pa.Table]:
        """Raw tables to register in the staging database under these names (default none)."""
        return {}

    @abc.abstractmethod
    def normalize_sql(self, probe: Probe, ctx: Context) -> str: ...


@cache
def native_formats() -> tuple[NativeFormat, ...]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        fmt = getattr(module, "FORMAT", None)
        if isinstance(fmt, NativeFormat):
            found.append(fmt)
    return tuple(sorted(found, key=lambda f: (f.priority, f.name)))


def by_name(name: str) -> NativeFormat | None:
    return next((f for f in native_formats() if f.name == name), None)
