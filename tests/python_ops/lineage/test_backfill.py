"""Backfill of the denormalized tables: chunked, resumable after an interruption, same rows as dbt,
auto-skip above the heavy threshold (contract B), migrations down and up again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from python_ops import migrations
from python_ops.engines.context import Engines
from python_ops.lineage.backfill import backfill, estimate_runs
from python_ops.lineage.batch import LineageModels
from python_ops.lineage.ingest import ingest_events
from python_ops.runner import Progress
from tests.python_ops.lineage.legacy_store import legacy_ingest


def _run_events(n: int, months: int = 3, base: datetime = datetime(2025, 11, 3, tzinfo=UTC)) -> list[dict]:
    events = []
    parent = str(uuid.uuid4())
    for i in range(n):
        run = parent if i == 0 else str(uuid.uuid4())
        t = base + timedelta(days=(i * 30 * months) // n, minutes=i)
        facets = (
            {}
            if i % 5 or i == 0
            else {"parent": {"run": {"runId": parent}, "job": {"namespace": "ns", "name": "job_0"}}}
        )
        for kind, dt in (("START", t), ("COMPLETE", t + timedelta(minutes=3))):
            events.append(
                {
                    "eventType": kind,
                    "eventTime": dt.isoformat(),
                    "run": {"runId": run, "facets": facets},
                    "job": {"namespace": "ns", "name": f"job_{i % 7}"},
                    "inputs": [
                        {"namespace": "ns", "name": f"ds_{i % 11}"},
                        {"namespace": "ns", "name": f"ds_{i % 3}"},
                    ],
                    "outputs": [{"namespace": "ns", "name": f"ds_{(i % 11) + 1}"}],
                }
            )
    return events


def _make_runs(
    conn: psycopg.Connection, n: int, months: int = 3, base: datetime = datetime(2025, 11, 3, tzinfo=UTC)
) -> None:
    assert ingest_events(conn, _run_events(n, months, base)).ok


def test_backfill_is_chunked_resumable_and_verified(
    engines: Engines, models: LineageModels, conn: psycopg.Connection
) -> None:
    _make_runs(conn, 95)
    assert estimate_runs(conn) == 95
    dry = backfill(engines, models=models, chunk_size=20, dry_run=True)
    assert dry.status == "dry-run" and dry.plan.total == 95
    assert conn.execute("SELECT to_regclass('run_lineage_denormalized')").fetchone() == (None,)

    seen: list[int] = []

    def interrupt(event: Progress) -> None:
        if event.phase == "run":
            seen.append(event.done)
            if len(seen) == 2:
                raise KeyboardInterrupt  # killed after the second chunk committed

    with pytest.raises(KeyboardInterrupt):
        backfill(engines, models=models, chunk_size=20, on_progress=interrupt)
    assert conn.execute("SELECT count(*) FROM run_lineage_denormalized").fetchone() == (40,)

    report = backfill(engines, models=models, chunk_size=20)
    assert report.ok and report.resumed_from is not None, report.summary()
    assert report.units_done == 95 and report.batches == 5
    assert [c.ok for c in report.checks] == [True] * 4
    assert conn.execute("SELECT count(*) FROM run_parent_lineage_denormalized").fetchone() == (18,)
    parts = conn.execute(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'run_lineage_denormalized'::regclass"
    ).fetchone()
    assert parts == (4,)  # three months + the (empty) default

    again = backfill(engines, models=models, chunk_size=50)  # a rerun replaces rows, never duplicates them
    assert again.ok and again.units_done == 95


def test_data_migration_runs_small_and_defers_above_threshold(empty_dsn: str) -> None:
    migrations.migrate(empty_dsn, "lineage@lineage_0002")
    migrations.migrate(empty_dsn, "core@head")
    migrations.migrate(empty_dsn, "partitions@head")
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        legacy_ingest(conn, _run_events(30, months=2))  # a store the previous version wrote
    migrations.migrate(empty_dsn, "lineage@head", heavy_threshold="10", allow_downtime=True)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('run_lineage_denormalized')").fetchone() == (None,)
        pending = conn.execute("SELECT name, status FROM migrata_pending_migrations").fetchall()
        assert ("lineage_backfill", "pending") in pending
    migrations.downgrade(empty_dsn, "lineage@lineage_0002")
    migrations.migrate(empty_dsn, "lineage@head", allow_downtime=True)  # default threshold 100K: runs now
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM run_lineage_denormalized").fetchone() == (30,)
    migrations.downgrade(empty_dsn, "lineage@base")
    migrations.migrate(empty_dsn, "lineage@head")


def test_parallel_backfill_makes_the_same_rows_and_resumes_its_ranges(
    engines: Engines, models: LineageModels, conn: psycopg.Connection
) -> None:
    _make_runs(conn, 120)
    assert backfill(engines, models=models, chunk_size=25).ok
    conn.execute("CREATE TABLE one_worker AS SELECT * FROM run_lineage_denormalized")
    conn.execute("DROP TABLE run_lineage_denormalized, run_parent_lineage_denormalized")

    def interrupt(event: Progress) -> None:
        if event.operation == "lineage_backfill:2of3" and event.phase == "run":
            raise KeyboardInterrupt  # the second range dies after its first chunk

    with pytest.raises(KeyboardInterrupt):
        backfill(engines, models=models, chunk_size=25, workers=3, on_progress=interrupt)
    ranges = conn.execute(
        "SELECT position FROM migrata_checkpoints WHERE operation = 'lineage_backfill:parallel'"
    )
    recorded = ranges.fetchone()
    assert recorded is not None and len(recorded[0]) == 4  # three ranges: open, two cut points, open

    # runs arriving meanwhile (newest last in backfill order) fall in the last range already recorded
    _make_runs(conn, 10, months=1, base=datetime(2026, 3, 1, tzinfo=UTC))
    report = backfill(engines, models=models, chunk_size=25, workers=3)
    assert report.ok, report.summary()
    # nothing started over: the killed range resumed from its checkpoint (its 40 runs counted whole),
    # the finished ones after their last run, where only the 10 new runs were; not all 130 again
    assert sorted(report.resumed_from) == [f"lineage_backfill:{k}of3" for k in (1, 2, 3)]
    assert report.units_done == 40 + 10, report.summary()
    runs = conn.execute("SELECT count(*) FROM lineage_runs").fetchone()
    assert conn.execute("SELECT count(*) FROM run_lineage_denormalized").fetchone() == runs == (130,)
    columns = (
        "run_uuid, run_date, job_uuid, state, input_dataset_uuids, output_dataset_uuids, parent_run_uuid"
    )
    assert conn.execute(
        f"SELECT count(*) FROM (SELECT {columns} FROM one_worker EXCEPT "
        f"SELECT {columns} FROM run_lineage_denormalized) d"
    ).fetchone() == (0,)
    assert conn.execute(
        "SELECT status FROM migrata_checkpoints WHERE operation = 'lineage_backfill:parallel'"
    ).fetchone() == ("done",)

    again = backfill(
        engines, models=models, chunk_size=25, workers=3
    )  # a new backfill, not a resumption: all again
    assert again.ok and again.resumed_from is None and again.units_done == 130, again.summary()
