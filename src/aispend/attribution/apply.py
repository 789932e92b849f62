"""Applying attribution rules to ledger rows, and explaining the result of one row.

One UPDATE per call, inside the caller's transaction: the rows of a fresh import or sync
(``batch_ids``), or the whole ledger (``aispend attribute``, after a rule changed). Every field a
rule set before is recomputed from the source values, so a removed or edited rule leaves nothing
behind, and re-running is idempotent. ``attributed_by`` records which rule set which field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..errors import AispendError
from ..sqltext import lit
from .lookups import load
from .rules import SETTABLE, TAG, AttributionSettings, chosen, condition, current, provenance, source_value

if TYPE_CHECKING:  # config imports this package's rules: no import cycle at run time
    from ..config import Settings
    from ..store import Store, Transaction

UNATTRIBUTED = "(unattributed)"


def _scope(batch_ids: Sequence[str] | None) -> tuple[str, list[Any]]:
    if batch_ids is None:
        return "true", []
    if not batch_ids:
        return "false", []
    return f"batch_id IN ({', '.join('?' for _ in batch_ids)})", list(batch_ids)


def _fields(tx: Transaction, rules: AttributionSettings, where: str, params: list[Any]) -> list[str]:
    """Fields to recompute: those rules set now, and those rules set before (to reset them)."""
    before = tx.execute(f"SELECT DISTINCT unnest(json_keys(attributed_by)) FROM ledger "
                        f"WHERE attributed_by IS NOT NULL AND {where}", params)
    return list(dict.fromkeys([*rules.fields(), *(k for (k,) in before)]))


def apply_rules(tx: Transaction, settings: Settings, batch_ids: Sequence[str] | None = None) -> int:
    """Attribute the rows of ``batch_ids`` (None: every row); returns the rows updated."""
    rules = settings.attribution
    where, params = _scope(batch_ids)
    fields = _fields(tx, rules, where, params)
    if not fields:
        return 0
    sets, tag_pairs, who_pairs = [], [], []
    tables = [load(lookup) for lookup in rules.lookups]
    for f in fields:
        value, rule = chosen(rules.rules, f, tables)
        who_pairs += [lit(f), rule]
        if f.startswith(TAG):
            tag_pairs += [lit(f[len(TAG):]), value]
        elif f in SETTABLE:
            sets.append(f"{f} = {value}")
    if tag_pairs:
        merged = f"json_merge_patch(coalesce(tags, '{{}}'), json_object({', '.join(tag_pairs)}))"
        sets.append(f"tags = CAST(nullif(CAST({merged} AS VARCHAR), '{{}}') AS JSON)")
    who = f"json_merge_patch('{{}}', json_object({', '.join(who_pairs)}))"
    sets.append(f"attributed_by = CAST(nullif(CAST({who} AS VARCHAR), '{{}}') AS JSON)")
    rows = tx.execute(f"UPDATE ledger SET {', '.join(sets)} WHERE {where}", params)
    return int(rows[0][0]) if rows and rows[0] else 0


def attribute(store: Store, settings: Settings) -> int:
    """Re-attribute the whole ledger with the current rules, atomically."""
    from ..derived import settle_all  # local: derived data builds on attribution

    with store.transaction(bulk=True) as tx:
        rows = apply_rules(tx, settings)
        settle_all(tx, store, settings)
        return rows


# -- reporting ----------------------------------------------------------------------------------


@dataclass
class Coverage:
    field: str
    from_source: int
    by_rules: int
    unattributed: int
    unattributed_usd: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "from_source": self.from_source, "by_rules": self.by_rules,
                "unattributed": self.unattributed, "unattributed_usd": self.unattributed_usd}


def coverage(store: Store, settings: Settings) -> list[Coverage]:
    """Per attribution field: rows valued by their source, by a rule, or by nothing (and its cost)."""
    fields = list(dict.fromkeys([*SETTABLE, *settings.attribution.fields()]))
    parts = []
    for f in fields:
        parts += [f"count(*) FILTER (WHERE {current(f)} IS NOT NULL AND {provenance(f)} IS NULL)",
                  f"count(*) FILTER (WHERE {provenance(f)} IS NOT NULL)",
                  f"count(*) FILTER (WHERE {current(f)} IS NULL)",
                  f"coalesce(sum(cost_usd) FILTER (WHERE {current(f)} IS NULL), 0)"]
    row = store.query(f"SELECT {', '.join(parts)} FROM ledger")[0]
    return [Coverage(f, *row[i * 4:i * 4 + 4]) for i, f in enumerate(fields)]


@dataclass
class Explanation:
    row_id: str
    summary: dict[str, Any]
    fields: list[dict[str, Any]] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)


def explain(store: Store, settings: Settings, row_id: str) -> Explanation:
    """Which rule set each attribution field of one row, and every rule whose conditions it meets."""
    rules = settings.attribution.rules
    fields = list(dict.fromkeys([*SETTABLE, *settings.attribution.fields()]))
    cols = ["source", "provider", "model", "period_start", "project", "api_key_id", "cost_usd", "attributed_by"]
    exprs = [*cols, *(current(f) for f in fields), *(provenance(f) for f in fields),
             *(source_value(f) for f in fields), *(condition(r) for r in rules)]
    found = store.query(f"SELECT {', '.join(exprs)} FROM ledger WHERE row_id = ?", [row_id])
    if not found:
        raise AispendError(f"no ledger row has row_id {row_id!r}; ids are in `aispend export` output and the "
                           "dashboard's row views")
    values = found[0]
    n, k = len(cols), len(fields)
    out = Explanation(row_id, dict(zip(cols[:-1], values[:n - 1], strict=True)))
    for i, f in enumerate(fields):
        value, rule = values[n + i], values[n + k + i]
        set_by = f"rule: {rule}" if rule else ("source" if value is not None else "nothing: unattributed")
        out.fields.append({"field": f, "value": value if value is not None else UNATTRIBUTED, "set_by": set_by})
    out.matched = [r.name or "" for r, hit in zip(rules, values[n + 3 * k:], strict=True) if hit]
    return out
