"""Own the SQL on the footer cache: reading entries in key order, locking, and batch updates.

Table and column names come from configuration (`StoreConfig`) and are always composed as
identifiers; values are parameters. Updates of one batch are a single `UPDATE … FROM unnest(…)`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import psycopg
from psycopg import sql

from python_ops.errors import PreconditionError
from python_ops.parquet_repair.models import Issue, StoreConfig

ISSUES_TABLE = "parquet_repair_issues"


def _ids(store: StoreConfig) -> dict[str, sql.Composable]:
    return {
        "t": sql.Identifier(store.table),
        "p": sql.Identifier(store.path_column),
        "m": sql.Identifier(store.metadata_column),
    }


def check_store(conn: psycopg.Connection, store: StoreConfig) -> int:
    """Fail clearly when the configured table or columns are missing; return the entry count."""
    row = conn.execute("SELECT to_regclass(%s)::text", (store.table,)).fetchone()
    if row is None or row[0] is None:
        raise PreconditionError(
            f"footer cache table {store.table!r} does not exist",
            hint="run the migrations (parquet tree) or set MIGRATA_PARQUET__TABLE to the existing table",
        )
    cols = {
        r[0]
        for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
            "AND NOT attisdropped",
            (store.table,),
        )
    }
    wanted = [store.path_column, store.metadata_column] + (
        [store.updated_at_column] if store.updated_at_column else []
    )
    missing = [c for c in wanted if c not in cols]
    if missing:
        raise PreconditionError(
            f"footer cache table {store.table!r} has no column(s) {', '.join(missing)}",
            hint="set MIGRATA_PARQUET__PATH_COLUMN / __METADATA_COLUMN / __UPDATED_AT_COLUMN to fit it",
        )
    return count(conn, store)


def count(conn: psycopg.Connection, store: StoreConfig) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {t}").format(**_ids(store))).fetchone()
    return int(row[0]) if row else 0


def iter_entries(
    conn: psycopg.Connection, store: StoreConfig, *, after: str | None = None, chunk: int = 5000
) -> Iterator[list[tuple[str, bytes]]]:
    """Yield (path, metadata) chunks in path order by keyset pagination (no long transaction)."""
    query = entries_page_query(store)
    while True:
        rows = page(conn, query, after, chunk)
        if not rows:
            return
        yield rows
        after = rows[-1][0]
        if len(rows) < chunk:
            return


def page(
    conn: psycopg.Connection, query: sql.Composable, after: str | None, chunk: int
) -> list[tuple[str, bytes]]:
    with conn.cursor(binary=True) as cur:
        cur.execute(query, (after, after, chunk))
        return [(r[0], bytes(r[1]) if r[1] is not None else b"") for r in cur.fetchall()]


def entries_page_query(store: StoreConfig) -> sql.Composable:
    return sql.SQL(
        "SELECT {p}, {m} FROM {t} WHERE %s::text IS NULL OR {p} > %s ORDER BY {p} LIMIT %s"
    ).format(**_ids(store))


def lock_entries(conn: psycopg.Connection, store: StoreConfig, paths: Sequence[str]) -> dict[str, bytes]:
    """Lock and read the given entries (inside the caller's transaction)."""
    query = sql.SQL("SELECT {p}, {m} FROM {t} WHERE {p} = ANY(%s) FOR UPDATE").format(**_ids(store))
    with conn.cursor(binary=True) as cur:
        cur.execute(query, (list(paths),))
        return {r[0]: bytes(r[1]) if r[1] is not None else b"" for r in cur.fetchall()}


def lock_paths(conn: psycopg.Connection, store: StoreConfig, paths: Sequence[str]) -> set[str]:
    """Lock the given entries (inside the caller's transaction) and return which exist, without their
    bytes: the backup copies them server-side and each batch reads its own when it re-locks them."""
    query = sql.SQL("SELECT {p} FROM {t} WHERE {p} = ANY(%s) FOR UPDATE").format(**_ids(store))
    return {r[0] for r in conn.execute(query, (list(paths),))}


def read_entry(conn: psycopg.Connection, store: StoreConfig, path: str) -> bytes | None:
    query = sql.SQL("SELECT {m} FROM {t} WHERE {p} = %s").format(**_ids(store))
    with conn.cursor(binary=True) as cur:
        row = cur.execute(query, (path,)).fetchone()
    return None if row is None else bytes(row[0] or b"")


def update_sql(store: StoreConfig) -> sql.Composable:
    stamp = (
        sql.SQL(", {} = now()").format(sql.Identifier(store.updated_at_column))
        if store.updated_at_column
        else sql.SQL("")
    )
    return sql.SQL(
        "UPDATE {t} AS t SET {m} = v.m{stamp} FROM unnest(%b::text[], %b::bytea[]) AS v(p, m) "
        "WHERE t.{p} = v.p"
    ).format(stamp=stamp, **_ids(store))


def update_entries(conn: psycopg.Connection, store: StoreConfig, updates: Sequence[tuple[str, bytes]]) -> int:
    """Write new footers for many entries in one statement; return the rows updated.

    The arrays travel in binary (`%b`): text would hex-escape every footer byte on both sides."""
    if not updates:
        return 0
    cur = conn.execute(update_sql(store), ([u[0] for u in updates], [u[1] for u in updates]))
    return cur.rowcount


def compare_and_set(conn: psycopg.Connection, store: StoreConfig, path: str, old: bytes, new: bytes) -> bool:
    """Replace one entry only if it still holds `old` (so a concurrent repair is never overwritten)."""
    stamp = (
        sql.SQL(", {} = now()").format(sql.Identifier(store.updated_at_column))
        if store.updated_at_column
        else sql.SQL("")
    )
    query = sql.SQL("UPDATE {t} SET {m} = %s{stamp} WHERE {p} = %s AND {m} = %s").format(
        stamp=stamp, **_ids(store)
    )
    return conn.execute(query, (new, path, old)).rowcount == 1


def clear_issues(conn: psycopg.Connection, operation: str) -> None:
    conn.execute(
        sql.SQL("DELETE FROM {} WHERE operation = %s").format(sql.Identifier(ISSUES_TABLE)), (operation,)
    )


def record_issues(conn: psycopg.Connection, operation: str, issues: Sequence[Issue]) -> None:
    if not issues:
        return
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (operation, file_path, kind, detail) "
            "SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::text[]) "
            "ON CONFLICT (operation, file_path) DO UPDATE "
            "SET kind = EXCLUDED.kind, detail = EXCLUDED.detail, noted_at = now()"
        ).format(sql.Identifier(ISSUES_TABLE)),
        (operation, [i.file_path for i in issues], [i.kind for i in issues], [i.detail for i in issues]),
    )


def load_issues(conn: psycopg.Connection, operation: str) -> list[Issue]:
    rows = conn.execute(
        sql.SQL("SELECT file_path, kind, detail FROM {} WHERE operation = %s ORDER BY file_path").format(
            sql.Identifier(ISSUES_TABLE)
        ),
        (operation,),
    ).fetchall()
    return [Issue(r[0], r[1], r[2]) for r in rows]
