"""Own step 7 of repartitioning: the atomic swap by renames under a short lock with retries.

In one transaction: lock the old and new tables (`lock_timeout`, retried), replay the last captured
writes, drop the capture, carry sequences over, rename the old table to `<t>_retired_<ts>` and the new one
to `<t>`, their indexes and constraints with them, register the retired original in `migration_backups`
as the run's backup (kept until its retention ends), and record the state — so a kill leaves either the
old table in place or the swap done, never half of it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

import psycopg
from psycopg import sql

from python_ops.backups import register_kept_table
from python_ops.partitions import online
from python_ops.partitions.repartition_plan import RepartitionSpec
from python_ops.partitions.state import Hook, noop_hook, set_step

log = logging.getLogger("migrata.partitions")


def _renames(conn: psycopg.Connection, table_oid: int) -> list[tuple[str, str]]:
    """(constraint-or-index name, kind) of a table: index-backed constraints and plain indexes."""
    rows = conn.execute(
        """SELECT c.relname, coalesce(k.contype::text, 'i') FROM pg_index i
             JOIN pg_class c ON c.oid = i.indexrelid
             LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid
            WHERE i.indrelid = %s""",
        (table_oid,),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def _rename_index(conn: psycopg.Connection, schema: str, table: str, name: str, kind: str, to: str) -> None:
    if kind == "p":
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                sql.Identifier(schema, table), sql.Identifier(name), sql.Identifier(to)
            )
        )
    else:
        conn.execute(
            sql.SQL("ALTER INDEX {} RENAME TO {}").format(sql.Identifier(schema, name), sql.Identifier(to))
        )


def _move_sequences(conn: psycopg.Connection, spec: RepartitionSpec, src: str, dst: str) -> None:
    """Give `dst` the sequences' positions/ownership of `src` (both names in the table's schema)."""
    schema = spec.table.schema
    for col in spec.sequences:
        src_seq = conn.execute(
            "SELECT pg_get_serial_sequence(%s, %s)", (f'"{schema}"."{src}"', col)
        ).fetchone()
        dst_seq = conn.execute(
            "SELECT pg_get_serial_sequence(%s, %s)", (f'"{schema}"."{dst}"', col)
        ).fetchone()
        if src_seq is None or src_seq[0] is None:
            continue
        if dst_seq is None or dst_seq[0] is None:  # a serial default shared by both: hand over ownership
            conn.execute(
                sql.SQL("ALTER SEQUENCE {} OWNED BY {}").format(
                    sql.SQL(src_seq[0]), sql.Identifier(schema, dst, col)
                )
            )
        elif dst_seq[0] != src_seq[0]:  # identity columns have one sequence each: carry the position
            conn.execute(
                sql.SQL("SELECT setval(%s, last_value, is_called) FROM {}").format(sql.SQL(src_seq[0])),
                (dst_seq[0],),
            )


def swap_statements(spec: RepartitionSpec, retired: str) -> dict[str, sql.Composable]:
    """The table-level statements of the swap (run by `swap`, printed by --dry-run); between the locks
    and the renames the swap replays the last captured writes, drops the capture and renames each
    index and constraint after its table."""
    return {
        "lock_new": sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(spec.ident(spec.new_name)),
        "lock_old": sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(spec.table.ident),
        "retire": sql.SQL("ALTER TABLE {} RENAME TO {}").format(spec.table.ident, sql.Identifier(retired)),
        "promote": sql.SQL("ALTER TABLE {} RENAME TO {}").format(
            spec.ident(spec.new_name), sql.Identifier(spec.name)
        ),
    }


def retired_name(conn: psycopg.Connection, spec: RepartitionSpec) -> str:
    """`<table>_retired_<UTC timestamp>`: the name the original keeps after the swap. A name already
    taken (a table, or a backup registered under it: a run, a rollback and a run within one second)
    moves on by a second."""
    at = dt.datetime.now(dt.UTC)
    while True:
        name = spec.name[:46] + f"_retired_{at:%Y%m%d_%H%M%S}"
        row = conn.execute(
            "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL OR EXISTS "
            "(SELECT 1 FROM migration_backups WHERE backup_schema = %s AND backup_table = %s)",
            (spec.table.schema, name, spec.table.schema, name),
        ).fetchone()
        if not (row and row[0]):
            return name
        at += dt.timedelta(seconds=1)


def catch_up(conn: psycopg.Connection, spec: RepartitionSpec, *, small: int = 100, rounds: int = 10) -> int:
    """Replay captured writes without any lock until few are left, so the locked replay is short."""
    replayed = 0
    for _ in range(rounds):
        if online.pending_deltas(conn, spec) <= small:
            break
        with conn.transaction():
            replayed += online.replay(conn, spec)
    return replayed


def swap(
    conn: psycopg.Connection,
    spec: RepartitionSpec,
    *,
    verified: tuple[int, str] | None = None,
    retention_days: int = 7,
    revision: str | None = None,
    hook: Hook = noop_hook,
    lock_timeout_ms: int = 2_000,
) -> dict[str, Any]:
    """Step 7: under a short exclusive lock replay the last writes and swap the tables by renames.

    The retired original is registered as the run's backup in the same transaction. `verified` is the
    original's (rows, checksum over the copy columns) from the verification snapshot: when no write came
    after that snapshot it is the retired table's fingerprint and the backup is registered verified at
    once; otherwise it is registered 'created' and sealed by one scan after the swap (no lock held).
    """
    t = spec.table
    retired = retired_name(conn, spec)
    statements = swap_statements(spec, retired)
    timing: dict[str, float] = {}
    renamed: list[list[str]] = []
    caught_up = catch_up(conn, spec)

    def work() -> int:
        nonlocal keep
        # The locks are released when the commit record is written, not after its fsync: a crash right
        # after loses the whole swap (the old table is then still in place and a rerun swaps again).
        conn.execute("SET LOCAL synchronous_commit = off")
        # The new table first: nobody waits behind it, and an autovacuum still busy with its freshly filled
        # partitions is cancelled (after deadlock_timeout) before the application's table is touched.
        conn.execute(statements["lock_new"])
        conn.execute(statements["lock_old"])
        locked = time.monotonic()
        replayed = online.replay(conn, spec)
        log.debug(
            "swap %s: %d keys replayed under the lock in %.0f ms",
            t.qualified,
            replayed,
            (time.monotonic() - locked) * 1000,
        )
        online.drop_capture(conn, spec)
        old_names = _renames(conn, t.oid)
        new_oid = conn.execute("SELECT to_regclass(%s)::oid", (f'"{t.schema}"."{spec.new_name}"',)).fetchone()
        assert new_oid is not None
        new_names = dict(_renames(conn, int(new_oid[0])))
        _move_sequences(conn, spec, spec.name, spec.new_name)
        conn.execute(statements["retire"])
        for name, kind in old_names:
            replacement = spec.new_pk_name if kind == "p" else spec.new_index_name(name)
            _rename_index(conn, t.schema, retired, name, kind, name[:40] + f"_r{retired[-15:]}")
            renamed.append([name, kind, name[:40] + f"_r{retired[-15:]}", replacement])
            if replacement in new_names:
                _rename_index(conn, t.schema, spec.new_name, replacement, new_names[replacement], name)
        conn.execute(statements["promote"])
        conn.execute(
            sql.SQL("COMMENT ON TABLE {} IS {}").format(
                t.ident,
                sql.Literal(
                    f"migrata:repartitioned by {spec.column} into {spec.partitions} LIST partitions on "
                    f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC; original kept as {retired}"
                ),
            )
        )
        conn.execute(
            sql.SQL("COMMENT ON TABLE {} IS {}").format(
                spec.ident(retired),
                sql.Literal(
                    f"migrata:retired original of {t.qualified}; `migrata repartition rollback` restores it"
                ),
            )
        )
        log.debug("swap %s: renamed after %.0f ms", t.qualified, (time.monotonic() - locked) * 1000)
        quiet = verified is not None and caught_up == 0 and replayed == 0
        # an empty original (e.g. `migrate heads` on a new store) holds nothing to keep: not registered
        keep = not (quiet and verified is not None and verified[0] == 0)
        if keep:
            register_kept_table(
                conn,
                (t.schema, retired),
                source_table=t.qualified,
                revision=revision or "repartition",
                checksum_columns=spec.copy_columns,
                retention_days=retention_days,
                note=f"retired original of {t.qualified}, repartitioned by {spec.column} into "
                f"{spec.partitions} LIST partitions; `migrata repartition rollback` restores it",
                fingerprint=verified if quiet else None,
            )
        hook("swap")
        set_step(
            conn,
            t.qualified,
            "swapped",
            retired_table=retired,
            backup_table=retired if keep else None,
            details={"renamed": renamed},
        )
        conn.execute("UPDATE repartition_runs SET swapped_at = now() WHERE table_name = %s", (t.qualified,))
        timing["locked"] = locked
        return replayed

    keep = True
    replayed = online.with_lock_retries(conn, f"swap {t.qualified}", work, lock_timeout_ms=lock_timeout_ms)
    lock_ms = (time.monotonic() - timing["locked"]) * 1000
    conn.execute("UPDATE repartition_runs SET lock_ms = %s WHERE table_name = %s", (lock_ms, t.qualified))
    log.info(
        "swapped %s: %s kept, %d last writes replayed, lock held %.0f ms",
        t.qualified,
        retired,
        replayed,
        lock_ms,
    )
    return {
        "retired_table": retired,
        "backup_table": retired if keep else None,
        "replayed_before_swap": caught_up,
        "replayed_at_swap": replayed,
        "swap_lock_ms": round(lock_ms, 1),
    }
