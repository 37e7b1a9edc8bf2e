"""Contract B: heavy data migrations run now when small, are deferred above the threshold, run later."""

from __future__ import annotations

import psycopg
import pytest

from python_ops import migrations
from python_ops.errors import MigrataError
from python_ops.migrations.heavy import data_migration


def _items(conn: psycopg.Connection, n: int) -> None:
    conn.execute("INSERT INTO demoplug_items (id, v) SELECT g, g FROM generate_series(1, %s) g", (n,))


def _record(conn: psycopg.Connection) -> tuple:
    return conn.execute(
        "SELECT status, estimated, threshold, rows_done, revision FROM migrata_pending_migrations"
        " WHERE name = 'demoplug_double'"
    ).fetchone()


def test_small_data_migration_runs_now_with_the_chunk_size_placeholder(demoplug, dsn, conn):
    migrations.migrate(dsn, "demoplug@demoplug_0001")
    _items(conn, 50)
    result = migrations.migrate(dsn, "demoplug@demoplug_0002", chunk_size=7)
    assert result.applied == ["demoplug_0002"] and result.warnings == []
    assert conn.execute("SELECT count(*) FROM demoplug_items WHERE doubled = v * 2").fetchone()[0] == 50
    assert _record(conn) == ("done", 50, 100_000, 50, "demoplug_0002")
    # 50 rows in chunks of 7: 8 batches, so chunk_size reached the callable
    batches = conn.execute(
        "SELECT batches FROM migrata_checkpoints WHERE operation = 'demoplug_double'"
    ).fetchone()[0]
    assert batches == 8
    assert migrations.current(dsn)["demoplug"] == "demoplug_0002"


def test_heavy_data_migration_is_deferred_then_run_pending_runs_it(demoplug, dsn, conn):
    migrations.migrate(dsn, "demoplug@demoplug_0001")
    _items(conn, 50)
    result = migrations.migrate(dsn, "demoplug@demoplug_0002", heavy_threshold=10)
    assert len(result.warnings) == 1 and "demoplug_double" in result.warnings[0]
    assert "run-pending --set chunk_size=N" in result.warnings[0]
    # recorded as pending, nothing migrated, yet the revision is applied
    assert _record(conn)[:3] == ("pending", 50, 10)
    assert conn.execute("SELECT count(*) FROM demoplug_items WHERE doubled IS NULL").fetchone()[0] == 50
    assert migrations.current(dsn)["demoplug"] == "demoplug_0002"
    recorded = {d["name"]: d["status"] for d in migrations.status(dsn).data_migrations}
    assert recorded["demoplug_double"] == "pending"

    events = []
    reports = migrations.run_pending(dsn, chunk_size=20, on_progress=events.append)
    assert [r.units_done for r in reports] == [50] and reports[0].batches == 3
    assert any(e.phase == "run" for e in events)
    assert _record(conn)[0] == "done"
    assert conn.execute("SELECT count(*) FROM demoplug_items WHERE doubled = v * 2").fetchone()[0] == 50
    assert migrations.run_pending(dsn) == []  # nothing left


def test_downgrade_forgets_the_record(demoplug, dsn, conn):
    migrations.migrate(dsn, "demoplug@demoplug_0002", heavy_threshold=0, heavy="defer")
    assert _record(conn)[0] == "pending"
    migrations.downgrade(dsn, "demoplug@demoplug_0001")
    assert _record(conn) is None


def test_data_migration_outside_a_run_is_refused():
    with pytest.raises(MigrataError, match="outside a migration run"):
        data_migration("x", estimate="a:b", run="a:c")


def test_killed_run_pending_resumes_where_it_stopped(demoplug, dsn, conn):
    """A run-pending killed (SIGKILL) in the middle continues from its last committed chunk."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import plugin_support

    migrations.migrate(dsn, "demoplug@demoplug_0001")
    _items(conn, 100)
    migrations.migrate(dsn, "demoplug@demoplug_0002", heavy_threshold=10)
    env = os.environ | {
        "MIGRATA_POSTGRES__DSN": dsn,
        "MIGRATA_DEMOPLUG_SLEEP": "0.2",
        "PYTHONPATH": plugin_support.python_path(demoplug),
    }
    cli = "from python_ops.cli.app import main; main()"
    args = ["--quiet", "migrate", "run-pending", "--set", "chunk_size=10"]
    proc = subprocess.Popen([sys.executable, "-c", cli, *args], env=env)
    try:
        deadline = time.monotonic() + 30
        batches = 0
        while time.monotonic() < deadline and batches < 3:
            row = conn.execute(
                "SELECT batches FROM migrata_checkpoints WHERE operation = 'demoplug_double'"
            ).fetchone()
            batches = row[0] if row else 0
            time.sleep(0.05)
        assert batches >= 3, "the run did not start"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done_before = conn.execute("SELECT count(*) FROM demoplug_items WHERE doubled IS NOT NULL").fetchone()[0]
    assert 0 < done_before < 100
    assert _record(conn)[0] == "running"

    (report,) = migrations.run_pending(dsn, chunk_size=10)
    assert report.resumed_from is not None and report.resumed_from >= 30
    assert report.units_done == 100 and report.ok
    assert _record(conn)[0] == "done"
    assert conn.execute("SELECT count(*) FROM demoplug_items WHERE doubled = v * 2").fetchone()[0] == 100
