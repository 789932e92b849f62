"""Attribution lookups: CSV tables of metadata, applied like rules (after the explicit rules).

```toml
[[attribution.lookups]]
file = "keys.csv"          # api_key_id,owner,feature      (relative to aispend.toml)
on = "api_key_id"          # key_1,search,answers

[[attribution.lookups]]
file = "customers.csv"     # customer,tags.customer_name,tags.plan
on = "customer"            # cus_123,Acme Logistics,enterprise
```

The ``on`` column is matched exactly against the rows' source value of that column; every other
column sets a field (owner, feature, customer, environment, experiment, project, tags.KEY). An
empty cell sets nothing. A table of any size compiles to one SQL map lookup per field.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..sqltext import lit

if TYPE_CHECKING:
    from ..config import Lookup

SETTABLE = ("owner", "feature", "customer", "environment", "experiment", "project")


@dataclass(frozen=True)
class Table:
    name: str
    on: str
    columns: dict[str, dict[str, str]]  # field -> {key: value}


def _settable(column: str) -> bool:
    return column in SETTABLE or (column.startswith("tags.") and len(column) > 5)


@cache
def _read(path: Path, mtime: float, on: str, name: str) -> Table:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if not header or header[0].strip() != on:
                raise ConfigError(f"{path}:1: the first column must be {on!r} (the lookup's `on`), then the "
                                  f"fields it sets")
            fields = [h.strip() for h in header[1:]]
            if bad := [f for f in fields if not _settable(f)]:
                raise ConfigError(f"{path}:1: cannot set {', '.join(bad)}: a lookup sets "
                                  f"{', '.join(SETTABLE)} or tags.KEY")
            columns: dict[str, dict[str, str]] = {f: {} for f in fields}
            seen: set[str] = set()
            for line, row in enumerate(reader, 2):
                if not row or not any(c.strip() for c in row):
                    continue
                if len(row) != len(header):
                    raise ConfigError(f"{path}:{line}: {len(row)} cells, the header has {len(header)}")
                key = row[0].strip()
                if key in seen:
                    raise ConfigError(f"{path}:{line}: {on} {key!r} appears twice")
                seen.add(key)
                for f, value in zip(fields, row[1:], strict=True):
                    if value.strip():
                        columns[f][key] = value.strip()
    except OSError as exc:
        raise ConfigError(f"cannot read lookup {path}: {exc.strerror}") from None
    return Table(name, on, columns)


def load(lookup: Lookup) -> Table:
    """The lookup's table, read once per version of the file."""
    path = Path(lookup.file)
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise ConfigError(f"cannot read lookup {path}: {exc.strerror}") from None
    return _read(path, mtime, lookup.on, lookup.name or path.name)


def lookup_fields(lookups: list[Lookup]) -> list[str]:
    return [f for lookup in lookups for f in load(lookup).columns]


def value_sql(table: Table, field: str, key_sql: str) -> str | None:
    """The field's value for the row's key (NULL when the table has none), or None if not set."""
    mapping = table.columns.get(field)
    if not mapping:
        return None
    keys = ", ".join(lit(k) for k in mapping)
    values = ", ".join(lit(v) for v in mapping.values())
    return f"map_extract(MAP([{keys}], [{values}]), {key_sql})[1]"
