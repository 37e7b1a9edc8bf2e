"""Own running the lineage dbt models' compiled SQL for a batch of runs: backfill chunks and micro-batches.

The dbt models `run_lineage_denormalized`, `run_parent_lineage_denormalized`, `lineage_graph_edges` and
the read-serving `lineage_jobs_latest`, `lineage_run_counts_daily` and `lineage_dashboard_daily` are the
only definition of those tables. Compiled once with the var `migrata_batch: true`
(`python_ops/lineage/compiled.py`), each model's SELECT reads the runs listed in the session's temp
table `pg_temp.migrata_batch_runs` (and, for static edges, the jobs in `pg_temp.migrata_batch_jobs`;
for the daily counts, the days the runs were on before the batch in `pg_temp.migrata_batch_days`).
A batch, inside the caller's transaction:

1. fills the temp tables (a range of runs for a backfill chunk, a list of runs for a micro-batch; when
   the daily counts are among the models, the runs' days before run_lineage_denormalized is replaced);
2. per model, in dependency order: runs the model's pre-hooks from the manifest (the edge model's lock),
   stages its SELECT, creates the monthly partitions the staged rows need
   (`migrata_ensure_range_partitions`), deletes the rows being replaced by the model's unique_key (in
   the partitions that hold them, looked up first so the delete is pruned; for a model whose partition
   key never increases, looked up only from the earliest staged key on), inserts the staged rows.

Tables (DDL, partitioning, indexes) are created and evolved only by dbt: `ensure_tables` checks that
each model's table exists with every column its SELECT returns, and otherwise runs the models once
through dbt with the var `migrata_empty: true` (no rows). `statements` returns the exact statements a
batch runs, for `--dry-run`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

RLD = "run_lineage_denormalized"
RPLD = "run_parent_lineage_denormalized"
EDGES = "lineage_graph_edges"
JOBS_LATEST = "lineage_jobs_latest"
RUN_COUNTS = "lineage_run_counts_daily"
DASHBOARD = "lineage_dashboard_daily"
# dependency order: the edges and the read-serving tables read run_lineage_denormalized, the dashboard's
# days read the daily counts
MODELS = (RLD, RPLD, EDGES, JOBS_LATEST, RUN_COUNTS, DASHBOARD)
# built once over the whole store at the end of a backfill (its chunks write only RLD and RPLD)
WHOLE_STORE_MODELS = (EDGES, JOBS_LATEST, RUN_COUNTS, DASHBOARD)

# The run and job lists have no index: every fill below yields distinct ids, the models read a list
# whole (an array or a hash), and a btree over random uuids in the session's small temp buffers made
# the end of a backfill (every run listed) take 14 s to fill 1M ids instead of 0.5 s.
CREATE = [
    "CREATE TEMP TABLE IF NOT EXISTS migrata_batch_runs (run_uuid uuid NOT NULL) ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS migrata_batch_jobs (job_uuid uuid NOT NULL) ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS migrata_batch_days (run_date date PRIMARY KEY) ON COMMIT DELETE ROWS",
]
SETUP = [
    *CREATE,
    "DELETE FROM pg_temp.migrata_batch_runs",
    "DELETE FROM pg_temp.migrata_batch_jobs",
    "DELETE FROM pg_temp.migrata_batch_days",
]
# how a batch names its runs and jobs
FILL_RANGE = (
    "INSERT INTO pg_temp.migrata_batch_runs (run_uuid) SELECT r.uuid FROM lineage_runs r "
    "WHERE (r.first_event_time, r.uuid) > (%(after_time)s::timestamptz, %(after_uuid)s::uuid) "
    "AND (r.first_event_time, r.uuid) <= (%(upto_time)s::timestamptz, %(upto_uuid)s::uuid)"
)
FILL_LIST = "INSERT INTO pg_temp.migrata_batch_runs (run_uuid) SELECT DISTINCT unnest(%(runs)s::uuid[])"
FILL_JOBS = "INSERT INTO pg_temp.migrata_batch_jobs (job_uuid) SELECT DISTINCT unnest(%(jobs)s::uuid[])"
FILL_ALL = "INSERT INTO pg_temp.migrata_batch_runs (run_uuid) SELECT uuid FROM lineage_runs"
FILL_ALL_JOBS = (
    "INSERT INTO pg_temp.migrata_batch_jobs (job_uuid) SELECT DISTINCT job_uuid FROM lineage_job_io"
)
ANALYZE = ["ANALYZE pg_temp.migrata_batch_runs", "ANALYZE pg_temp.migrata_batch_jobs"]
# the days the batch's runs are on before run_lineage_denormalized is replaced (lineage_run_counts_daily)
FILL_OLD_DAYS = (
    "INSERT INTO pg_temp.migrata_batch_days (run_date) SELECT DISTINCT r.run_date "
    "FROM run_lineage_denormalized r JOIN pg_temp.migrata_batch_runs b USING (run_uuid)"
)


def _prologue(fill: Sequence[str], names: Sequence[str]) -> list[str]:
    """Setup, the fill statements and what the models named need before the first of them runs."""
    return [*SETUP, *fill, *ANALYZE, *([FILL_OLD_DAYS] if RUN_COUNTS in names else [])]


@dataclass(frozen=True)
class CompiledModel:
    """One model's compiled batch SELECT and what its materialization needs to apply it."""

    name: str
    sql: str
    unique_key: tuple[str, ...]
    partition_by: str | None = None
    pre_hooks: tuple[str, ...] = ()
    # the model's `partition_by_never_increases` (materialization_partitioned_incremental): a replaced
    # row lies in the partition of its new key or a later one
    never_increases: bool = False


@dataclass(frozen=True)
class LineageModels:
    """The compiled lineage models, and how to have dbt create or evolve their tables."""

    models: tuple[CompiledModel, ...]
    create_tables: Callable[[], None] = field(compare=False)

    def get(self, name: str) -> CompiledModel:
        return next(m for m in self.models if m.name == name)


def _stage(model: CompiledModel) -> sql.Identifier:
    return sql.Identifier(f"_migrata_stage_{model.name}")


def _from_earliest(model: CompiledModel, part: sql.Identifier, stage: sql.Identifier) -> sql.Composable:
    """The old-partition lookup's bound when keys never increase: from the earliest staged key on (the
    executor prunes the earlier partitions) instead of a probe of every partition's unique_key index,
    which costs what the partitions hold and grew with the store (issue 16)."""
    if not model.never_increases:
        return sql.SQL("")
    return sql.SQL(" AND t.{} >= (SELECT min(s.{}) FROM {} s)").format(part, part, stage)


def model_statements(model: CompiledModel, columns: Sequence[str] | None) -> list[tuple[str, sql.Composable]]:
    """(role, statement) of one model's step of a batch, in order; params by name. `columns` are those
    of the model's SELECT (by name: a table dbt evolved may hold them in another order)."""
    table, stage = sql.Identifier(model.name), _stage(model)
    keys = [sql.Identifier(k) for k in model.unique_key]
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns) if columns else sql.SQL("*")
    steps: list[tuple[str, sql.Composable]] = [("hook", sql.SQL(h)) for h in model.pre_hooks]  # type: ignore[arg-type]
    steps.append(
        ("stage", sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS {}").format(stage, sql.SQL(model.sql)))  # type: ignore[arg-type]
    )
    if model.partition_by:
        part, (key,) = sql.Identifier(model.partition_by), keys
        steps += [
            (
                "partitions",
                sql.SQL(
                    "SELECT migrata_ensure_range_partitions({}::regclass, "
                    "(SELECT min({})::timestamp AT TIME ZONE 'UTC' FROM {}), "
                    "(SELECT max({})::timestamp AT TIME ZONE 'UTC' + interval '1 day' FROM {}), 'month')"
                ).format(sql.Literal(model.name), part, stage, part, stage),
            ),
            (
                "old_partitions",
                sql.SQL(
                    "SELECT DISTINCT t.{} FROM {} t WHERE t.{} = any(array(SELECT s.{} FROM {} s)){}"
                ).format(part, table, key, key, stage, _from_earliest(model, part, stage)),
            ),
            (
                "delete",
                sql.SQL(
                    "DELETE FROM {} t WHERE t.{} = any(array(SELECT s.{} FROM {} s)) "
                    "AND t.{} = any(%(old_partitions)s)"
                ).format(table, key, key, stage, part),
            ),
        ]
    else:
        match = sql.SQL(" AND ").join(sql.SQL("t.{} = s.{}").format(k, k) for k in keys)
        steps.append(("delete", sql.SQL("DELETE FROM {} t USING {} s WHERE {}").format(table, stage, match)))
    steps += [
        (
            "insert",
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(table, names, names, stage)
            if columns
            else sql.SQL("INSERT INTO {} SELECT * FROM {}").format(table, stage),
        ),
        ("drop", sql.SQL("DROP TABLE {}").format(stage)),
    ]
    return steps


def statements(
    conn: psycopg.Connection,
    models: LineageModels,
    fill: Sequence[str],
    names: Sequence[str],
    *,
    columns: bool = True,
) -> str:
    """The SQL script a batch runs (for --dry-run): setup, fill, and each model's steps. `columns`
    False: before dbt made the tables and views, the insert's column list is not known yet."""
    lines = _prologue(fill, names)
    with conn.transaction():
        for statement in CREATE:
            conn.execute(statement)
        for name in names:
            model = models.get(name)
            listed = select_columns(conn, model) if columns else None
            lines += [s.as_string(conn) for _, s in model_statements(model, listed)]
    return ";\n".join(lines) + ";"


def _columns(conn: psycopg.Connection, relation: sql.Composable) -> list[str]:
    cur = conn.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(relation))
    return [c.name for c in cur.description or []]


def select_columns(conn: psycopg.Connection, model: CompiledModel) -> list[str]:
    """The columns the model's compiled SELECT returns (needs the batch temp tables)."""
    return _columns(conn, sql.SQL("({}) q").format(sql.SQL(model.sql)))  # type: ignore[arg-type]


def tables_ready(conn: psycopg.Connection, models: LineageModels) -> bool:
    """Whether every model's table exists with the columns (in the order) its compiled SELECT returns."""
    try:
        with conn.transaction():
            for statement in CREATE:
                conn.execute(statement)
            for model in models.models:
                wanted = select_columns(conn, model)
                if not set(wanted) <= set(_columns(conn, sql.Identifier(model.name))):
                    return False
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedFunction):
        return False
    return True


def ensure_tables(conn: psycopg.Connection, models: LineageModels) -> bool:
    """Have dbt create or evolve the models' tables if they are missing or lack columns; True if it ran."""
    if tables_ready(conn, models):
        return False
    models.create_tables()
    if not tables_ready(conn, models):
        from python_ops.errors import MigrataError

        raise MigrataError(
            "the lineage tables do not match their dbt models after a dbt run",
            hint="a table built by an older version has other columns: rebuild it with "
            "`migrata dbt run --target postgres --select fqn:lineage --full-refresh`",
        )
    return True


@dataclass
class BatchResult:
    """Rows written per model and time taken."""

    rows: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0


def apply(
    conn: psycopg.Connection,
    models: LineageModels,
    fill: Sequence[str],
    params: dict[str, Any],
    names: Sequence[str] = MODELS,
    *,
    shared: bool = False,
) -> BatchResult:
    """Run one batch inside the caller's open transaction: `fill` statements name the runs (and jobs).

    `shared`: take run_lineage_denormalized's writer lock (its pre-hook) shared, as the ranges of a
    parallel backfill do (they write disjoint runs); everyone else holds it exclusively.
    """
    started = time.monotonic()
    result = BatchResult()
    with conn.cursor() as cur:
        for statement in _prologue(fill, names):
            cur.execute(statement, params if "%(" in statement else None)
        for name in names:
            model = models.get(name)
            values: dict[str, Any] = {}
            columns = select_columns(conn, model)
            for role, statement in model_statements(model, columns):
                if role == "hook" and shared and name == RLD:
                    statement = sql.SQL(
                        statement.as_string(conn).replace(
                            "pg_advisory_xact_lock(", "pg_advisory_xact_lock_shared("
                        )
                    )  # type: ignore[arg-type]
                cur.execute(statement, values or None)
                if role == "old_partitions":
                    values["old_partitions"] = [row[0] for row in cur.fetchall()]
                elif role == "insert":
                    result.rows[name] = cur.rowcount
    result.elapsed_s = time.monotonic() - started
    return result
