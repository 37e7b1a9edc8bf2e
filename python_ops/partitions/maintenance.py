"""Own partition maintenance: declare tables managed, and run the planned maintenance statements.

The SQL functions of the `partitions` tree are the one implementation: `migrata_maintenance_steps(t)`
says which statements maintenance runs on a table now, and `migrata_run_maintenance(t)` executes exactly
those. This module plans with the first (a dry run prints those statements), runs one table per batch
through the shared runner with the second (its own transaction, with a bounded lock wait), and verifies
with the health checks (future partitions exist, no errors).

Every verb takes `Engines` first and holds the ("partitions", <table>) operation lock of each table it
changes. Retention in drop mode is irreversible: `maintain` refuses to drop partitions unless
`allow_drop` (the CLI's `--yes`) says so.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import dict_row

from python_ops import pgcatalog as catalog
from python_ops.errors import ConfigError, PreconditionError
from python_ops.locks import operation_lock, operation_locks
from python_ops.partitions.models import ManagedTable
from python_ops.partitions.ranges import check_interval, require_range_table
from python_ops.runner import Batch, Check, Operation, Plan, ProgressCallback, Report, Step, execute

if TYPE_CHECKING:
    from python_ops.engines.context import Engines

RETENTION_MODES = ("drop", "detach")
LOCK = "partitions"  # the operation name of the per-table lock (the SQL function uses the same key)


def manage(
    engines: Engines,
    table: str,
    *,
    interval: str = "month",
    premake: int = 4,
    retention: str | None = None,
    retention_mode: str = "detach",
    wait: bool = False,
) -> ManagedTable:
    """Declare `table` managed (or update its policy); `retention` is a Postgres interval like `12 months`."""
    check_interval(interval)
    if premake < 0:
        raise ConfigError(f"--premake must be 0 or more, got {premake}", hint="pass --premake 4")
    check_retention_mode(retention_mode)
    with engines.connect(autocommit=True) as conn:
        ref = require_range_table(conn, table)
        if retention is not None:
            try:
                with conn.transaction():
                    conn.execute("SELECT %s::interval", (retention,))
            except psycopg.errors.DataError:
                raise ConfigError(
                    f"retention {retention!r} is not an interval",
                    hint="write it like '12 months' or '90 days'",
                ) from None
        with operation_lock(engines, LOCK, ref.qualified, wait=wait), conn.transaction():
            conn.execute(
                """INSERT INTO managed_partitions
                       (parent_table, partition_interval, premake, retention, retention_mode)
                   VALUES (%s, %s, %s, %s::interval, %s)
                   ON CONFLICT (parent_table) DO UPDATE SET partition_interval = EXCLUDED.partition_interval,
                       premake = EXCLUDED.premake, retention = EXCLUDED.retention,
                       retention_mode = EXCLUDED.retention_mode, enabled = true""",
                (ref.qualified, interval, premake, retention, retention_mode),
            )
        return _get_managed(conn, ref.qualified)


def check_retention_mode(mode: str) -> str:
    if mode not in RETENTION_MODES:
        raise ConfigError(f"unknown retention mode {mode!r}", hint="use drop or detach")
    return mode


def unmanage(engines: Engines, table: str, *, dry_run: bool = False, wait: bool = False) -> ManagedTable:
    """Stop managing `table`; its partitions are left exactly as they are. Returns the removed policy."""
    with engines.connect(autocommit=True) as conn:
        current = _get_managed(conn, table)
        if dry_run:
            return current
        with operation_lock(engines, LOCK, current.parent_table, wait=wait), conn.transaction():
            conn.execute("DELETE FROM managed_partitions WHERE parent_table = %s", (current.parent_table,))
    return current


def _get_managed(conn: psycopg.Connection, table: str) -> ManagedTable:
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


def managed_tables(engines: Engines, tables: list[str] | None = None) -> list[ManagedTable]:
    """Managed tables (all, or the named ones, each of which must be managed)."""
    with engines.connect(autocommit=True) as conn:
        return _managed(conn, tables)


def _managed(conn: psycopg.Connection, tables: list[str] | None = None) -> list[ManagedTable]:
    if tables:
        return [_get_managed(conn, t) for t in tables]
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


def planned_steps(conn: psycopg.Connection, table: str) -> list[tuple[str, str | None, Step]]:
    """(action, partition, step) for each statement `migrata_run_maintenance` would execute on `table` now."""
    if catalog.find(conn, table) is None:
        return []
    rows = conn.execute(
        "SELECT action, partition, lo, hi, statement FROM migrata_maintenance_steps(to_regclass(%s))",
        (table,),
    ).fetchall()
    return [(row[0], row[1], Step(_describe(table, *row[:4]), row[4])) for row in rows]


def _describe(table: str, action: str, partition: str | None, lo: Any, hi: Any) -> str:
    span = f"[{lo:%Y-%m-%d}, {hi:%Y-%m-%d})" if lo is not None and hi is not None else ""
    return {
        "create": f"create the partition of {table} for {span}",
        "drop": f"drop partition {partition} {span} past retention (irreversible)",
        "detach": f"detach partition {partition} {span} past retention, keep it",
        "comment": f"mark {partition} as detached by retention",
    }.get(action, f"{action} {partition or table}")


class Maintenance(Operation):
    """Create partitions ahead and retire past retention, one managed table per batch."""

    name = "partitions maintain"

    def __init__(
        self, tables: list[str] | None = None, lock_timeout_ms: int = 2_000, *, allow_drop: bool = False
    ) -> None:
        self.tables = tables
        self.lock_timeout_ms = lock_timeout_ms
        self.allow_drop = allow_drop
        self.executed: list[str] = []

    def plan(self, conn: psycopg.Connection) -> Plan:
        steps: list[Step] = []
        todo: list[str] = []
        drops: list[str] = []
        changes = 0
        for m in _managed(conn, self.tables):
            if not m.enabled:
                continue
            planned = planned_steps(conn, m.parent_table)
            steps += [step for _, _, step in planned]
            drops += [str(part) for action, part, _ in planned if action == "drop"]
            changes += sum(action != "comment" for action, _, _ in planned)
            if planned:
                todo.append(m.parent_table)
        if drops and not self.allow_drop:
            raise PreconditionError(
                f"retention would drop {len(drops)} partitions ({', '.join(drops[:5])}"
                f"{', …' if len(drops) > 5 else ''}), which cannot be undone",
                hint="pass --yes to drop them, or use --dry-run to see the SQL first; nothing was changed",
            )
        return Plan(
            self.name,
            f"{changes} partition changes on {len(todo)} tables",
            changes,
            unit="partitions",
            steps=steps,
            details={"tables": todo, "drops": drops},
        )

    def run_batch(self, conn: psycopg.Connection, position: Any, plan: Plan) -> Batch:
        todo: list[str] = plan.details["tables"]
        pending = [t for t in todo if position is None or t > position]
        if not pending:
            return Batch(0, position, True)
        table = pending[0]
        conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{self.lock_timeout_ms}ms",))
        # take_lock => false: this run already holds the table's operation lock on its own session
        row = conn.execute(
            "SELECT created, retired, error, executed FROM migrata_run_maintenance(to_regclass(%s), false)",
            (table,),
        ).fetchone()
        created, retired, error, executed = row if row else (0, 0, "table is not managed", [])
        self.executed += executed or []
        details: dict[str, Any] = {"created": created, "retired": retired}
        if error:
            details[f"error {table}"] = error
        return Batch(created + retired, table, len(pending) == 1, details)

    def verify(self, conn: psycopg.Connection, plan: Plan) -> list[Check]:
        checks = []
        for m in _managed(conn, self.tables):
            missing = [a for a in plan_actions(conn, m.parent_table) if a["action"] in ("create", "missing")]
            checks.append(
                Check(f"future partitions {m.parent_table}", not missing, 0, len(missing), m.last_error or "")
            )
        return checks


def maintain(
    engines: Engines,
    tables: list[str] | None = None,
    *,
    dry_run: bool = False,
    lock_timeout_ms: int = 2_000,
    allow_drop: bool = False,
    wait: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Report:
    """Run maintenance on the managed tables (all, or `tables`): premake ahead, retire past retention.

    `allow_drop` must be true when retention would drop partitions (irreversible); a dry run shows them
    either way. The report's `executed` detail lists the statements run, the same the dry run prints.
    """
    op = Maintenance(tables, lock_timeout_ms, allow_drop=allow_drop or dry_run)
    with contextlib.ExitStack() as stack:
        conn = stack.enter_context(engines.connect(autocommit=True))
        if not dry_run:  # every table's lock, on one session, before the first write
            targets = [m.parent_table for m in _managed(conn, tables)]
            stack.enter_context(operation_locks(engines, LOCK, targets, wait=wait))
        report = execute(op, conn, dry_run=dry_run, on_progress=on_progress)
    if not dry_run:
        report.details["executed"] = op.executed
    return report
