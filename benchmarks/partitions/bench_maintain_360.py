"""Partition maintenance on 10 RANGE tables x 36 monthly partitions with nothing to do (goal < 1 s),
against the first run that created all 360 partitions, measured in the same run.

At xl, the same idle run with 1M and then 10M rows in the tables (goal: flat within 1.5x): nothing to
do must cost the same whatever the tables hold."""

from __future__ import annotations

import psycopg

from benchmarks.common import Figure, Session, p50, timed
from python_ops.engines.context import Engines
from python_ops.partitions import maintain, manage

NAME = "partitions"
XL = True
XL_ROWS = (1_000_000, 10_000_000)  # in all tables together, spread over their 36 months


def _fill(conn: psycopg.Connection, tables: int, rows: int, have: int) -> None:
    """Rows `have`…`rows` (ids, split evenly over the tables), their times spread over the first 34 of the
    premade months (every row in a month partition, none in the default)."""
    per_table = (rows - have) // tables
    start = have // tables
    for t in range(tables):
        conn.execute(
            f"INSERT INTO bench_ev{t} (id, at) SELECT i, date_trunc('month', now()) "
            "+ (i %% 1000000) * interval '1 month' * 34 / 1000000 "
            "FROM generate_series(%s::bigint, %s::bigint - 1) i",
            (start, start + per_table),
        )
        conn.execute(f"VACUUM ANALYZE bench_ev{t}")


def run(session: Session, scale: str) -> list[Figure]:
    tables = 10 if scale in ("full", "xl") else 3
    engines = Engines.from_dsn(session.dsn)
    figures: list[Figure] = []
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
        if scale == "xl":
            have, idle_at = 0, {}
            for rows in XL_ROWS:
                _fill(conn, tables, rows, have)
                have = rows
                for t in range(tables):  # every row in a month partition: nothing to move
                    (default_rows,) = conn.execute(
                        f"SELECT count(*) FROM bench_ev{t}_default"
                    ).fetchone() or (0,)
                    assert default_rows == 0, (t, default_rows)
                assert maintain(engines).status == "nothing-to-do"
                idle_at[rows] = p50(lambda: maintain(engines), repeat=5)
                name = "maintain 10 tables x 36 partitions, nothing to do"
                figures.append(Figure(NAME, name, idle_at[rows], "s", size=rows))
            low, high = XL_ROWS
            figures.append(Figure(NAME, f"maintain, nothing to do, {high // 10**6}M rows in the tables",
                                  idle_at[high], "s", idle_at[low], f"the same with {low // 10**6}M rows",
                                  "flat within 1.5x"))  # fmt: skip
            return figures
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
