"""Attribution rules: ordered ``match -> set`` tables from aispend.toml, compiled to SQL.

```toml
[[attribution.rules]]
name = "search keys"                                   # shown by `aispend attribute --explain`
match = { provider = "openai", api_key_id = "key_search*" }
set = { owner = "search", feature = "answers" }

[[attribution.rules]]
match = { "tags.team" = "platform", model = "re:gpt-4o.*" }
set = { owner = "platform", "tags.cost_center" = "cc-42" }
```

A condition is on any text column of the ledger or on a tag (``tags.KEY``). Its value is exact,
a glob when it has ``*``, ``?`` or ``[`` (``key_search*``), a regular expression after ``re:``
(matched against the whole value), or a list of those (any of them). All conditions of a rule
must hold. A rule sets attribution columns (owner, feature, customer, environment, experiment,
project) or tags (``tags.KEY``).

Per field, the first rule (in file order) that matches and sets it wins. A value the row got from
its vendor or source settings is never overwritten: rules fill what the bill does not say.
Conditions see those source values only (never another rule's output), so the order of rules
matters only between rules that set the same field.
"""

from __future__ import annotations

from ..config import SETTABLE, TAG, AttributionSettings, Rule  # the models live with the other settings
from ..sqltext import lit
from .lookups import Table, value_sql

__all__ = ["SETTABLE", "TAG", "AttributionSettings", "Rule", "chosen", "condition", "current", "provenance",
           "source_value"]

_GLOB = set("*?[")


# -- SQL ----------------------------------------------------------------------------------------


def provenance(field: str) -> str:
    """The rule that set ``field`` on this row (NULL: the value, if any, came from the source)."""
    return f"json_extract_string(attributed_by, {lit('$.' + _json_key(field))})"


def _json_key(field: str) -> str:
    return '"' + field.replace('"', '\\"') + '"'


def current(field: str) -> str:
    """The field's value as stored (a column, or a tag)."""
    if field.startswith(TAG):
        return f"json_extract_string(tags, {lit('$.' + _json_key(field[len(TAG):]))})"
    return field


def source_value(field: str) -> str:
    """The field's value from the source: what rules may read, and must never overwrite."""
    if field in SETTABLE or field.startswith(TAG):
        return f"CASE WHEN {provenance(field)} IS NULL THEN {current(field)} END"
    return field


def _one(expr: str, pattern: str) -> str:
    if pattern.startswith("re:"):
        return f"regexp_full_match({expr}, {lit(pattern[3:])})"
    if _GLOB & set(pattern):
        return f"({expr} GLOB {lit(pattern)})"
    return f"({expr} = {lit(pattern)})"


def condition(rule: Rule) -> str:
    return match_sql(rule.match)


def match_sql(match: dict[str, str | list[str]]) -> str:
    """All conditions of a ``match`` table, on the rows' source values, as SQL (never NULL)."""
    parts = []
    for key, pattern in match.items():
        expr = source_value(key)
        options = [pattern] if isinstance(pattern, str) else pattern
        parts.append("(" + " OR ".join(_one(expr, p) for p in options) + ")" if options else "false")
    return "coalesce(" + " AND ".join(parts) + ", false)"


def chosen(rules: list[Rule], field: str, tables: list[Table] = ()) -> tuple[str, str]:
    """(new value, the rule that set it) for ``field``: the source's value, else the first match
    of the rules, else the first lookup table that has the row's key."""
    keep = f"{source_value(field)} IS NOT NULL"
    value_cases = [f"WHEN {keep} THEN {source_value(field)}"]
    rule_cases = [f"WHEN {keep} THEN NULL"]
    for rule in rules:
        if field in rule.set:
            cond = condition(rule)
            value_cases.append(f"WHEN {cond} THEN {lit(rule.set[field])}")
            rule_cases.append(f"WHEN {cond} THEN {lit(rule.name)}")
    for table in tables:
        if (found := value_sql(table, field, source_value(table.on))) is not None:
            value_cases.append(f"WHEN {found} IS NOT NULL THEN {found}")
            rule_cases.append(f"WHEN {found} IS NOT NULL THEN {lit(table.name)}")
    return f"CASE {' '.join(value_cases)} END", f"CASE {' '.join(rule_cases)} END"
