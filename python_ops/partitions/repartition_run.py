"""Own the public repartitioning verbs: `repartition` (run or continue), `rollback`, `runs`.

`repartition` walks the steps of `python_ops.partitions.repartition` and records each in
`repartition_runs`, so a rerun after a kill continues at the step it reached (the copy resumes from the
runner's checkpoint). `rollback` undoes a run at whatever step it is: before the swap it removes what the
run created (the original was never touched); after the swap it brings the retired original back under
a short lock, first carrying over every write made after the swap, verified before anything is dropped.
A `hook(step)` callback lets tests stop a run at each step.

Both verbs take `Engines` first, open their own connection and hold the ("repartition", <table>)
operation lock for the whole run (a dry run reads only and takes none): a second run or rollback of the
same table fails at once naming the holder, or waits with `wait=True`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from python_ops import pgcatalog as catalog
from python_ops.backups import seal_kept_table
from python_ops.errors import PreconditionError
from python_ops.locks import operation_lock
from python_ops.partitions import online
from python_ops.partitions.repartition import (
    CopyRows,
    copy_statement,
    foreign_key_statements,
    index_statements,
    validate_pending_foreign_keys,
)
from python_ops.partitions.repartition_plan import RepartitionSpec, build_plan, precheck
from python_ops.partitions.state import (
    LOCK,
    Hook,
    load_run,
    noop_hook,
    operation_name,
    set_step,
    state_details,
)
from python_ops.partitions.swap import retired_name, swap_statements
from python_ops.runner import Check, Plan, Progress, ProgressCallback, Report, checkpoints, execute

if TYPE_CHECKING:
    from python_ops.engines.context import Engines

log = logging.getLogger("migrata.partitions")


def _notify(on_progress: ProgressCallback | None, op: str, message: str) -> None:
    log.info("%s: %s", op, message)
    if on_progress:
        on_progress(Progress(op, "plan", 0, 0, "rows", message=message))


def intermediate_statements(spec: RepartitionSpec) -> list[sql.Composable]:
    """The statements that create `<t>_intermediate` PARTITION BY LIST with its N partitions (run and
    printed by --dry-run alike)."""
    new = spec.ident(spec.new_name)
    key = (
        sql.SQL("")
        if spec.has_key_column
        else sql.SQL(", {} integer NOT NULL").format(sql.Identifier(spec.key_column))
    )
    statements: list[sql.Composable] = [
        sql.SQL(
            "CREATE TABLE {new} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            "INCLUDING GENERATED INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMMENTS "
            "INCLUDING COMPRESSION{key}) "
            "PARTITION BY LIST ({k})"
        ).format(new=new, old=spec.table.ident, key=key, k=sql.Identifier(spec.key_column))
    ]
    if spec.has_key_column:
        statements.append(
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET NOT NULL").format(
                new, sql.Identifier(spec.key_column)
            )
        )
    statements += [
        sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES IN ({})").format(
            spec.ident(spec.partition_name(k)), new, sql.Literal(k)
        )
        for k in range(spec.partitions)
    ]
    statements.append(
        sql.SQL("COMMENT ON TABLE {} IS {}").format(
            new,
            sql.Literal(
                f"migrata:intermediate of {spec.table.qualified} by {spec.column} "
                f"into {spec.partitions} LIST partitions"
            ),
        )
    )
    return statements


def _planned_statements(conn: psycopg.Connection, spec: RepartitionSpec) -> dict[str, list[str]]:
    """The statements each step runs, rendered from the builders the run executes."""
    retired = retired_name(conn, spec)
    swap = swap_statements(spec, retired)

    def render(statements: list[sql.Composable]) -> list[str]:
        return [s.as_string(conn) for s in statements]

    return {
        "create": render(intermediate_statements(spec)),
        "indexes": render([s for _, s in index_statements(conn, spec)]),
        "capture": render(online.capture_statements(spec)),
        "copy": render([copy_statement(spec, resume=False), copy_statement(spec, resume=True)]),
        "foreign_keys": render([s for _, s in foreign_key_statements(spec)]),
        "swap": render([swap["lock_new"], swap["lock_old"], swap["retire"], swap["promote"]]),
        "retired": [retired],
    }


def create_intermediate(conn: psycopg.Connection, spec: RepartitionSpec) -> bool:
    """Create `<t>_intermediate` with its partitions in one transaction (idempotent); its keys and
    indexes are built after the copy (`CopyRows`)."""
    if catalog.exists(conn, spec.table.schema, spec.new_name):
        return False
    try:
        with conn.transaction():
            for statement in intermediate_statements(spec):
                conn.execute(statement)
    except psycopg.errors.DuplicateTable as exc:
        raise PreconditionError(
            f"cannot create the partitions of {spec.table.qualified}: {str(exc).splitlines()[0]}",
            hint="a table with a partition's name exists (left by an earlier run?); rename or drop it",
        ) from None
    return True


def repartition(
    engines: Engines,
    table: str,
    column: str,
    partitions: int = 100,
    *,
    batch_size: int = 10_000,
    revision: str | None = None,
    dry_run: bool = False,
    lock_timeout_ms: int = 2_000,
    retention_days: int = 7,
    free_bytes: int | None = None,
    wait: bool = False,
    on_progress: ProgressCallback | None = None,
    hook: Hook = noop_hook,
) -> Report:
    """Repartition `table` by a stable hash of `column` into `partitions` LIST partitions, online and safely.

    Reruns continue a run that was stopped; a table this verb already repartitioned the same way is
    reported as nothing to do (asked for another column or count, it is a precondition error).
    """
    schema, name = catalog.split_name(table)
    with contextlib.ExitStack() as stack:
        if not dry_run:
            stack.enter_context(operation_lock(engines, LOCK, f"{schema}.{name}", wait=wait))
        conn = stack.enter_context(engines.connect(autocommit=True))
        return _repartition(
            conn,
            f"{schema}.{name}",
            column,
            partitions,
            batch_size=batch_size,
            revision=revision,
            dry_run=dry_run,
            lock_timeout_ms=lock_timeout_ms,
            retention_days=retention_days,
            free_bytes=free_bytes,
            on_progress=on_progress,
            hook=hook,
        )


def _repartition(
    conn: psycopg.Connection,
    qualified: str,
    column: str,
    partitions: int,
    *,
    batch_size: int,
    revision: str | None,
    dry_run: bool,
    lock_timeout_ms: int,
    retention_days: int,
    free_bytes: int | None,
    on_progress: ProgressCallback | None,
    hook: Hook,
) -> Report:
    started = time.monotonic()
    op_name = operation_name(qualified)
    state = load_run(conn, qualified)
    ref = catalog.find(conn, qualified)
    if ref is not None and ref.kind == "p" and state is not None and state["step"] == "swapped":
        if (state["column_name"], state["partitions"]) != (column, partitions):
            raise PreconditionError(
                f"{qualified} is already repartitioned by {state['column_name']} into {state['partitions']} "
                f"LIST partitions; --by {column} --list-partitions {partitions} asks for another layout",
                hint=f"to repartition it differently, roll it back first: "
                f"`migrata repartition rollback {qualified}`",
            )
        plan = Plan(
            op_name,
            f"{qualified} is already repartitioned by {state['column_name']} into "
            f"{state['partitions']} LIST partitions",
            0,
        )
        # a run killed right after its swap left the foreign keys NOT VALID (and perhaps the retired
        # original's backup unsealed): finish both now
        checks = [] if dry_run else [*_seal_retired(conn, state), validate_pending_foreign_keys(conn, ref)]
        return Report(
            op_name,
            "nothing-to-do" if all(c.ok for c in checks) else "failed",
            plan,
            checks=checks,
            details=state_details(state),
            elapsed_s=time.monotonic() - started,
        )
    resuming = state is not None and state["step"] not in ("swapped", "rolled_back")
    if resuming and state is not None and (state["column_name"], state["partitions"]) != (column, partitions):
        raise PreconditionError(
            f"a repartitioning of {qualified} by {state['column_name']} into {state['partitions']} "
            f"partitions is in progress (step {state['step']})",
            hint=f"rerun it with --by {state['column_name']} --list-partitions {state['partitions']}, or "
            f"`migrata repartition rollback {qualified}`",
        )
    spec = precheck(
        conn, qualified, column, partitions, batch_size=batch_size, free_bytes=free_bytes, resuming=resuming
    )
    plan = build_plan(spec, op_name, _planned_statements(conn, spec))
    if dry_run:
        return Report(op_name, "dry-run", plan, elapsed_s=time.monotonic() - started)
    _notify(on_progress, op_name, f"pre-check passed: {spec.rows} rows")
    hook("precheck")
    if not resuming:
        with conn.transaction():
            checkpoints.clear(conn, op_name)
            conn.execute(
                """INSERT INTO repartition_runs (table_name, column_name, partitions, key_column, step,
                       revision, new_table, delta_table, source_rows)
                   VALUES (%s, %s, %s, %s, 'started', %s, %s, %s, %s)
                   ON CONFLICT (table_name) DO UPDATE SET column_name = EXCLUDED.column_name,
                       partitions = EXCLUDED.partitions, key_column = EXCLUDED.key_column, step = 'started',
                       revision = EXCLUDED.revision, backup_table = NULL, new_table = EXCLUDED.new_table,
                       delta_table = EXCLUDED.delta_table, retired_table = NULL,
                       source_rows = EXCLUDED.source_rows, started_at = now(), updated_at = now(),
                       swapped_at = NULL, lock_ms = NULL, details = '{}'""",
                (
                    qualified,
                    column,
                    partitions,
                    spec.key_column,
                    revision,
                    spec.new_name,
                    spec.delta_name,
                    spec.rows,
                ),
            )
        state = load_run(conn, qualified)
    assert state is not None

    _notify(on_progress, op_name, f"creating {spec.new_name} with {partitions} partitions")
    create_intermediate(conn, spec)
    with conn.transaction():
        set_step(conn, qualified, "created")
    hook("create")

    _notify(on_progress, op_name, f"capturing writes to {qualified}")
    online.install_capture(conn, spec, lock_timeout_ms=lock_timeout_ms)
    with conn.transaction():
        set_step(conn, qualified, "capturing")
    hook("capture")

    saved = checkpoints.load(conn, op_name)
    if saved is None or saved.status != "running":
        # A fresh copy: whatever an abandoned or failed earlier copy left in the new table goes first.
        with conn.transaction():
            conn.execute(sql.SQL("TRUNCATE {}").format(spec.ident(spec.new_name)))
    copy = CopyRows(spec, plan, hook)
    copy.lock_timeout_ms, copy.retention_days, copy.revision = lock_timeout_ms, retention_days, revision
    if spec.rows == 0 and (saved is None or saved.status != "running"):
        report = _run_empty(conn, copy, plan)
    else:
        report = execute(copy, conn, on_progress=on_progress)
    report.details.setdefault("backup_table", state["backup_table"])
    report.details["notes"] = "; ".join(spec.notes)
    report.elapsed_s = time.monotonic() - started
    return report


def _seal_retired(conn: psycopg.Connection, state: dict[str, Any]) -> list[Check]:
    """The retired original's registry row, fingerprinted if a kill came between the swap and its seal."""
    retired, schema = state["retired_table"], state["table_name"].split(".", 1)[0]
    if not retired or not catalog.exists(conn, schema, retired):
        return []
    row = conn.execute(
        "SELECT status FROM migration_backups WHERE backup_schema = %s AND backup_table = %s",
        (schema, retired),
    ).fetchone()
    if row is None or row[0] != "created":
        return []
    record = seal_kept_table(conn, schema, retired)
    ok = record.status == "verified"
    return [Check("retired original registered as the backup", ok, "verified", record.status)]


def _run_empty(conn: psycopg.Connection, copy: CopyRows, plan: Plan) -> Report:
    """An empty table needs no batches; the same steps run once (the runner skips an empty plan)."""
    with conn.transaction():
        batch = copy.run_batch(conn, None, plan)
    checks = copy.verify(conn, plan)
    report = Report(
        copy.name,
        "ok" if all(c.ok for c in checks) else "failed",
        plan,
        batches=1,
        checks=checks,
        details=dict(batch.details),
    )
    if report.ok:
        copy.finish(conn, plan, report)
    return report


def runs(engines: Engines) -> list[dict[str, Any]]:
    """Every recorded repartitioning with its step."""
    from psycopg.rows import dict_row

    with engines.connect(autocommit=True) as conn:
        return (
            conn.cursor(row_factory=dict_row)
            .execute(
                "SELECT table_name, column_name, partitions, step, backup_table, retired_table, "
                "source_rows, round(lock_ms::numeric, 1) AS lock_ms, started_at, swapped_at "
                "FROM repartition_runs ORDER BY table_name"
            )
            .fetchall()
        )
