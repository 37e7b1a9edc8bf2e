"""Own partition maintenance: declare tables managed, run `migrata_run_maintenance` through the runner.

The SQL functions installed by `partitions_0002` are the one implementation; this module plans with
`migrata_maintenance_plan`, runs one table per batch (its own transaction, with a bounded lock wait) via
the shared runner, and verifies with the health checks (future partitions exist, no errors).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from python_ops import pgcatalog as catalog
from python_ops.errors import ConfigError, PreconditionError
from python_ops.partitions.models import ManagedTable
from python_ops.partitions.ranges import check_interval, require_range_table
from python_ops.runner import Batch, Check, Operation, Plan, ProgressCallback, Report, Step, execute

RETENTION_MODES = ("drop", "detach")


def _qualified(conn: psycopg.Connection, table: str) -> str:
    return catalog.resolve(conn, table).qualified


def manage(
    conn: psycopg.Connection,
    table: str,
    *,
    interval: str = "month",
    premake: int = 4,
    retention: str | None = None,
    retention_mode: str = "detach",
) -> ManagedTable:
    """Declare `table` managed (or update its policy); `retention` is a Postgres interval like `12 months`."""
    check_interval(interval)
    if premake < 0:
        raise ConfigError(f"--premake must be 0 or more, got {premake}", hint="pass --premake 4")
    if retention_mode not in RETENTION_MODES:
        raise ConfigError(f"unknown retention mode {retention_mode!r}", hint="use drop or detach")
    ref = require_range_table(conn, table)
    if retention is not None:
        try:
            with conn.transaction():
                conn.execute("SELECT %s::interval", (retention,))
        except psycopg.errors.DataError:
            raise ConfigError(
                f"retention {retention!r} is not an interval", hint="write it like '12 months' or '90 days'"
            ) from None
    with conn.transaction():
        conn.execute(
            """INSERT INTO managed_partitions
                   (parent_table, partition_interval, premake, retention, retention_mode)
               VALUES (%s, %s, %s, %s::interval, %s)
               ON CONFLICT (parent_table) DO UPDATE SET partition_interval = EXCLUDED.partition_interval,
                   premake = EXCLUDED.premake, retention = EXCLUDED.retention,
                   retention_mode = EXCLUDED.retention_mode, enabled = true""",
            (ref.qualified, interval, premake, retention, retention_mode),
        )
    return get_managed(conn, ref.qualified)


def unmanage(conn: psycopg.Connection, table: str) -> ManagedTable:
    """Stop managing `table`; its partitions are left exactly as they are. Returns the removed policy."""
    current = get_managed(conn, table)
    with conn.transaction():
        conn.execute("DELETE FROM managed_partitions WHERE parent_table = %s", (current.parent_table,))
    return current


def get_managed(conn: psycopg.Connection, table: str) -> ManagedTable:
    schema, name = catalog.split_name(table)
    row = (
        conn.cursor(row_factory=dict_row)
        .execute("SELECT * FROM managed_partitions WHERE parent_table = %s", (f"{schema}.{name}",))
        .fetchone()
    )
    if row is None:
        raise PreconditionError(
            f"table {schema}.{name} is not managed",
            hint=f"declare it with `migrata partitions manage {name} --interval month`",
        )
    row.pop("created_at", None)
    return ManagedTable(**row)


def managed_tables(conn: psycopg.Connection, tables: list[str] | None = None) -> list[ManagedTable]:
    """Managed tables (all, or the named ones, each of which must be managed)."""
    if tables:
        return [get_managed(conn, t) for t in tables]
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute("SELECT * FROM managed_partitions ORDER BY parent_table")
        .fetchall()
    )
    for r in rows:
        r.pop("created_at", None)
    return [ManagedTable(**r) for r in rows]


def plan_actions(conn: psycopg.Connection, table: str) -> list[dict[str, Any]]:
    """What maintenance would do to `table` now: create / drop / detach rows with bounds."""
    if catalog.find(conn, table) is None:
        return [{"action": "missing", "partition": None, "lo": None, "hi": None}]
    return (
        conn.cursor(row_factory=dict_row)
        .execute("SELECT * FROM migrata_maintenance_plan(to_regclass(%s))", (table,))
        .fetchall()
    )


def _describe(table: str, action: dict[str, Any]) -> Step:
    lo = action["lo"].strftime("%Y-%m-%d") if action["lo"] else "?"
    hi = action["hi"].strftime("%Y-%m-%d") if action["hi"] else "?"
    if action["action"] == "create":
        return Step(
            f"create partition of {table} for [{lo}, {hi})",
            f"SELECT migrata_ensure_range_partitions('{table}', '{lo}', '{hi}')",
        )
    if action["action"] == "drop":
        return Step(
            f"drop partition {action['partition']} [{lo}, {hi}) past retention",
            f"DROP TABLE {action['partition']}",
        )
    if action["action"] == "detach":
        return Step(
            f"detach partition {action['partition']} [{lo}, {hi}) past retention, keep it",
            f"ALTER TABLE {table} DETACH PARTITION {action['partition']}",
            f"ALTER TABLE {table} ATTACH PARTITION {action['partition']} "
            f"FOR VALUES FROM ('{lo}') TO ('{hi}')",
        )
    return Step(f"table {table} is managed but does not exist")


class Maintenance(Operation):
    """Create partitions ahead and retire past retention, one managed table per batch."""

    name = "partitions maintain"

    def __init__(self, tables: list[str] | None = None, lock_timeout_ms: int = 2_000) -> None:
        self.tables = tables
        self.lock_timeout_ms = lock_timeout_ms

    def plan(self, conn: psycopg.Connection) -> Plan:
        steps: list[Step] = []
        todo: list[str] = []
        for m in managed_tables(conn, self.tables):
            actions = [a for a in plan_actions(conn, m.parent_table) if a["action"] != "missing"]
            steps += [_describe(m.parent_table, a) for a in actions]
            if actions:
                todo.append(m.parent_table)
        return Plan(
            self.name,
            f"{len(steps)} partition changes on {len(todo)} tables",
            len(steps),
            unit="partitions",
            steps=steps,
            details={"tables": todo},
        )

    def run_batch(self, conn: psycopg.Connection, position: Any, plan: Plan) -> Batch:
        todo: list[str] = plan.details["tables"]
        pending = [t for t in todo if position is None or t > position]
        if not pending:
            return Batch(0, position, True)
        table = pending[0]
        conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{self.lock_timeout_ms}ms",))
        row = conn.execute("SELECT * FROM migrata_run_maintenance(to_regclass(%s))", (table,)).fetchone()
        created, retired, error = (row[1], row[2], row[3]) if row else (0, 0, "table is not managed")
        details: dict[str, Any] = {"created": created, "retired": retired}
        if error:
            details[f"error {table}"] = error
        return Batch(created + retired, table, len(pending) == 1, details)

    def verify(self, conn: psycopg.Connection, plan: Plan) -> list[Check]:
        checks = []
        for m in managed_tables(conn, self.tables):
            missing = [a for a in plan_actions(conn, m.parent_table) if a["action"] in ("create", "missing")]
            checks.append(
                Check(f"future partitions {m.parent_table}", not missing, 0, len(missing), m.last_error or "")
            )
        return checks


def maintain(
    conn: psycopg.Connection,
    tables: list[str] | None = None,
    *,
    dry_run: bool = False,
    lock_timeout_ms: int = 2_000,
    on_progress: ProgressCallback | None = None,
) -> Report:
    """Run maintenance on the managed tables (all, or `tables`): premake ahead, retire past retention."""
    return execute(Maintenance(tables, lock_timeout_ms), conn, dry_run=dry_run, on_progress=on_progress)
