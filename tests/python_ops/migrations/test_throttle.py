"""Throttled heavy data migrations: a rate cap, a pause on a lag/load signal, and rate + ETA in progress.

Timing here is only ever a lower bound (a throttle can only make a run slower); the rate held over
60 s is measured in benchmarks/migrations/bench_throttle_10k.py.
"""

from __future__ import annotations

import logging
import time

import psycopg
import pytest

from python_ops import migrations
from python_ops.errors import ConfigError
from python_ops.migrations.throttle import Pause, Throttle, replication_lag
from python_ops.runner import LogProgress, Progress


def _deferred(dsn: str, conn: psycopg.Connection, rows: int) -> None:
    migrations.migrate(dsn, "demoplug@demoplug_0001")
    conn.execute("INSERT INTO demoplug_items (id, v) SELECT g, g FROM generate_series(1, %s) g", (rows,))
    migrations.migrate(dsn, "demoplug@demoplug_0002", heavy="defer")


def _status(conn: psycopg.Connection) -> str:
    return conn.execute(
        "SELECT status FROM migrata_pending_migrations WHERE name = 'demoplug_double'"
    ).fetchone()[0]


def test_rate_cap_paces_the_batches_and_progress_carries_rate_and_eta(demoplug, dsn, conn):
    _deferred(dsn, conn, 300)
    events: list[Progress] = []
    started = time.monotonic()
    (report,) = migrations.run_pending(
        dsn, chunk_size=20, max_rows_per_second=1000, on_progress=events.append
    )
    elapsed = time.monotonic() - started
    assert report.ok and report.units_done == 300 and report.batches == 16  # the last one empty
    # the schedule starts at the first committed batch: the other 280 rows take at least 0.28 s
    assert elapsed >= 0.28
    runs = [e for e in events if e.phase == "run"]
    assert all(e.rate is not None and e.rate > 0 for e in runs)
    assert runs[-1].eta_s == 0 and runs[0].eta_s is not None and runs[0].eta_s > 0
    assert runs[-1].rate is not None and runs[-1].rate <= 300 / 0.28  # paced, not free-running
    assert "rows/s, ETA" in runs[3].pace()

    class Lines:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def info(self, message: str) -> None:
            self.lines.append(message)

    log = Lines()
    LogProgress(log, every_s=0)(runs[3])  # the log line Dagster and non-TTY runs show
    assert log.lines[0].startswith("demoplug_double: batch 4, 80/300 rows (27%), ")
    assert log.lines[0].endswith(runs[3].pace()) and ", ETA 0:0" in log.lines[0]


def test_pause_while_the_signal_is_high_then_resume(demoplug, dsn, conn, caplog):
    _deferred(dsn, conn, 60)
    readings = iter([9.0, 9.0, 9.0] + [0.0] * 100)  # high at the first batch only
    events: list[Progress] = []
    pause = Pause(lambda: next(readings), 5.0, name="load", unit="", poll_s=0.05)
    with caplog.at_level(logging.WARNING, logger="migrata.migrations"):
        (report,) = migrations.run_pending(dsn, chunk_size=20, pause=pause, on_progress=events.append)
    assert report.ok and report.units_done == 60
    paused = [e for e in events if e.message.startswith("paused: load 9")]
    assert len(paused) == 1 and paused[0].done == 20  # after the first batch had committed
    assert "resuming after" in caplog.text
    # the rows of the paused batch were committed before the wait: nothing held open meanwhile
    assert conn.execute("SELECT count(*) FROM demoplug_items WHERE doubled = v * 2").fetchone()[0] == 60


def test_replication_lag_is_zero_without_a_standby(conn):
    assert replication_lag(conn)() == 0.0


def test_throttle_does_not_burst_to_catch_up_after_a_slow_batch():
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    throttle = Throttle(max_rows_per_second=100, sleep=sleep, clock=lambda: now[0])
    for done, at in ((10, 0.1), (20, 0.15), (30, 5.0), (40, 5.01)):
        now[0] = max(now[0], at)
        throttle(Progress("op", "run", done, 100, "rows"))
    # 10 rows 0.05 s after the first batch: sleep to 0.2; then slow (5 s): the schedule restarts, so
    # the next 10 rows wait their own 0.1 s instead of running free to catch up
    assert slept == pytest.approx([0.05, 0.09])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chunk_size": 0}, "placeholder chunk_size='0' is not an integer >= 1"),
        ({"max_rows_per_second": 0}, "placeholder max_rows_per_second='0' is not a number > 0"),
        ({"max_replication_lag_s": -1}, "placeholder max_replication_lag_s='-1' is not a number > 0"),
    ],
)
def test_bad_throttle_values_are_refused_before_anything_is_marked(demoplug, dsn, conn, kwargs, message):
    _deferred(dsn, conn, 10)
    with pytest.raises(ConfigError, match=message):
        migrations.run_pending(dsn, **kwargs)
    assert _status(conn) == "pending"
