"""The pipeline's DuckDB SQL, run on Spark: sqlglot transpiles it, and a few rewrites fix what
transpiling alone gets wrong (each says why below).

Nothing here writes SQL of its own for a pipeline step: the text comes from the DuckDB modules
(``ingest.focus`` / ``ingest.csvmap`` normalizers, ``pricing.apply``, ``analysis.report``,
``attribution.allocate``), so a fix there is a fix here.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

_DUCKDB, _SPARK = "duckdb", "spark"


def _spark(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read=_SPARK)


def _sub(node: exp.Expression) -> str:
    """A child as Spark SQL, rewritten too (``transform`` does not descend into a replaced node)."""
    return node.copy().transform(_rewrite).sql(_SPARK)


def _json_type(node: exp.Expression) -> exp.Expression:
    """``json_type(x)`` has no Spark counterpart. Spark 4's VARIANT names the kind: the first word
    of ``schema_of_variant`` is OBJECT, ARRAY, BIGINT, STRING, ... (DuckDB: OBJECT, ARRAY, ...)."""
    inner = _sub(node.this)
    return _spark(f"regexp_extract(schema_of_variant(try_parse_json({inner})), '^[A-Z]+', 0)")


def _rewrite(node: exp.Expression) -> exp.Expression:
    # DuckDB's JSON is text that was checked to parse (the value is kept byte for byte). sqlglot
    # writes Spark's TO_JSON, which serialises a struct: wrong for a string. Keep the text, and
    # for TRY_CAST keep it only when it parses.
    if isinstance(node, (exp.Cast, exp.TryCast)) and node.to.is_type(exp.DataType.Type.JSON):
        inner = node.this
        if isinstance(node, exp.TryCast) or node.args.get("safe"):
            return _spark(f"CASE WHEN try_parse_json({_sub(inner)}) IS NOT NULL THEN CAST({_sub(inner)} AS STRING) END")
        return _spark(f"CAST({_sub(inner)} AS STRING)")
    if isinstance(node, exp.JSONType):
        return _json_type(node)
    # DECIMAL -> BIGINT: DuckDB rounds half away from zero (12.5 -> 13), Spark truncates (12).
    # ROUND(x, 0) first is HALF_UP in Spark, which is the same rule.
    if (isinstance(node, (exp.Cast, exp.TryCast)) and node.to.is_type(exp.DataType.Type.BIGINT)
            and isinstance(node.this, (exp.Cast, exp.TryCast)) and node.this.to.is_type(exp.DataType.Type.DECIMAL)):
        node.set("this", exp.Round(this=node.this, decimals=exp.Literal.number(0)))
        return node
    # DuckDB's try_strptime is not known to sqlglot; it is strptime that yields NULL on failure,
    # which sqlglot writes as Spark's TRY_TO_TIMESTAMP with the format translated.
    if isinstance(node, exp.Anonymous) and node.name.lower() == "try_strptime":
        value, fmt = node.expressions
        return exp.StrToTime(this=value.copy().transform(_rewrite), format=fmt, safe=True)
    # range(a, b, step) excludes b. sqlglot writes SEQUENCE(a, b - step, step), right only when b
    # is a whole number of steps after a (a day range ending 19:00 would lose its only day) and an
    # error when a > b. Keep b exclusive by filtering instead.
    if isinstance(node, exp.GenerateSeries) and node.args.get("is_end_exclusive"):
        a, b, step = (_sub(node.args[k]) for k in ("start", "end", "step"))
        return _spark(f"IF({a} < {b}, FILTER(SEQUENCE({a}, {b}, {step}), _x -> _x < {b}), ARRAY())")
    return node


def expand_star_replace(tree: exp.Expression, columns: dict[str, tuple[str, ...]]) -> exp.Expression:
    """``alias.* REPLACE (expr AS col)`` (DuckDB) spelled out: Spark has no REPLACE. ``columns``
    gives each alias's column list, in order."""
    for select in list(tree.find_all(exp.Select)):
        out: list[exp.Expression] = []
        changed = False
        for proj in select.expressions:
            star = proj.this if isinstance(proj, exp.Column) and isinstance(proj.this, exp.Star) else proj
            replace = star.args.get("replace") if isinstance(star, exp.Star) else None
            if not replace:
                out.append(proj)
                continue
            changed = True
            table = proj.table if isinstance(proj, exp.Column) else ""
            by_name = {r.alias: r for r in replace}
            for col in columns[table]:
                out.append(by_name[col].copy() if col in by_name else exp.column(col, table=table or None))
        if changed:
            select.set("expressions", out)
    return tree


def carry(tree: exp.Expression, table: str, column: str) -> exp.Expression:
    """Carry ``column`` of ``table`` through a normalizer's SELECT: add it to the innermost SELECT
    that reads ``table`` (the others select ``*`` over it) and to the outermost one."""
    for select in tree.find_all(exp.Select):
        source = select.args.get("from_") or select.args.get("from")
        if source is not None and isinstance(source.this, exp.Table) and source.this.name == table:
            select.select(exp.column(column), copy=False)
    if isinstance(tree, exp.Select):
        tree.select(exp.column(column), copy=False)
    return tree


def to_spark(sql: str, *, star_columns: dict[str, tuple[str, ...]] | None = None,
             carry_column: tuple[str, str] | None = None) -> str:
    """DuckDB SQL as Spark SQL."""
    tree = sqlglot.parse_one(sql, read=_DUCKDB)
    if star_columns:
        tree = expand_star_replace(tree, star_columns)
    if carry_column:
        tree = carry(tree, *carry_column)
    tree = tree.transform(_rewrite)
    return tree.sql(_SPARK)
