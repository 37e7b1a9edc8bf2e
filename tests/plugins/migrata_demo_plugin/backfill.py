"""The plugin's data migration: fill `demoplug_items.doubled = v * 2` in chunks through migrata's runner.

`MIGRATA_DEMOPLUG_SLEEP` (seconds per chunk) lets a test kill a run in the middle.
"""

from __future__ import annotations

import os
import time
from typing import Any

import psycopg

from python_ops.db import connect
from python_ops.runner import Batch, Check, Operation, Plan, ProgressCallback, Report, execute


def estimate(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM demoplug_items WHERE doubled IS NULL").fetchone()
    return int(row[0]) if row else 0


class _Double(Operation):
    name = "demoplug_double"

    def __init__(self, chunk_size: int) -> None:
        self.chunk_size = chunk_size

    def plan(self, conn: psycopg.Connection) -> Plan:
        return Plan(self.name, "fill demoplug_items.doubled", estimate(conn), "rows")

    def run_batch(self, conn: psycopg.Connection, position: Any, plan: Plan) -> Batch:
        after = int(position or 0)
        rows = conn.execute(
            """UPDATE demoplug_items SET doubled = v * 2 WHERE id IN (
                   SELECT id FROM demoplug_items WHERE id > %s ORDER BY id LIMIT %s)
               RETURNING id""",
            (after, self.chunk_size),
        ).fetchall()
        time.sleep(float(os.environ.get("MIGRATA_DEMOPLUG_SLEEP", "0")))
        last = max((r[0] for r in rows), default=after)
        return Batch(len(rows), last, len(rows) < self.chunk_size)

    def verify(self, conn: psycopg.Connection, plan: Plan) -> list[Check]:
        row = conn.execute(
            "SELECT count(*) FROM demoplug_items WHERE doubled IS DISTINCT FROM v * 2"
        ).fetchone()
        wrong = int(row[0]) if row else -1
        return [Check("every row doubled", wrong == 0, 0, wrong)]


def run(dsn: str, *, chunk_size: int, on_progress: ProgressCallback | None = None) -> Report:
    with connect(dsn) as conn:
        return execute(_Double(chunk_size), conn, on_progress=on_progress)
