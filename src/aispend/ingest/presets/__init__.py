"""Built-in CSV mappings for vendors whose export has no native format: one TOML file per vendor.

Each file holds one ``[csv_mappings.NAME]`` table's body (``columns``, ``constants``, ``detect``,
``period``, ...) and is named ``NAME.toml``. Settings merge them under the user's own mappings
(``{**preset_mappings(), **settings.csv_mappings}``: a mapping in aispend.toml with the same name
wins), so ``aispend import`` detects these exports by their header like any declared mapping.
Columns that no vendor document confirms are marked UNCONFIRMED in the file's comments.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

from pydantic import ValidationError

from ...config import CsvMapping
from ...errors import ConfigError

__all__ = ["preset_mappings"]


@cache
def _load() -> tuple[tuple[str, CsvMapping], ...]:
    found = []
    for entry in sorted(resources.files(__package__).iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        name = entry.name.removesuffix(".toml")
        try:
            found.append((name, CsvMapping.model_validate(tomllib.loads(entry.read_text(encoding="utf-8")))))
        except (tomllib.TOMLDecodeError, ValidationError) as exc:
            raise ConfigError(f"built-in csv mapping preset {name!r} is invalid: {exc}") from None
    return tuple(found)


def preset_mappings() -> dict[str, CsvMapping]:
    """Every built-in preset by name (fresh copies: callers may change them)."""
    return {name: mapping.model_copy(deep=True) for name, mapping in _load()}
