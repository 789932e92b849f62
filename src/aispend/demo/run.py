"""Write the demo's vendor files and load them through the real import path.

The VectorBase CSV needs a csv mapping. The demo writes ``aispend.toml`` into its work directory
holding ``[csv_mappings.vectorbase]`` (so a user can read it, copy it, or ``cd`` there and run
``aispend import`` by hand), loads that file with :func:`aispend.config.load_settings`, and merges
its mapping into a *copy* of the caller's settings: the caller's store, pricing and other mappings
are kept, and nothing the caller holds is changed.

Re-running is idempotent. Each file is imported under a fixed source (``demo-<vendor>``) and a
fixed path, so the runner replaces what the same content or the same path loaded before. Demo
imports left over from an earlier run that this run did not reload (another work directory, a
window that has moved on) are retired at the end, in one transaction, so the ledger holds exactly
one demo: this one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ..config import Settings, load_settings
from ..derived import settle
from ..errors import ConfigError
from ..ingest import ImportResult, import_file
from ..ingest.batches import retire_batch
from ..pricing import Pricer
from ..revenue.csv import import_revenue_csv
from ..store import Store
from . import generate as gen

CONFIG_FILE = "aispend.toml"
SOURCES = tuple(f"demo-{v.key}" for v in gen.VENDORS) + (f"demo-{gen.MAPPING_NAME}",)


@dataclass
class DemoResult:
    files: list[Path]
    rows: int
    start: date  # first day, inclusive
    end: date  # last day, inclusive (today)
    runaway_day: date | None = None  # the day kb-answers' prompt ran away (10x input tokens per request)
    migration_day: date | None = None  # the day support-chat moved from gpt-4o to gpt-4.1-mini
    rows_by_source: dict[str, int] = field(default_factory=dict)
    retired_rows: int = 0  # rows of earlier demo runs removed because this run did not reload them
    revenue: int = 0  # revenue rows (customer x month) loaded for margins
    revenue_file: Path | None = None


def run_demo(
    store: Store,
    settings: Settings,
    workdir: Path,
    today: date,
    seed: int = 7,
    months: int = 4,
    on_file: Callable[[Path, ImportResult], None] | None = None,
) -> DemoResult:
    """Generate ``months`` months of a fictional company's AI bill up to ``today`` and load it."""
    plan = gen.build_plan(today, seed=seed, months=months)
    workdir = Path(workdir).expanduser().resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    demo_settings = _demo_settings(settings, _write_config(workdir))

    pricer = Pricer.for_store(store, demo_settings)
    result = DemoResult([], 0, plan.start, plan.end, plan.runaway_day, plan.migration_day)
    batches: list[str] = []
    try:
        for f in plan.files:
            path = workdir / f.name
            if not path.exists() or path.read_text() != f.text:
                path.write_text(f.text)
            imported = import_file(store, demo_settings, path, fmt=f.format, mapping=f.mapping, source=f.source,
                                   pricer=pricer)
            batches.append(imported.batch_id)
            result.files.append(path)
            result.rows += imported.rows_loaded
            result.rows_by_source[f.source] = result.rows_by_source.get(f.source, 0) + imported.rows_loaded
            if on_file:
                on_file(path, imported)
    finally:
        pricer.close()
    result.retired_rows = _retire_other_demo_batches(store, settings, batches)
    revenue = workdir / "revenue.csv"  # so `aispend report margin` has something to say
    revenue.write_text(plan.revenue)
    result.revenue = import_revenue_csv(store, revenue, source="demo").rows_loaded
    result.revenue_file = revenue
    return result


def _write_config(workdir: Path) -> Path:
    path = workdir / CONFIG_FILE
    text = gen.config_toml()
    if path.exists():
        current = path.read_text()
        if not current.startswith(gen.CONFIG_MARKER):
            raise ConfigError(
                f"{path} exists and was not written by `aispend demo`; the demo writes its own aispend.toml "
                "into its work directory, so give it an empty or demo-only directory"
            )
        if current == text:
            return path
    path.write_text(text)
    return path


def _demo_settings(settings: Settings, config: Path) -> Settings:
    demo = load_settings(config)
    merged = settings.model_copy(deep=True)
    merged.csv_mappings = {**settings.csv_mappings, **demo.csv_mappings}
    return merged


def _retire_other_demo_batches(store: Store, settings: Settings, keep: list[str]) -> int:
    """Delete the rows of live demo imports that this run did not load; return how many."""
    if not keep:
        return 0
    marks = ", ".join("?" for _ in SOURCES)
    retired = 0
    with store.transaction() as tx:
        stale = tx.execute(
            f"SELECT batch_id FROM imports WHERE replaced_by IS NULL AND source IN ({marks})", list(SOURCES)
        )
        for (batch_id,) in stale:
            if batch_id in keep:
                continue
            # Point at this run's last import: the batch that superseded it.
            retired += retire_batch(tx, batch_id, replaced_by=keep[-1])
        settle(tx, store, settings)
    return retired
