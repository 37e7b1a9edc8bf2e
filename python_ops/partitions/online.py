"""Own the online part of repartitioning: capture writes to the old table, replay them into the new one.

Capture: three statement-level AFTER triggers with transition tables write the primary keys of every
inserted, updated or deleted row into `<table>_delta` in the writer's own transaction (so a captured
change exists exactly when its write committed); a fourth blocks TRUNCATE, which row capture cannot see.
Replay is by key, not by operation: for each captured key, delete it from the new table and copy the
row as it is now in the old table (if it still exists). That is idempotent and order-free, so a replay
can be repeated after a crash, and inside a REPEATABLE READ snapshot it makes the new table equal the
old one as of that snapshot — which is how verification runs without blocking writers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg import sql

from python_ops.errors import MigrataError
from python_ops.partitions.repartition_plan import RepartitionSpec

log = logging.getLogger("migrata.partitions")
T = TypeVar("T")


def _pk(spec: RepartitionSpec, alias: str | None = None) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(alias, c) if alias else sql.Identifier(c) for c in spec.pk)


def _pk_match(spec: RepartitionSpec, left: str, right: str) -> sql.Composed:
    return sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier(left, c), sql.Identifier(right, c)) for c in spec.pk
    )


def with_lock_retries(
    conn: psycopg.Connection,
    what: str,
    work: Callable[[], T],
    *,
    lock_timeout_ms: int,
    attempts: int = 10,
) -> T:
    """Run `work` in a transaction with `lock_timeout`; on a lock timeout roll back, wait and retry."""
    for attempt in range(1, attempts + 1):
        try:
            with conn.transaction():
                conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{lock_timeout_ms}ms",))
                return work()
        except psycopg.errors.LockNotAvailable:
            log.warning(
                "%s: lock not granted within %d ms (attempt %d/%d)", what, lock_timeout_ms, attempt, attempts
            )
            time.sleep(min(0.2 * attempt, 2.0))
    raise MigrataError(
        f"{what}: could not get the lock within {lock_timeout_ms} ms in {attempts} attempts",
        hint="long transactions hold the table; rerun later (the run resumes) or raise "
        "MIGRATA_PARTITIONS__LOCK_TIMEOUT_MS",
    )


def capture_installed(conn: psycopg.Connection, spec: RepartitionSpec) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s AND tgname LIKE 'migrata_capture_%%'",
        (spec.table.oid,),
    ).fetchone()
    return bool(row and row[0] == 3)


def capture_statements(spec: RepartitionSpec) -> list[sql.Composable]:
    """The delta table, the capture function and its triggers (run by `install_capture`, printed by
    --dry-run)."""
    types = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t))
        for c, t in zip(spec.pk, spec.pk_types, strict=True)
    )
    delta, fn, table = spec.ident(spec.delta_name), spec.ident(spec.capture_function), spec.table.ident
    pk = _pk(spec)
    body = sql.SQL(
        """BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {delta} ({pk}, migrata_key) SELECT {pk}, {kx} FROM migrata_new;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO {delta} ({pk}, migrata_key)
            SELECT {pk}, {kx} FROM migrata_new UNION SELECT {pk}, {kx} FROM migrata_old;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO {delta} ({pk}, migrata_key) SELECT {pk}, {kx} FROM migrata_old;
    ELSE
        RAISE EXCEPTION 'table {name} is being repartitioned by migrata: TRUNCATE is blocked'
            USING HINT = 'finish or roll back the repartitioning first';
    END IF;
    RETURN NULL;
END"""
    ).format(delta=delta, pk=pk, kx=spec.key_expr, name=sql.SQL(spec.table.qualified.replace("'", "")))
    statements: list[sql.Composable] = [
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (migrata_id bigserial PRIMARY KEY, {}, migrata_key integer)"
        ).format(delta, types),
        sql.SQL("CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS {body}").format(
            fn=fn, body=sql.Literal(body.as_string(None))
        ),
    ]
    for name, event, refs in (
        ("migrata_capture_ins", "INSERT", "NEW TABLE AS migrata_new"),
        ("migrata_capture_upd", "UPDATE", "OLD TABLE AS migrata_old NEW TABLE AS migrata_new"),
        ("migrata_capture_del", "DELETE", "OLD TABLE AS migrata_old"),
    ):
        statements.append(
            sql.SQL(
                "CREATE OR REPLACE TRIGGER {n} AFTER {e} ON {t} REFERENCING {r} FOR EACH STATEMENT "
                "EXECUTE FUNCTION {fn}()"
            ).format(n=sql.Identifier(name), e=sql.SQL(event), t=table, r=sql.SQL(refs), fn=fn)
        )
    statements.append(
        sql.SQL(
            "CREATE OR REPLACE TRIGGER migrata_block_truncate BEFORE TRUNCATE ON {t} "
            "FOR EACH STATEMENT EXECUTE FUNCTION {fn}()"
        ).format(t=table, fn=fn)
    )
    return statements


def install_capture(conn: psycopg.Connection, spec: RepartitionSpec, *, lock_timeout_ms: int) -> None:
    """Create the delta table and the capture triggers (idempotent; a short lock on the table)."""
    if capture_installed(conn, spec):
        return
    statements = capture_statements(spec)

    def work() -> None:
        for statement in statements:
            conn.execute(statement)

    with_lock_retries(
        conn, f"install capture on {spec.table.qualified}", work, lock_timeout_ms=lock_timeout_ms
    )


def drop_capture(
    conn: psycopg.Connection, spec: RepartitionSpec, table: sql.Identifier | None = None
) -> None:
    """Drop the capture triggers, function and delta table (inside the caller's transaction)."""
    target = table or spec.table.ident
    for name in (
        "migrata_capture_ins",
        "migrata_capture_upd",
        "migrata_capture_del",
        "migrata_block_truncate",
    ):
        conn.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(sql.Identifier(name), target))
    conn.execute(sql.SQL("DROP FUNCTION IF EXISTS {}()").format(spec.ident(spec.capture_function)))
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(spec.ident(spec.delta_name)))


def copy_columns_sql(spec: RepartitionSpec, alias: str | None = None) -> sql.Composed:
    return sql.SQL(", ").join(
        sql.Identifier(alias, c) if alias else sql.Identifier(c) for c in spec.copy_columns
    )


def replay(conn: psycopg.Connection, spec: RepartitionSpec) -> int:
    """Replay every captured key visible to this transaction into the new table; return how many keys.

    Runs inside the caller's transaction (READ COMMITTED between copy batches, REPEATABLE READ for
    verification, under the exclusive lock for the swap).
    """
    delta, new, old = spec.ident(spec.delta_name), spec.ident(spec.new_name), spec.table.ident
    pk = _pk(spec)
    conn.execute("DROP TABLE IF EXISTS pg_temp.migrata_replay_keys")
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE migrata_replay_keys ON COMMIT DROP AS "
            "WITH d AS (DELETE FROM {delta} RETURNING {pk}, migrata_key) "
            "SELECT DISTINCT {pk}, migrata_key FROM d"
        ).format(delta=delta, pk=pk)
    )
    row = conn.execute("SELECT count(*) FROM pg_temp.migrata_replay_keys").fetchone()
    keys = int(row[0]) if row else 0
    if keys:
        conn.execute("ANALYZE pg_temp.migrata_replay_keys")
        # Each captured key names the partition its old and new versions live in, so every delete goes to
        # one leaf partition instead of probing all N (what keeps the replay under the swap lock short).
        parts = conn.execute("SELECT DISTINCT migrata_key FROM pg_temp.migrata_replay_keys").fetchall()
        for (k,) in parts:
            conn.execute(
                sql.SQL(
                    "DELETE FROM {part} AS n USING pg_temp.migrata_replay_keys AS k "
                    "WHERE k.migrata_key = {k} AND {m}"
                ).format(
                    part=spec.ident(spec.partition_name(int(k))),
                    k=sql.Literal(k),
                    m=_pk_match(spec, "n", "k"),
                )
            )
        conn.execute(
            sql.SQL(
                "INSERT INTO {new} ({cols}, {key}) OVERRIDING SYSTEM VALUE "
                "SELECT {ocols}, migrata_partition_key(o.{col}::text, {n}) "
                "FROM {old} AS o JOIN (SELECT DISTINCT {pk} FROM pg_temp.migrata_replay_keys) AS k ON {m}"
            ).format(
                new=new,
                cols=copy_columns_sql(spec),
                key=sql.Identifier(spec.key_column),
                ocols=copy_columns_sql(spec, "o"),
                col=sql.Identifier(spec.column),
                n=sql.Literal(spec.partitions),
                old=old,
                pk=pk,
                m=_pk_match(spec, "o", "k"),
            )
        )
    conn.execute("DROP TABLE pg_temp.migrata_replay_keys")
    return keys


def pending_deltas(conn: psycopg.Connection, spec: RepartitionSpec) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(spec.ident(spec.delta_name))).fetchone()
    return int(row[0]) if row else 0
