"""Own the backfill of the denormalized lineage tables from the normalized store (seed 000, V86).

Chunked by runs in (first event time, run uuid) order through the shared runner: each chunk is one
transaction together with its checkpoint, so an interrupted backfill resumes after the last committed
chunk. Consecutive runs in time order fall into one or two monthly partitions, so a chunk touches few
partitions. Contract B: `estimate_runs` and `backfill` are what the `lineage_0003` revision hands to
`data_migration`, which skips itself above the heavy threshold (default 100K runs) with a warning and
is then run by hand (`migrata lineage backfill --chunk-size N` or `migrata migrate run-pending`).
"""

from __future__ import annotations

from typing import Any

import psycopg

from python_ops.db import connect
from python_ops.errors import PreconditionError
from python_ops.lineage.denorm import RLD, RPLD, denormalize_runs, ensure_tables, table_exists
from python_ops.runner import Batch, Check, Operation, Plan, ProgressCallback, Report, Step, execute

NAME = "lineage_backfill"


def estimate_runs(conn: psycopg.Connection) -> int:
    """How many runs a backfill would denormalize (all runs in the normalized store)."""
    if not table_exists(conn, "lineage_runs"):
        return 0
    row = conn.execute("SELECT count(*) FROM lineage_runs").fetchone()
    return int(row[0]) if row else 0


class LineageBackfill(Operation):
    """Denormalize every run into run_lineage_denormalized / run_parent_lineage_denormalized."""

    name = NAME

    def __init__(self, chunk_size: int = 10_000) -> None:
        if chunk_size < 1:
            raise PreconditionError(
                f"lineage backfill chunk size {chunk_size} is not positive", hint="pass --chunk-size 10000"
            )
        self.chunk_size = chunk_size

    def plan(self, conn: psycopg.Connection) -> Plan:
        if not table_exists(conn, "lineage_runs"):
            raise PreconditionError(
                "table lineage_runs does not exist", hint="run `migrata migrate upgrade lineage` first"
            )
        total = estimate_runs(conn)
        missing = [t for t in (RLD, RPLD) if not table_exists(conn, t)]
        steps = [
            Step(
                f"create partitioned table {t} (RANGE on run_date, monthly, DEFAULT partition)",
                f"CREATE TABLE {t} (...) PARTITION BY RANGE (run_date)",
                f"DROP TABLE {t}",
            )
            for t in missing
        ]
        chunks = -(-total // self.chunk_size)
        steps.append(
            Step(
                f"denormalize {total} runs in {chunks} chunks of {self.chunk_size}, each one transaction",
                "DELETE FROM run_lineage_denormalized t USING <chunk> s WHERE t.run_uuid = s.run_uuid;\n"
                "INSERT INTO run_lineage_denormalized SELECT … FROM lineage_runs …\n"
                "  WHERE (first_event_time, uuid) > (:after) AND (first_event_time, uuid) <= (:upto)",
                None,
            )
        )
        return Plan(
            NAME,
            f"backfill the denormalized lineage tables from {total} runs",
            total,
            "runs",
            steps,
            {"chunk_size": self.chunk_size, "create_tables": missing},
        )

    def run_batch(self, conn: psycopg.Connection, position: Any, plan: Plan) -> Batch:
        if position is None:
            ensure_tables(conn)
        after = tuple(position) if position else None
        # two spellings rather than `IS NULL OR …`, so both walk the (first_event_time, uuid) index
        next_bound = "SELECT first_event_time, uuid FROM lineage_runs {} ORDER BY first_event_time, uuid"
        if after:
            bound = conn.execute(
                next_bound.format("WHERE (first_event_time, uuid) > (%s::timestamptz, %s::uuid)")
                + " OFFSET %s LIMIT 1",
                (after[0], after[1], self.chunk_size - 1),
            ).fetchone()
        else:
            query = next_bound.format("") + " OFFSET %s LIMIT 1"
            bound = conn.execute(query, (self.chunk_size - 1,)).fetchone()
        done = bound is None
        if done:  # the last, partial chunk: up to the newest run
            bound = conn.execute(
                "SELECT first_event_time, uuid FROM lineage_runs"
                " ORDER BY first_event_time DESC, uuid DESC LIMIT 1"
            ).fetchone()
        if bound is None:
            return Batch(0, position, True)
        where = "(r.first_event_time, r.uuid) <= (%(ut)s, %(uu)s)"
        params: dict[str, object] = {"ut": bound[0], "uu": bound[1]}
        if after:
            where += " AND (r.first_event_time, r.uuid) > (%(at)s::timestamptz, %(au)s::uuid)"
            params |= {"at": after[0], "au": after[1]}
        counts = denormalize_runs(conn, where, params)
        return Batch(
            counts[RLD],
            [bound[0].isoformat(), str(bound[1])],
            done,
            {"parent_rows": counts[RPLD]},
        )

    def verify(self, conn: psycopg.Connection, plan: Plan) -> list[Check]:
        if not (table_exists(conn, RLD) and table_exists(conn, RPLD)):
            return [Check("denormalized tables exist", plan.total == 0, plan.total == 0, False)]
        row = conn.execute(
            f"""SELECT (SELECT count(*) FROM lineage_runs),
                       (SELECT count(*) FROM {RLD}),
                       (SELECT count(*) FROM lineage_runs WHERE parent_run_uuid IS NOT NULL),
                       (SELECT count(*) FROM {RPLD}),
                       (SELECT count(*) FROM {RLD}_default) + (SELECT count(*) FROM {RPLD}_default),
                       (SELECT count(*) - count(DISTINCT run_uuid) FROM {RLD})"""
        ).fetchone()
        assert row is not None
        runs, rld, children, rpld, in_default, duplicates = row
        return [
            Check("every run denormalized once", rld == runs, runs, rld),
            Check("every child run in parent lineage", rpld == children, children, rpld),
            Check("no rows in default partitions", in_default == 0, 0, in_default),
            Check("unique run per table", duplicates == 0, 0, duplicates),
        ]


def backfill(
    dsn: str,
    *,
    chunk_size: int = 10_000,
    on_progress: ProgressCallback | None = None,
    dry_run: bool = False,
) -> Report:
    """Backfill the denormalized lineage tables in chunks of `chunk_size` runs (resumable)."""
    with connect(dsn) as conn:
        return execute(LineageBackfill(chunk_size), conn, dry_run=dry_run, on_progress=on_progress)
