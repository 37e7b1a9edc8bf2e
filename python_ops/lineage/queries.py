"""Own the UI queries of the seed (dashboard, job listing with latest state, run history, search),
answered from `run_lineage_denormalized` alone: no join with the normalized tables."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row


def _rows(conn: psycopg.Connection, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()  # type: ignore[arg-type]


def dashboard(conn: psycopg.Connection, days: int = 7) -> list[dict[str, Any]]:
    """Runs per day and state over the last `days` days (only those monthly partitions are read)."""
    return _rows(
        conn,
        """SELECT run_date, state, count(*) AS runs FROM run_lineage_denormalized
            WHERE run_date >= current_date - %s GROUP BY run_date, state ORDER BY run_date, state""",
        (days,),
    )


def job_listing(conn: psycopg.Connection, limit: int = 100) -> list[dict[str, Any]]:
    """Every job with the state and times of its latest run."""
    return _rows(
        conn,
        """SELECT DISTINCT ON (job_uuid) job_uuid, namespace_name, job_name, state AS latest_state,
                  run_uuid AS latest_run_uuid, started_at, ended_at
             FROM run_lineage_denormalized ORDER BY job_uuid, created_at DESC LIMIT %s""",
        (limit,),
    )


def run_history(conn: psycopg.Connection, namespace: str, job: str, limit: int = 50) -> list[dict[str, Any]]:
    """The latest runs of one job (namespace, name), newest first."""
    return _rows(
        conn,
        """SELECT run_uuid, state, created_at, started_at, ended_at, duration_ms, input_count, output_count
             FROM run_lineage_denormalized WHERE job_uuid = migrata_lineage_id('job', %s, %s)
            ORDER BY created_at DESC LIMIT %s""",
        (namespace, job, limit),
    )


def search(conn: psycopg.Connection, text: str, limit: int = 20) -> list[dict[str, Any]]:
    """Jobs and datasets whose name contains `text` (case-insensitive): type, namespace, name."""
    pattern = f"%{text}%"
    return _rows(
        conn,
        """SELECT 'job' AS type, namespace_name AS namespace, job_name AS name FROM run_lineage_denormalized
            WHERE job_name ILIKE %s
           UNION
           SELECT 'dataset', d.ns, d.name FROM run_lineage_denormalized r,
                  unnest(r.input_dataset_namespaces || r.output_dataset_namespaces,
                         r.input_dataset_names || r.output_dataset_names) d(ns, name)
            WHERE d.name ILIKE %s
           ORDER BY 1, 2, 3 LIMIT %s""",
        (pattern, pattern, limit),
    )
