"""Lineage benchmarks: backfill vs a bare INSERT … SELECT, graph queries denormalized vs normalized,
incremental refresh on top of a large store, ingestion through the CLI, the read API."""

from __future__ import annotations

import sys
from typing import Any

import psycopg

# The floor the read goals name ("within 2x of a bare single-index probe"): one prepared primary-key
# lookup, timed the same way beside the reads in bench_read_api and bench_backfill_runs.
BARE_PROBE = "SELECT uuid, name FROM lineage_jobs WHERE uuid = %s"
# A run-history page's rows (a job's newest 100 runs), unshaped: the floor of that read in bench_read_api,
# and the plan both benchmarks print.
HISTORY_ROWS = (
    "SELECT * FROM run_lineage_denormalized WHERE job_uuid = %s "
    "ORDER BY created_at DESC, run_uuid DESC LIMIT 100"
)


def explain(conn: psycopg.Connection, label: str, query: str, params: Any, *, buffers: bool = False) -> None:
    """The plan a statement ran with, to stderr: row counts per node (and, with `buffers`, the pages found in
    shared buffers vs read from outside them, with each node's time)."""
    options = "ANALYZE, BUFFERS, COSTS OFF" if buffers else "ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF"
    plan = conn.execute(f"EXPLAIN ({options}) " + query, params).fetchall()
    sys.stderr.write(f"--- EXPLAIN {label}\n" + "\n".join(r[0] for r in plan) + "\n")
