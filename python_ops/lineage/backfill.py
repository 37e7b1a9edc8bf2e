"""Own the backfill of the denormalized lineage tables from the normalized store (seed 000, V86).

Chunked by runs in (first event time, run uuid) order through the shared runner: each chunk is one
transaction together with its checkpoint, so an interrupted backfill resumes after the last committed
chunk. A chunk runs the dbt models' compiled SQL for its runs (`python_ops/lineage/batch.py`): the
models are the only definition of the tables. Consecutive runs in time order fall into one or two
monthly partitions, so a chunk touches few partitions. After the chunks, the edge model runs once over
every run and every job's static lineage.

With `workers` > 1 the runs are split into that many contiguous ranges of the same order, each
backfilled by its own connection and checkpoint (`lineage_backfill:1of2`, …). The split is recorded
first (checkpoint `lineage_backfill:parallel`), so a rerun after an interruption resumes the same
ranges even if runs arrived meanwhile: an unfinished range from its checkpoint, a finished one after
its last run. dbt creates the tables and every monthly partition is made before the workers start,
so they never race on DDL; their chunks hold the run table's batch lock shared (they write disjoint
runs), micro-batches and dbt hold it exclusively.

Contract B: `estimate_runs` and `backfill` (called with a DSN) are what the `lineage_0003`/`lineage_0005`
revisions hand to `data_migration`.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg

from python_ops.db import use_autocommit
from python_ops.engines.context import Engines
from python_ops.errors import PreconditionError
from python_ops.lineage import batch
from python_ops.lineage.batch import EDGES, RLD, RPLD, LineageModels
from python_ops.locks import operation_lock
from python_ops.runner import (
    Batch,
    Check,
    Operation,
    Plan,
    ProgressCallback,
    Report,
    Step,
    checkpoints,
    execute,
)

NAME = "lineage_backfill"
PARALLEL = f"{NAME}:parallel"
Key = list[str]  # a run's position in backfill order: [first_event_time ISO, uuid]
_OPEN = ["-infinity", "00000000-0000-0000-0000-000000000000"]
_CHUNK_MODELS = (RLD, RPLD)


def table_exists(conn: psycopg.Connection, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def estimate_runs(conn: psycopg.Connection) -> int:
    """How many runs a backfill would denormalize (all runs in the normalized store)."""
    if not table_exists(conn, "lineage_runs"):
        return 0
    row = conn.execute("SELECT count(*) FROM lineage_runs").fetchone()
    return int(row[0]) if row else 0


def _dry_sql(conn: psycopg.Connection, models: LineageModels, fill: list[str], names: tuple[str, ...]) -> str:
    try:
        return batch.statements(conn, models, fill, names)
    except psycopg.errors.UndefinedTable:  # a fresh store: dbt makes the tables and views first
        note = "-- dbt first creates the models' tables and views (dbt run, var migrata_empty)\n"
        return note + batch.statements(conn, models, fill, names, columns=False)


class LineageBackfill(Operation):
    """Denormalize every run into run_lineage_denormalized / run_parent_lineage_denormalized."""

    def __init__(
        self,
        models: LineageModels,
        chunk_size: int,
        *,
        lower: Key | None = None,
        upper: Key | None = None,
        part: str | None = None,
        shared: bool = False,
    ) -> None:
        """`lower` < run <= `upper` in backfill order (open ends: every run); `part` names a range."""
        if chunk_size < 1:
            raise PreconditionError(
                f"lineage backfill chunk size {chunk_size} is not positive", hint="pass --chunk-size 10000"
            )
        self.models = models
        self.chunk_size = chunk_size
        self.lower, self.upper = lower, upper
        self.shared = shared
        self.name = f"{NAME}:{part}" if part else NAME

    def _range(
        self, lower: Key | None, time: str = "first_event_time", run: str = "uuid"
    ) -> tuple[str, list[object]]:
        """SQL (AND-ed conditions, or `true`) and params selecting the runs after `lower` up to this
        operation's upper bound, in lineage_runs (default) or in a denormalized table (`created_at`,
        `run_uuid`). Open ends add no condition (no `IS NULL OR …`, which would not use the index)."""
        cols = f"({time}, {run})"
        parts, params = ["true"], []
        if lower:
            parts.append(f"{cols} > (%s::timestamptz, %s::uuid)")
            params += lower
        if self.upper:
            parts.append(f"{cols} <= (%s::timestamptz, %s::uuid)")
            params += self.upper
        return " AND ".join(parts), params

    def plan(self, conn: psycopg.Connection) -> Plan:
        if not table_exists(conn, "lineage_runs"):
            raise PreconditionError(
                "table lineage_runs does not exist", hint="run `migrata migrate upgrade lineage` first"
            )
        where, params = self._range(self.lower)
        row = conn.execute(f"SELECT count(*) FROM lineage_runs WHERE {where}", params).fetchone()
        total = int(row[0]) if row else 0
        chunks = -(-total // self.chunk_size)
        steps = [
            Step(
                f"denormalize {total} runs in {chunks} chunks of {self.chunk_size}, each one transaction: "
                "the models' compiled SQL for the chunk's runs",
                _dry_sql(conn, self.models, [batch.FILL_RANGE], _CHUNK_MODELS),
                None,
            ),
            Step(
                "then the edge model and the read-serving models (latest run per job, daily run counts) "
                "once over every run and every job's static lineage",
                _dry_sql(conn, self.models, [batch.FILL_ALL, batch.FILL_ALL_JOBS], batch.WHOLE_STORE_MODELS),
                None,
            ),
        ]
        return Plan(NAME, f"backfill the denormalized lineage tables from {total} runs", total, "runs", steps,
                    {"chunk_size": self.chunk_size})  # fmt: skip

    def run_batch(self, conn: psycopg.Connection, position: Any, plan: Plan) -> Batch:
        after = list(position) if position else self.lower
        # the runs after `after` (up to `upper`) in backfill order, along the (first_event_time, uuid) index
        where, params = self._range(after)
        bound = conn.execute(
            f"SELECT first_event_time, uuid FROM lineage_runs WHERE {where} "
            "ORDER BY first_event_time, uuid OFFSET %s LIMIT 1",
            [*params, self.chunk_size - 1],
        ).fetchone()
        done = bound is None
        if done:  # the last, partial chunk: up to the last run of the range
            bound = conn.execute(
                f"SELECT first_event_time, uuid FROM lineage_runs WHERE {where} "
                "ORDER BY first_event_time DESC, uuid DESC LIMIT 1",
                params,
            ).fetchone()
        if bound is None:
            return Batch(0, position, True)
        lower = after or _OPEN
        values = {
            "after_time": lower[0],
            "after_uuid": lower[1],
            "upto_time": bound[0],
            "upto_uuid": bound[1],
        }
        result = batch.apply(conn, self.models, [batch.FILL_RANGE], values, _CHUNK_MODELS, shared=self.shared)
        return Batch(
            result.rows[RLD],
            [bound[0].isoformat(), str(bound[1])],
            done,
            {"parent_rows": result.rows[RPLD]},
        )

    def verify(self, conn: psycopg.Connection, plan: Plan) -> list[Check]:
        if not (table_exists(conn, RLD) and table_exists(conn, RPLD)):
            return [Check("denormalized tables exist", plan.total == 0, plan.total == 0, False)]
        runs_in, params = self._range(self.lower)
        rows_in, _ = self._range(self.lower, "created_at", "run_uuid")
        row = conn.execute(
            f"""SELECT (SELECT count(*) FROM lineage_runs WHERE {runs_in}),
                       (SELECT count(*) FROM {RLD} WHERE {rows_in}),
                       (SELECT count(*) FROM lineage_runs WHERE parent_run_uuid IS NOT NULL AND {runs_in}),
                       (SELECT count(*) FROM {RPLD} WHERE {rows_in}),
                       (SELECT count(*) FROM {RLD}_default) + (SELECT count(*) FROM {RPLD}_default),
                       (SELECT count(*) - count(DISTINCT run_uuid) FROM {RLD})""",
            params * 4,
        ).fetchone()
        assert row is not None
        runs, rld, children, rpld, in_default, duplicates = row
        return [
            Check("every run denormalized once", rld == runs, runs, rld),
            Check("every child run in parent lineage", rpld == children, children, rpld),
            Check("no rows in default partitions", in_default == 0, 0, in_default),
            Check("unique run per table", duplicates == 0, 0, duplicates),
        ]


def build_whole_store(conn: psycopg.Connection, models: LineageModels) -> dict[str, int]:
    """Run the edge model and the read-serving models (latest run per job, daily run counts) once over
    every run and every job's static lineage; return rows written per model."""
    with conn.transaction():
        result = batch.apply(
            conn, models, [batch.FILL_ALL, batch.FILL_ALL_JOBS], {}, batch.WHOLE_STORE_MODELS
        )
    return result.rows


def _split(conn: psycopg.Connection, workers: int) -> list[Key | None]:
    """`workers` + 1 bounds cutting the runs into ranges of about equal size (open ends: None)."""
    total = estimate_runs(conn)
    bounds: list[Key | None] = [None]
    for k in range(1, workers):
        row = conn.execute(
            "SELECT first_event_time, uuid FROM lineage_runs ORDER BY first_event_time, uuid "
            "OFFSET %s LIMIT 1",
            (k * total // workers,),
        ).fetchone()
        if row is not None and (key := [row[0].isoformat(), str(row[1])]) != bounds[-1]:
            bounds.append(key)
    return [*bounds, None]


def _parts(bounds: list[Key | None]) -> list[str]:
    """The names of the ranges between `bounds`: `1of2`, `2of2`, …"""
    return [f"{k + 1}of{len(bounds) - 1}" for k in range(len(bounds) - 1)]


def _prepare(conn: psycopg.Connection, models: LineageModels) -> None:
    """The tables (by dbt) and every monthly partition the runs need, before workers insert concurrently."""
    batch.ensure_tables(conn, models)
    span = conn.execute(
        "SELECT min(first_event_time), max(first_event_time) + interval '1 day' FROM lineage_runs"
    ).fetchone()
    if span and span[0] is not None:
        for table in (RLD, RPLD):
            conn.execute(
                "SELECT migrata_ensure_range_partitions(%s::regclass, %s, %s, 'month')", (table, *span)
            )


def _parallel(
    engines: Engines,
    models: LineageModels,
    chunk_size: int,
    workers: int,
    on_progress: ProgressCallback | None,
    dry_run: bool,
) -> Report:
    """Backfill `workers` ranges of runs at once, each resumable on its own; one report for all."""
    started = time.monotonic()
    with engines.connect(autocommit=True) as conn:
        saved = checkpoints.load(conn, PARALLEL)
        resuming = saved is not None and saved.status == "running"
        bounds = saved.position if resuming else _split(conn, workers)  # resume the ranges begun
        parts = _parts(bounds)
        finished: dict[str, Key] = {}  # the ranges of this backfill already done: their last run
        for part in parts if resuming else []:
            state = checkpoints.load(conn, f"{NAME}:{part}")
            if state is not None and state.status == "done" and state.position:
                finished[part] = state.position
        if not dry_run:
            _prepare(conn, models)
            with conn.transaction():
                if not resuming:
                    # a new split: the ranges of an earlier backfill are not this one's to resume
                    for part in _parts(saved.position) if saved is not None else []:
                        checkpoints.clear(conn, f"{NAME}:{part}")
                    checkpoints.start(conn, PARALLEL)
                    checkpoints.advance(conn, PARALLEL, bounds, 0)
    ops = [
        LineageBackfill(
            models,
            chunk_size,
            lower=finished.get(part, bounds[k]),
            upper=bounds[k + 1],
            part=part,
            shared=True,
        )
        for k, part in enumerate(parts)
    ]

    def run(op: LineageBackfill) -> Report:
        with engines.connect() as part_conn:
            return execute(op, part_conn, dry_run=dry_run, on_progress=on_progress)

    with ThreadPoolExecutor(len(ops)) as pool:
        reports = list(pool.map(run, ops))
    with engines.connect(autocommit=True) as conn:
        whole = LineageBackfill(models, chunk_size)
        plan = whole.plan(conn)
        plan.details |= {"workers": len(ops), "ranges": bounds}
        if dry_run:
            return Report(NAME, "dry-run", plan, elapsed_s=time.monotonic() - started)
        checks = [c for r in reports for c in r.checks if not c.ok] + whole.verify(conn, plan)
        ok = all(r.ok for r in reports) and all(c.ok for c in checks)
        edges = build_whole_store(conn, models)[EDGES] if ok else 0
        with conn.transaction():
            checkpoints.finish(conn, PARALLEL, "done" if ok else "failed")
    resumed = {f"{NAME}:{part}": last for part, last in finished.items()}
    resumed |= {r.operation: r.resumed_from for r in reports if r.resumed_from is not None}
    return Report(
        NAME,
        "ok" if ok else "failed",
        plan,
        units_done=sum(r.units_done for r in reports),
        batches=sum(r.batches for r in reports),
        resumed_from=resumed or None,
        checks=checks,
        elapsed_s=time.monotonic() - started,
        details={
            "workers": len(ops),
            "parent_rows": sum(int(r.details.get("parent_rows", 0)) for r in reports),
            "edges": edges,
        },
    )


def _for_migration(dsn: str, *, chunk_size: int, on_progress: ProgressCallback | None) -> Report:
    """Contract B of lineage_0003/lineage_0005: settings read here (a migration is an edge)."""
    from python_ops.lineage.compiled import lineage_models
    from python_ops.settings import load_settings

    settings = load_settings()
    settings = settings.model_copy(update={"postgres": settings.postgres.model_copy(update={"dsn": dsn})})
    engines = Engines.from_dsn(dsn)
    with engines.connect(autocommit=True) as conn:
        ready = conn.execute("SELECT to_regclass('lineage_run_states') IS NOT NULL").fetchone()
        runs = estimate_runs(conn)
    if not (ready and ready[0]) or runs == 0:
        # before lineage_0004 (lineage_0005 rebuilds with the new ids), or nothing to denormalize
        plan = Plan(NAME, "nothing to backfill at this revision", 0, "runs")
        return Report(NAME, "nothing-to-do", plan)
    return backfill(engines, models=lineage_models(settings), chunk_size=chunk_size, on_progress=on_progress)


def backfill(
    engines: Engines | str,
    *,
    models: LineageModels | None = None,
    chunk_size: int,
    workers: int = 1,
    on_progress: ProgressCallback | None = None,
    dry_run: bool = False,
    wait: bool = False,
) -> Report:
    """Backfill the denormalized lineage tables in chunks of `chunk_size` runs (resumable), with
    `workers` connections each doing a range of the runs, then build the edges.

    Holds the `lineage_backfill` operation lock for the run (fails at once if held, or `wait`s). Given
    a DSN instead of `Engines` (contract B of the data migrations) it reads the settings itself.
    """
    if isinstance(engines, str):
        return _for_migration(engines, chunk_size=chunk_size, on_progress=on_progress)
    assert models is not None, "backfill needs the compiled lineage models (python_ops.lineage.compiled)"
    if workers < 1:
        raise PreconditionError(
            f"lineage backfill workers {workers} is not positive", hint="pass --workers 2"
        )
    if chunk_size < 1:
        raise PreconditionError(
            f"lineage backfill chunk size {chunk_size} is not positive", hint="pass --chunk-size 10000"
        )
    with operation_lock(engines, NAME, "lineage", wait=wait):
        if workers > 1:
            return _parallel(engines, models, chunk_size, workers, on_progress, dry_run)
        with engines.connect() as conn:
            use_autocommit(conn)
            if not dry_run and estimate_runs(conn):
                batch.ensure_tables(conn, models)
            report = execute(
                LineageBackfill(models, chunk_size), conn, dry_run=dry_run, on_progress=on_progress
            )
            if report.status == "ok":
                rows = build_whole_store(conn, models)
                report.details["edges"] = rows[EDGES]
                report.details["jobs_latest"] = rows[batch.JOBS_LATEST]
                report.details["run_count_rows"] = rows[batch.RUN_COUNTS]
            return report
