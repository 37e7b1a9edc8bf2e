"""run-pending of a heavy data migration on 1M rows (small: 100K) in chunks of 10K and 50K, each chunk its
own transaction with its checkpoint, against one plain UPDATE of every row measured in the same run."""

from __future__ import annotations

from typing import Any

import psycopg

from benchmarks.common import Figure, Session, timed
from python_ops.migrations import pending, run_pending
from python_ops.runner import Batch, Check, Operation, Plan, ProgressCallback, Report, execute

NAME = "bench_runpending_1m"
TABLE = "bench_migration_items"


def estimate(conn: psycopg.Connection) -> int:
    row = conn.execute(f"SELECT count(*) FROM {TABLE} WHERE doubled IS NULL").fetchone()
    return int(row[0]) if row else 0


class _Double(Operation):
    name = "bench_double"

    def __init__(self, chunk_size: int) -> None:
        self.chunk_size = chunk_size

    def plan(self, conn: psycopg.Connection) -> Plan:
        return Plan(self.name, f"fill {TABLE}.doubled", estimate(conn), "rows")

    def run_batch(self, conn: psycopg.Connection, position: Any, plan: Plan) -> Batch:
        after = int(position or 0)
        # keyset: find the chunk's upper id on the primary key, then one index range update
        row = conn.execute(
            f"SELECT id FROM {TABLE} WHERE id > %s ORDER BY id OFFSET %s LIMIT 1",
            (after, self.chunk_size - 1),
        ).fetchone()
        upper = row[0] if row else None
        if upper is None:
            cur = conn.execute(f"UPDATE {TABLE} SET doubled = v * 2 WHERE id > %s", (after,))
            return Batch(cur.rowcount, after, True)
        cur = conn.execute(f"UPDATE {TABLE} SET doubled = v * 2 WHERE id > %s AND id <= %s", (after, upper))
        return Batch(cur.rowcount, int(upper), False)

    def verify(self, conn: psycopg.Connection, plan: Plan) -> list[Check]:
        row = conn.execute(f"SELECT count(*) FROM {TABLE} WHERE doubled IS DISTINCT FROM v * 2").fetchone()
        wrong = int(row[0]) if row else -1
        return [Check("every row doubled", wrong == 0, 0, wrong)]


def run_double(dsn: str, *, chunk_size: int, on_progress: ProgressCallback | None = None) -> Report:
    with psycopg.connect(dsn) as conn:
        return execute(_Double(chunk_size), conn, on_progress=on_progress)


def _reset(conn: psycopg.Connection, rows: int) -> None:
    conn.execute(f"UPDATE {TABLE} SET doubled = NULL")
    conn.execute("DELETE FROM migrata_checkpoints WHERE operation = 'bench_double'")
    conn.execute("VACUUM " + TABLE)
    pending.record(
        conn,
        name="bench_double",
        revision=None,
        status="pending",
        estimate_path=f"benchmarks.migrations.{NAME}:estimate",
        run_path=f"benchmarks.migrations.{NAME}:run_double",
        estimated=rows,
        threshold=100_000,
    )


def run(session: Session, scale: str) -> list[Figure]:
    rows = 1_000_000 if scale == "full" else 100_000
    with psycopg.connect(session.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {TABLE} (id bigint PRIMARY KEY, v integer NOT NULL, doubled integer)")
        conn.execute(
            f"INSERT INTO {TABLE} (id, v) SELECT g, g %% 1000 FROM generate_series(1, %s) g", (rows,)
        )
        conn.execute(f"VACUUM ANALYZE {TABLE}")
        conn.execute(f"UPDATE {TABLE} SET doubled = NULL")  # warm the table once
        baseline, _ = timed(lambda: conn.execute(f"UPDATE {TABLE} SET doubled = v * 2"))
        figures = []
        for chunk in (10_000, 50_000):
            _reset(conn, rows)
            seconds, reports = timed(lambda chunk=chunk: run_pending(session.dsn, chunk_size=chunk))
            assert reports[0].ok and reports[0].units_done == rows, reports[0].summary()
            figures.append(
                Figure(
                    NAME,
                    f"run-pending {rows:,} rows, chunk {chunk:,} ({reports[0].batches} committed chunks)",
                    seconds,
                    "s",
                    baseline,
                    "one UPDATE of every row (one long transaction, no resume)",
                    "< 3x the single UPDATE",
                )
            )
    return figures
