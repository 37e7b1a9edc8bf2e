"""Own `rollback`: undo a repartitioning at whatever step it stopped or after it finished.

Before the swap the original was never touched: the capture triggers, delta table and new table go.
After the swap the retired original comes back under a short lock: every row that differs between it and
the live partitioned table (writes made since the swap) is copied back by primary key, the two are
compared by count and checksum in the same transaction, and only then is the partitioned copy dropped.
It holds the same ("repartition", <table>) operation lock as `repartition`, so it never runs beside it.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from python_ops import pgcatalog as catalog
from python_ops.backups import release_kept_table
from python_ops.errors import PreconditionError, VerificationError
from python_ops.locks import operation_lock
from python_ops.partitions import online
from python_ops.partitions.state import LOCK, load_run, operation_name, set_step, state_details
from python_ops.partitions.swap import _rename_index
from python_ops.runner import Check, Plan, Report, checkpoints

if TYPE_CHECKING:
    from python_ops.engines.context import Engines


def _hash(cols: list[str], alias: str) -> sql.Composed:
    return catalog.row_hash(cols, alias)


def rollback(
    engines: Engines,
    table: str,
    *,
    lock_timeout_ms: int = 2_000,
    dry_run: bool = False,
    wait: bool = False,
) -> Report:
    """Undo the repartitioning of `table` at whatever step it is; the original comes back verified."""
    schema, name = catalog.split_name(table)
    with contextlib.ExitStack() as stack:
        if not dry_run:
            stack.enter_context(operation_lock(engines, LOCK, f"{schema}.{name}", wait=wait))
        conn = stack.enter_context(engines.connect(autocommit=True))
        return _rollback(conn, f"{schema}.{name}", lock_timeout_ms=lock_timeout_ms, dry_run=dry_run)


def _rollback(conn: psycopg.Connection, table: str, *, lock_timeout_ms: int, dry_run: bool) -> Report:
    started = time.monotonic()
    schema, name = catalog.split_name(table)
    qualified = f"{schema}.{name}"
    op_name = f"repartition rollback {qualified}"
    state = load_run(conn, qualified)
    if state is None or state["step"] == "rolled_back":
        raise PreconditionError(
            f"no repartitioning of {qualified} to roll back", hint="see `migrata repartition status`"
        )
    swapped = state["step"] == "swapped"
    desc = (
        f"bring back {state['retired_table']} as {qualified}, carrying over writes made since the swap"
        if swapped
        else f"remove {state['new_table']}, {state['delta_table']} and the capture triggers"
    )
    plan = Plan(op_name, desc, 1, unit="tables", details=state_details(state))
    if dry_run:
        return Report(op_name, "dry-run", plan)
    if swapped:
        checks = _rollback_swapped(conn, schema, name, state, lock_timeout_ms)
    else:
        checks = _rollback_unswapped(conn, schema, name, state, lock_timeout_ms)
    with conn.transaction():
        checkpoints.clear(conn, operation_name(qualified))
        set_step(conn, qualified, "rolled_back")
    return Report(
        op_name,
        "ok" if all(c.ok for c in checks) else "failed",
        plan,
        units_done=1,
        batches=1,
        checks=checks,
        elapsed_s=time.monotonic() - started,
    )


def _rollback_unswapped(
    conn: psycopg.Connection, schema: str, name: str, state: dict[str, Any], lock_timeout_ms: int
) -> list[Check]:
    ref = catalog.resolve(conn, f"{schema}.{name}")
    capture_fn = sql.Identifier(schema, name[: 63 - len("_migrata_capture")] + "_migrata_capture")

    def work() -> None:
        for trig in (
            "migrata_capture_ins",
            "migrata_capture_upd",
            "migrata_capture_del",
            "migrata_block_truncate",
        ):
            conn.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(sql.Identifier(trig), ref.ident))
        conn.execute(sql.SQL("DROP FUNCTION IF EXISTS {}()").format(capture_fn))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, state["delta_table"])))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, state["new_table"])))

    online.with_lock_retries(conn, f"roll back {ref.qualified}", work, lock_timeout_ms=lock_timeout_ms)
    triggers = conn.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s AND tgname LIKE 'migrata_%%'", (ref.oid,)
    ).fetchone()
    return [
        Check("original in place", catalog.find(conn, ref.qualified) is not None, True, True),
        Check(
            "capture triggers removed",
            bool(triggers and triggers[0] == 0),
            0,
            triggers[0] if triggers else None,
        ),
        Check("intermediate removed", not catalog.exists(conn, schema, state["new_table"]), True, True),
    ]


def _rollback_swapped(
    conn: psycopg.Connection, schema: str, name: str, state: dict[str, Any], lock_timeout_ms: int
) -> list[Check]:
    retired = state["retired_table"]
    if not retired or not catalog.exists(conn, schema, retired):
        raise PreconditionError(
            f"the retired original {schema}.{retired} of {schema}.{name} is gone",
            hint="it was the run's backup and its retention ended (`migrata backups list --all`); the "
            "repartitioned table is the only copy now",
        )
    current = catalog.resolve(conn, f"{schema}.{name}")
    old = catalog.resolve(conn, f"{schema}.{retired}")
    pk = catalog.primary_key(conn, old)
    old_cols = catalog.columns(conn, old, writable_only=True)
    key = state["key_column"]
    compare = [c for c in old_cols if c != key]
    stamp = retired[-15:]
    unswapped = name[:44] + f"_unswapped_{stamp}"
    result: dict[str, Any] = {}

    def work() -> None:
        conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(old.ident))  # idle one first
        conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(current.ident))
        pk_sel = sql.SQL(", ").join(
            sql.SQL("coalesce({}, {}) AS {}").format(
                sql.Identifier("r", c), sql.Identifier("t", c), sql.Identifier(c)
            )
            for c in pk
        )
        on = sql.SQL(" AND ").join(
            sql.SQL("{} = {}").format(sql.Identifier("r", c), sql.Identifier("t", c)) for c in pk
        )
        conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE migrata_rollback_keys ON COMMIT DROP AS SELECT {sel} "
                "FROM (SELECT *, {hr} AS migrata_h FROM {old} r) r "
                "FULL JOIN (SELECT *, {ht} AS migrata_h FROM {cur} t) t "
                "ON {on} WHERE r.migrata_h IS DISTINCT FROM t.migrata_h"
            ).format(
                sel=pk_sel,
                hr=_hash(compare, "r"),
                ht=_hash(compare, "t"),
                old=old.ident,
                cur=current.ident,
                on=on,
            )
        )
        changed = conn.execute("SELECT count(*) FROM pg_temp.migrata_rollback_keys").fetchone()
        match_o = sql.SQL(" AND ").join(
            sql.SQL("{} = {}").format(sql.Identifier("o", c), sql.Identifier("k", c)) for c in pk
        )
        conn.execute(
            sql.SQL("DELETE FROM {} AS o USING pg_temp.migrata_rollback_keys AS k WHERE {}").format(
                old.ident, match_o
            )
        )
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in old_cols)
        conn.execute(
            sql.SQL(
                "INSERT INTO {old} ({cols}) OVERRIDING SYSTEM VALUE SELECT {ocols} FROM {cur} AS o "
                "JOIN pg_temp.migrata_rollback_keys AS k ON {m}"
            ).format(
                old=old.ident,
                cols=cols,
                ocols=sql.SQL(", ").join(sql.Identifier("o", c) for c in old_cols),
                cur=current.ident,
                m=match_o,
            )
        )
        a = catalog.fingerprint(conn, old.ident, compare)
        b = catalog.fingerprint(conn, current.ident, compare)
        if a != b:
            raise VerificationError(
                f"restored {retired} does not match {schema}.{name} (rows {a[0]}/{b[0]})",
                hint="nothing was changed; inspect both tables",
            )
        for seq_col in catalog.columns(conn, old):
            src = conn.execute(
                "SELECT pg_get_serial_sequence(%s, %s)", (current.qualified, seq_col)
            ).fetchone()
            dst = conn.execute("SELECT pg_get_serial_sequence(%s, %s)", (old.qualified, seq_col)).fetchone()
            if src and src[0] and (not dst or not dst[0]):
                conn.execute(
                    sql.SQL("ALTER SEQUENCE {} OWNED BY {}").format(
                        sql.SQL(src[0]), sql.Identifier(schema, retired, seq_col)
                    )
                )
            elif src and src[0] and dst and dst[0] and src[0] != dst[0]:
                conn.execute(
                    sql.SQL("SELECT setval(%s, last_value, is_called) FROM {}").format(sql.SQL(src[0])),
                    (dst[0],),
                )
        conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(current.ident, sql.Identifier(unswapped)))
        for orig, kind, parked, replacement in state["details"].get("renamed", []):
            if catalog.exists(conn, schema, orig):
                _rename_index(conn, schema, unswapped, orig, kind, replacement)
            _rename_index(conn, schema, retired, parked, kind, orig)
        conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(old.ident, sql.Identifier(name)))
        conn.execute(sql.SQL("COMMENT ON TABLE {} IS NULL").format(sql.Identifier(schema, name)))
        # Verified equal above, in this transaction: the partitioned copy holds nothing the original lacks.
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, unswapped)))
        # the retired original was the run's registered backup; it is the live table again
        release_kept_table(conn, schema, retired, f"restored as {schema}.{name} by rollback")
        result.update(changed=int(changed[0]) if changed else 0, rows=a[0], checksum=a[1])

    online.with_lock_retries(conn, f"roll back {schema}.{name}", work, lock_timeout_ms=lock_timeout_ms)
    restored = catalog.resolve(conn, f"{schema}.{name}")
    with conn.transaction():
        conn.execute(
            "UPDATE repartition_runs SET details = details || %s WHERE table_name = %s",
            (Jsonb({"rolled_back_changed_rows": result["changed"]}), f"{schema}.{name}"),
        )
    return [
        Check(
            "original restored",
            restored.kind == "r",
            "plain table",
            "plain" if restored.kind == "r" else "partitioned",
        ),
        Check(
            "writes since the swap carried over",
            True,
            result["changed"],
            result["changed"],
            f"{result['changed']} rows changed after the swap were copied back",
        ),
        Check(
            "row_count and checksum equal before drop",
            True,
            result["rows"],
            result["rows"],
            result["checksum"],
        ),
    ]
