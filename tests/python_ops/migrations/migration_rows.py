"""Put a few rows in every table of a repository, whatever its revisions made, and count them.

Best effort by design: values are derived from column types, foreign keys point at rows of the
referenced table, and a table whose constraints reject the generic rows is left empty (the caller
asserts that most tables got rows, so the walk over the trees is not vacuous).
"""

from __future__ import annotations

import re

import psycopg
from psycopg import sql

_VALUES = {
    "smallint": "mod(g, 100)::smallint",
    "integer": "g",
    "bigint": "g",
    "numeric": "g",
    "real": "g",
    "double precision": "g",
    "text": "'r' || g",
    "character varying": "'r' || g",
    "uuid": "gen_random_uuid()",
    "timestamp with time zone": "now() - g * interval '1 hour'",
    "timestamp without time zone": "localtimestamp - g * interval '1 hour'",
    "date": "current_date - g",
    "boolean": "false",
    "jsonb": "'{}'::jsonb",
    "json": "'{}'::json",
    "bytea": "'\\x00'::bytea",
    "inet": "'127.0.0.1'::inet",
    "interval": "interval '1 day'",
}


def tables(conn: psycopg.Connection) -> list[str]:
    """Ordinary and partitioned tables of `public` (not partitions, not alembic_version)."""
    rows = conn.execute(
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
             AND c.relname <> 'alembic_version' ORDER BY 1"""
    ).fetchall()
    return [r[0] for r in rows]


def counts(conn: psycopg.Connection) -> dict[str, int]:
    result = {}
    for table in tables(conn):
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        result[table] = int(conn.execute(query).fetchone()[0])  # type: ignore[index]
    return result


def _columns(
    conn: psycopg.Connection, table: str
) -> list[tuple[str, str, bool, bool, str | None, str | None]]:
    """(name, type, not null, has default or identity/generated, fk table, fk column) per column."""
    return conn.execute(
        """SELECT a.attname, format_type(a.atttypid, NULL), a.attnotnull,
                  a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '',
                  (SELECT cf.relname FROM pg_constraint k JOIN pg_class cf ON cf.oid = k.confrelid
                    WHERE k.conrelid = a.attrelid AND k.contype = 'f' AND k.conkey = ARRAY[a.attnum] LIMIT 1),
                  (SELECT af.attname FROM pg_constraint k
                    JOIN pg_attribute af ON af.attrelid = k.confrelid AND af.attnum = k.confkey[1]
                    WHERE k.conrelid = a.attrelid AND k.contype = 'f' AND k.conkey = ARRAY[a.attnum] LIMIT 1)
           FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
           ORDER BY a.attnum""",
        (f"public.{table}",),
    ).fetchall()


def _allowed_literals(conn: psycopg.Connection, table: str) -> dict[str, str]:
    """For `CHECK (col = ANY (ARRAY['a'::text, …]))`: the first allowed value of each such column."""
    found = {}
    for (definition,) in conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'c'",
        (f"public.{table}",),
    ).fetchall():
        match = re.search(r"\(\(?(\w+)\)? = ANY \(ARRAY\['([^']*)'", definition)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def _insert(conn: psycopg.Connection, table: str, n: int) -> bool:
    names, exprs = [], []
    allowed = _allowed_literals(conn, table)
    for name, typ, notnull, has_default, fk_table, fk_col in _columns(conn, table):
        if has_default and not fk_table and name not in allowed:
            continue
        if name in allowed:
            expr: sql.Composable = sql.Literal(allowed[name])
        elif fk_table:
            ref = sql.SQL(
                "(SELECT {} FROM {} ORDER BY 1"
                " OFFSET mod(g - 1, greatest(1, (SELECT count(*) FROM {}))) LIMIT 1)"
            )
            expr = ref.format(sql.Identifier(fk_col), sql.Identifier(fk_table), sql.Identifier(fk_table))
        elif typ in _VALUES:
            expr = sql.SQL(_VALUES[typ])
        elif typ.endswith("[]"):
            expr = sql.SQL("'{}'")
        elif notnull:
            return False
        else:
            continue
        names.append(sql.Identifier(name))
        exprs.append(expr)
    if not names:
        return False
    query = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM generate_series(1, %s) g").format(
        sql.Identifier(table), sql.SQL(", ").join(names), sql.SQL(", ").join(exprs)
    )
    try:
        with conn.transaction():
            conn.execute(query, (n,))
    except psycopg.Error:
        return False
    return True


def seed(conn: psycopg.Connection, n: int = 3) -> dict[str, int]:
    """Insert `n` rows into every empty table that accepts generic rows (parents before children)."""
    for _ in range(3):  # a child table succeeds once its parent has rows
        for table, count in counts(conn).items():
            if count == 0:
                _insert(conn, table, n)
    return counts(conn)
