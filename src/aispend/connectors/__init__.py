"""Read-only API connectors: one module per vendor exposing ``CONNECTOR``; the contract is in
``base.py``, the shared HTTP client in ``http.py``, and the engine that runs them in ``aispend.sync``.

Modules here are discovered at run time: a new vendor is one new file (and it joins the
conformance tests automatically).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

from pydantic import ValidationError

from ..config import SourceConfig, _describe_validation
from ..errors import ConfigError
from .base import Connector, Endpoint, Page

__all__ = ["Connector", "Endpoint", "Page", "connector_types", "make_connector", "validate_sources"]
_NOT_CONNECTORS = {"base", "http"}


@cache
def connector_types() -> dict[str, type[Connector]]:
    found: dict[str, type[Connector]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name in _NOT_CONNECTORS:
            continue
        cls = getattr(importlib.import_module(f"{__name__}.{info.name}"), "CONNECTOR", None)
        if isinstance(cls, type) and issubclass(cls, Connector):
            found[cls.type] = cls
    return found


def validate_sources(sources: dict[str, SourceConfig], path: Path) -> dict[str, SourceConfig]:
    """Each ``[sources.NAME]`` checked by its connector's settings model (typos named, no values shown)."""
    known = connector_types()
    out: dict[str, SourceConfig] = {}
    for name, cfg in sources.items():
        if not name or ":" in name or name != name.strip():
            raise ConfigError(f"{path}: sources.{name}: a source name is a word without ':' (':usage' is reserved)")
        cls = known.get(cfg.type)
        if cls is None:
            raise ConfigError(f"{path}: sources.{name}.type: unknown source type {cfg.type!r}; "
                              f"known: {', '.join(sorted(known))}")
        try:
            out[name] = cls.settings_model.model_validate(cfg.model_dump(exclude_unset=True))
        except ValidationError as exc:
            message = _describe_validation(path, exc).replace(f"{path}: ", f"{path}: sources.{name}.", 1)
            raise ConfigError(message.replace("; ", f"; sources.{name}.")) from None
    return out


def make_connector(name: str, cfg: SourceConfig, **kw: object) -> Connector:
    cls = connector_types().get(cfg.type)
    if cls is None:
        raise ConfigError(f"sources.{name}: unknown source type {cfg.type!r}")
    return cls(name, cfg, **kw)  # type: ignore[arg-type]
