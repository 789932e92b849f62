"""Translate the pipeline's SQL (DuckDB spelling, ``?`` parameters) to PostgreSQL.

Statements are written once, in DuckDB's dialect; sqlglot transpiles them and the rewrites below
cover what it leaves DuckDB-only (``GROUP BY ALL``, ``GLOB``, ``CREATE OR REPLACE TEMP TABLE``,
``json_object``). Functions PostgreSQL lacks (``regexp_full_match``, ``json_merge_patch``, ...) are
installed by :data:`COMPAT_FUNCTIONS` instead, so a translated statement reads like the original.

JSON columns are TEXT on PostgreSQL, as DuckDB's JSON is VARCHAR underneath: the stored text is
byte-identical on both engines and compares with ``=``.
"""

from __future__ import annotations

import itertools
import re
from functools import lru_cache

import sqlglot
from sqlglot import exp

from ..errors import StoreError

_NAMES = itertools.count()


@lru_cache(maxsize=4096)
def to_postgres(sql: str) -> tuple[str, ...]:
    """One DuckDB statement as the PostgreSQL statements that do the same.

    ``?`` parameters become ``$1, $2, ...``, which psycopg's raw cursor sends as they are: no
    ``%`` in a literal is ever read as a placeholder.
    """
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise StoreError(f"cannot translate SQL for PostgreSQL: {exc}") from None
    for n, placeholder in enumerate(list(tree.find_all(exp.Placeholder, bfs=False)), 1):
        placeholder.replace(exp.Var(this=f"${n}"))
    for select in tree.find_all(exp.Select):
        _expand_all(select)  # first, while the aggregates still look like aggregates
    # Children before parents, so a rewritten node's arguments are rewritten too.
    for node in reversed(list(tree.walk(bfs=False))):
        new = _rewrite(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    statements = []
    if isinstance(tree, exp.Create) and tree.args.get("replace"):
        # PostgreSQL has CREATE OR REPLACE for views and functions, not tables.
        statements.append(f"DROP TABLE IF EXISTS {tree.this.this.sql('postgres')}")
        tree.set("replace", False)
    statements.append(tree.sql("postgres"))
    return tuple(statements)


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Bracket) and _is_map_lookup(node.this):
        # map_extract(MAP(keys, values), k)[1] (attribution lookups) as an array lookup.
        table, key = node.this.expressions
        keys, values = table.args["keys"].sql("postgres"), table.args["values"].sql("postgres")
        return exp.Var(this=f"({values})[array_position({keys}, {key.sql('postgres')})]")
    if isinstance(node, exp.Subquery) and not node.alias and isinstance(node.parent, (exp.From, exp.Join)):
        # PostgreSQL before 16 wants every derived table named.
        node.set("alias", exp.TableAlias(this=exp.to_identifier(f"_q{next(_NAMES)}")))
    elif isinstance(node, exp.Identifier) and not node.quoted and node.this != node.this.lower():
        # DuckDB keeps an alias's case (FOCUS's BilledCost); PostgreSQL folds it unless quoted.
        node.set("quoted", True)
    elif isinstance(node, exp.TimeToStr) and isinstance(node.args.get("format"), exp.Literal):
        fmt = pg_time_format(node.args["format"].this)
        return exp.Anonymous(this="to_char", expressions=[node.this, exp.Literal.string(fmt)])
    elif isinstance(node, exp.Explode) and _is_series(node.this):
        # DuckDB's generate_series is a list to unnest; PostgreSQL's is already a set of rows.
        return node.this
    elif isinstance(node, exp.Glob):
        return exp.RegexpLike(this=node.this, expression=exp.Literal.string(glob_regex(_literal(node.expression))))
    elif isinstance(node, exp.DataType) and node.this == exp.DataType.Type.JSON:
        return exp.DataType.build("TEXT")
    elif isinstance(node, exp.IgnoreNulls) and isinstance(node.this, exp.AnyValue):
        # DuckDB's any_value skips NULLs, as the one in COMPAT_FUNCTIONS does.
        return exp.Anonymous(this="any_value", expressions=[node.this.this])
    elif isinstance(node, exp.JSONObject):
        # DuckDB's json_object(k, v, ...) writes compact text; json_build_object spaces it out.
        args = [a for kv in node.expressions for a in (kv.this, kv.expression)]
        built = exp.Cast(this=exp.Anonymous(this="json_build_object", expressions=args), to=exp.DataType.build("TEXT"))
        return exp.Anonymous(this="json_compact", expressions=[built])
    elif (isinstance(node, exp.Anonymous) and str(node.this).lower() == "try_strptime" and len(node.expressions) == 2
          and isinstance(node.expressions[1], exp.Literal)):
        # The compat try_strptime takes to_char's format, converted here where the text is known.
        return exp.Anonymous(this="try_strptime", expressions=[
            node.expressions[0], exp.Literal.string(pg_time_format(node.expressions[1].this))])
    return node


def _expand_all(select: exp.Select) -> None:
    """``GROUP BY ALL`` / ``ORDER BY ALL`` as ordinals, which PostgreSQL accepts."""
    group = select.args.get("group")
    if group is not None and group.args.get("all"):
        keys = [i for i, e in enumerate(select.expressions, 1) if not _aggregates(e)]
        select.set("group", exp.Group(expressions=[exp.Literal.number(i) for i in keys]) if keys else None)
    order = select.args.get("order")
    if order is not None and len(order.expressions) == 1:
        only = order.expressions[0]
        if isinstance(only.this, exp.Var) and only.this.name.upper() == "ALL":
            select.set("order", exp.Order(expressions=[
                exp.Ordered(this=exp.Literal.number(i), desc=only.args.get("desc"))
                for i in range(1, len(select.expressions) + 1)]))


def _is_map_lookup(node: exp.Expression) -> bool:
    return (isinstance(node, exp.Anonymous) and str(node.this).lower() == "map_extract"
            and len(node.expressions) == 2 and isinstance(node.expressions[0], exp.Map))


def _is_series(node: exp.Expression) -> bool:
    return isinstance(node, exp.GenerateSeries) or (
        isinstance(node, exp.Anonymous) and str(node.this).lower() == "generate_series")


def _aggregates(node: exp.Expression) -> bool:
    for found in node.find_all(exp.AggFunc, exp.Window):
        if isinstance(found, exp.AggFunc) and not any(isinstance(p, exp.Window) for p in _parents(found, node)):
            return True
    return False


def _parents(node: exp.Expression, root: exp.Expression):
    while node is not None and node is not root:
        node = node.parent
        yield node


def _literal(node: exp.Expression) -> str:
    if isinstance(node, exp.Literal) and node.is_string:
        return node.this
    raise StoreError(f"GLOB needs a literal pattern on PostgreSQL, got {node.sql('duckdb')}")


_PG_TIME = {"Y": "YYYY", "m": "MM", "d": "DD", "H": "HH24", "M": "MI", "S": "SS", "f": "US", "y": "YY", "j": "DDD",
            "b": "Mon", "B": "FMMonth", "a": "Dy", "A": "FMDay", "%": "%"}


def pg_time_format(fmt: str) -> str:
    """A strftime format as to_char's, literal text double-quoted (to_char reads "TH" as a suffix)."""
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt) and fmt[i + 1] in _PG_TIME:
            out.append(_PG_TIME[fmt[i + 1]])
            i += 2
            continue
        j = fmt.find("%", i + 1) if fmt[i] != "%" else i + 1
        text = fmt[i:j if j != -1 else len(fmt)]
        out.append('"' + text.replace('"', '\\"') + '"')
        i += len(text)
    return "".join(out)


def glob_regex(pattern: str) -> str:
    """A GLOB pattern (``*``, ``?``, ``[abc]``, ``[!abc]``) as an anchored POSIX regex."""
    out, i = ["^"], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):  # as in DuckDB: the next character is literal
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1:end]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append("[" + body.replace("\\", "\\\\").replace("[", "\\[") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out) + "$"


# DuckDB functions the pipeline uses that PostgreSQL spells differently or lacks; text overloads
# because JSON columns are TEXT here (see the module docstring).
COMPAT_FUNCTIONS = (
    # JSON text without spaces, keys in order: how DuckDB prints the JSON it builds.
    """CREATE OR REPLACE FUNCTION json_minify(j json) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
       BEGIN
         CASE json_typeof(j)
           WHEN 'object' THEN RETURN coalesce('{' || (SELECT string_agg(to_json(key)::text || ':' || json_minify(value),
             ',' ORDER BY ord) FROM json_each(j) WITH ORDINALITY e(key, value, ord)) || '}', '{}');
           WHEN 'array' THEN RETURN coalesce('[' || (SELECT string_agg(json_minify(value), ',' ORDER BY ord)
             FROM json_array_elements(j) WITH ORDINALITY a(value, ord)) || ']', '[]');
           ELSE RETURN j::text;
         END CASE;
       END $$""",
    """CREATE OR REPLACE FUNCTION regexp_full_match(s text, pattern text) RETURNS boolean
       LANGUAGE sql IMMUTABLE AS $$ SELECT s ~ ('^(?:' || pattern || ')$') $$""",
    """CREATE OR REPLACE FUNCTION json_extract_path_text(doc text, VARIADIC path text[]) RETURNS text
       LANGUAGE sql IMMUTABLE AS $$ SELECT json_extract_path_text(doc::json, VARIADIC path) $$""",
    """CREATE OR REPLACE FUNCTION json_extract_path(doc text, VARIADIC path text[]) RETURNS json
       LANGUAGE sql IMMUTABLE AS $$ SELECT json_extract_path(doc::json, VARIADIC path) $$""",
    """CREATE OR REPLACE FUNCTION json_keys(doc text) RETURNS text[]
       LANGUAGE sql IMMUTABLE AS $$ SELECT array(SELECT json_object_keys(doc::json)) $$""",
    # DuckDB's strptime formats (the %-codes the pipeline uses) through to_timestamp; NULL when the
    # text does not parse, as try_strptime does.
    # json_extract_string(doc, '$.key' or '$."key"'): a top-level key, the paths aispend writes.
    """CREATE OR REPLACE FUNCTION json_extract_string(doc text, path text) RETURNS text
       LANGUAGE sql IMMUTABLE AS $$
       SELECT doc::json ->> (CASE WHEN path LIKE '$."%"' THEN substr(path, 3)::json #>> '{}'
                                  ELSE substr(path, 3) END) $$""",
    # DuckDB's isodow (Monday 1 .. Sunday 7), as sqlglot spells it.
    """CREATE OR REPLACE FUNCTION dayofweek_iso(t timestamp) RETURNS integer
       LANGUAGE sql IMMUTABLE AS $$ SELECT CAST(extract(isodow FROM t) AS integer) $$""",
    # any_value arrived in PostgreSQL 16; as in DuckDB it skips NULLs.
    """CREATE OR REPLACE FUNCTION _aispend_first(a anyelement, b anyelement) RETURNS anyelement
       LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(a, b) $$""",
    """DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'any_value') THEN
           CREATE AGGREGATE any_value(anyelement) (SFUNC = _aispend_first, STYPE = anyelement);
         END IF;
       END $$""",
    # sqlglot (under Ibis's PostgreSQL compiler too) spells make_date as DATE_FROM_PARTS.
    """CREATE OR REPLACE FUNCTION date_from_parts(y integer, m integer, d integer) RETURNS date
       LANGUAGE sql IMMUTABLE AS $$ SELECT make_date(y, m, d) $$""",
    # try_strptime(text, to_char format): the format is converted from strftime's by to_postgres.
    # The text must print back the same way, so '2026-13' or '2026-04x' are NULL, not coerced.
    """CREATE OR REPLACE FUNCTION try_strptime(s text, fmt text) RETURNS timestamp
       LANGUAGE plpgsql IMMUTABLE AS $$
       DECLARE
         parsed timestamptz;
       BEGIN
         parsed := to_timestamp(s, fmt);
         IF to_char(parsed, fmt) <> s THEN RETURN NULL; END IF;
         RETURN parsed AT TIME ZONE 'UTC';
       EXCEPTION WHEN others THEN RETURN NULL;
       END $$""",
    """CREATE OR REPLACE FUNCTION json_compact(doc text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
       SELECT json_minify(doc::json) $$""",
    # FOCUS Tags: a JSON object of strings (nested values as their JSON text, null kept), as
    # export/focus.py builds it with DuckDB's maps.
    """CREATE OR REPLACE FUNCTION focus_tags(tags text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
       SELECT CASE WHEN tags IS NULL OR json_typeof(tags::json) <> 'object' THEN NULL ELSE coalesce(
         (SELECT '{' || string_agg(to_json(key)::text || ':' || CASE json_typeof(value)
                    WHEN 'string' THEN value::text WHEN 'null' THEN 'null' ELSE to_json(json_minify(value))::text END,
                  ',' ORDER BY ord) || '}'
            FROM json_each(tags::json) WITH ORDINALITY e(key, value, ord)), '{}') END $$""",
    # RFC 7396 at the top level, which is all the pipeline merges: a null in the patch removes the
    # key. Compact text, keys in insertion order, as DuckDB writes it.
    """CREATE OR REPLACE FUNCTION json_merge_patch(target text, patch text) RETURNS text
       LANGUAGE sql IMMUTABLE AS $$
       SELECT coalesce('{' || string_agg(to_json(key)::text || ':' || json_minify(value), ',' ORDER BY ord) || '}', '{}')
       FROM (
         SELECT t.key, coalesce(p.value, t.value) AS value, t.ord
           FROM json_each(coalesce(target, '{}')::json) WITH ORDINALITY t(key, value, ord)
           LEFT JOIN json_each(patch::json) p ON p.key = t.key
          WHERE p.key IS NULL OR json_typeof(p.value) <> 'null'
         UNION ALL
         SELECT key, value, 1000000 + ord FROM json_each(patch::json) WITH ORDINALITY p(key, value, ord)
          WHERE json_typeof(value) <> 'null'
            AND key NOT IN (SELECT key FROM json_each(coalesce(target, '{}')::json))
       ) merged $$""",
)
