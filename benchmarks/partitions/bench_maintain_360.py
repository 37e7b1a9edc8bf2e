"""Partition maintenance on 10 RANGE tables x 36 monthly partitions with nothing to do (goal < 1 s),
against the first run that created all 360 partitions, measured in the same run."""

from __future__ import annotations

import psycopg

from benchmarks.common import Figure, Session, p50, timed
from python_ops.engines.context import Engines
from python_ops.partitions import maintain, manage

NAME = "partitions"


def run(session: Session, scale: str) -> list[Figure]:
    tables = 10 if scale == "full" else 3
    engines = Engines.from_dsn(session.dsn)
    with psycopg.connect(session.dsn, autocommit=True) as conn:
        for t in range(tables):
            conn.execute(
                f"CREATE TABLE bench_ev{t} (id bigint, at timestamptz NOT NULL) PARTITION BY RANGE (at)"
            )
            conn.execute(f"CREATE TABLE bench_ev{t}_default PARTITION OF bench_ev{t} DEFAULT")
            manage(engines, f"bench_ev{t}", interval="month", premake=35)
        create_s, first = timed(lambda: maintain(engines))
        assert first.ok and first.units_done == 36 * tables
        for t in range(tables):  # keep the 36 partitions, but ask only for the usual 4 ahead
            manage(engines, f"bench_ev{t}", interval="month", premake=4)
        idle = p50(lambda: maintain(engines), repeat=5)
        assert maintain(engines).status == "nothing-to-do"
        sql_idle = p50(lambda: conn.execute("SELECT * FROM migrata_run_maintenance()").fetchall(), repeat=5)
    return [
        Figure(
            "bench_maintain_360",
            f"maintain {tables} tables x 36 partitions, nothing to do",
            idle,
            "s",
            create_s,
            f"first run creating {36 * tables} partitions",
            "< 1 s",
        ),
        Figure(
            "bench_maintain_360",
            "migrata_run_maintenance() in SQL, nothing to do",
            sql_idle,
            "s",
            idle,
            "the CLI/Dagster path (planned, via the runner)",
            "< 1 s",
        ),
    ]
