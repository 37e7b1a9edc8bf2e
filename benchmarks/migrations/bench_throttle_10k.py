"""A throttled run-pending at 10K rows/s for 60 s (small: 10 s): the rate held over the whole run and in
every 10 s window (goal: within ±10% of 10K), against the same data migration unthrottled in the same run.
"""

from __future__ import annotations

import time

import psycopg

from benchmarks.common import Figure, Session, timed
from benchmarks.migrations.bench_runpending_1m import TABLE, _reset
from python_ops.migrations import run_pending
from python_ops.runner import Progress

NAME = "bench_throttle_10k"
RATE = 10_000
WINDOW_S = 10.0


def run(session: Session, scale: str) -> list[Figure]:
    seconds = 60 if scale == "full" else 10
    rows = RATE * seconds
    with psycopg.connect(session.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {TABLE} (id bigint PRIMARY KEY, v integer NOT NULL, doubled integer)")
        conn.execute(
            f"INSERT INTO {TABLE} (id, v) SELECT g, g %% 1000 FROM generate_series(1, %s) g", (rows,)
        )
        conn.execute(f"VACUUM ANALYZE {TABLE}")
        _reset(conn, rows)
        free_s, _ = timed(lambda: run_pending(session.dsn, chunk_size=1_000))
        _reset(conn, rows)

        marks: list[tuple[float, int]] = []

        def mark(event: Progress) -> None:
            if event.phase == "run":
                marks.append((time.monotonic(), event.done))

        throttled_s, reports = timed(
            lambda: run_pending(session.dsn, chunk_size=1_000, max_rows_per_second=RATE, on_progress=mark)
        )
    report = reports[0]
    assert report.ok and report.units_done == rows, report.summary()
    # the rate from the first committed batch to the last (the throttle's schedule starts at the first)
    (t0, d0), (t1, d1) = marks[0], marks[-1]
    overall = (d1 - d0) / (t1 - t0)
    windows = []
    start = 0
    for i, (t, _done) in enumerate(marks):
        if t - marks[start][0] >= WINDOW_S:
            windows.append((marks[i][1] - marks[start][1]) / (t - marks[start][0]))
            start = i
    figures = [
        Figure(NAME, f"throttled run-pending, {rows:,} rows at {RATE:,} rows/s, rate over the run", overall,
               "rows/s", rows / free_s, "the same run-pending unthrottled", f"{RATE:,} ±10%"),
        Figure(NAME, f"throttled run-pending, wall time for {rows:,} rows", throttled_s, "s", rows / RATE,
               "rows / target rate", "±10%"),
    ]  # fmt: skip
    if windows:
        figures.append(
            Figure(NAME, f"slowest / fastest {WINDOW_S:.0f} s window ({len(windows)} windows)", min(windows),
                   "rows/s", max(windows), "fastest window", f"{RATE:,} ±10% each")
        )  # fmt: skip
    return figures
