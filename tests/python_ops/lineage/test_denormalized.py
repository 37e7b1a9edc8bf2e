"""The dbt models run_lineage_denormalized / run_parent_lineage_denormalized on the real Postgres."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg import sql

from migrata_samples.openlineage import food_delivery_events
from python_ops.dbt_project import run_dbt
from python_ops.engines.context import Engines
from python_ops.errors import MigrataError
from python_ops.lineage import batch
from python_ops.lineage.backfill import backfill
from python_ops.lineage.compiled import lineage_models
from python_ops.lineage.ingest import ingest_events
from python_ops.lineage.refresh import refresh
from python_ops.lineage.refresher import refresh_changed
from python_ops.settings import MigrataSettings


def _event(event_type: str, time: str, run_id: str, job: str = "job_a", **extra: Any) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "eventTime": time,
        "run": {"runId": run_id, "facets": extra.pop("run_facets", {})},
        "job": {"namespace": "ns", "name": job},
        "inputs": [{"namespace": "ns", "name": "in_1"}],
        "outputs": [{"namespace": "ns", "name": f"out_{job}"}],
        **extra,
    }


def _partitions(conn: psycopg.Connection, parent: str) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass ORDER BY 1",
        (parent,),
    ).fetchall()
    return [r[0] for r in rows]


def _shape(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
        "ORDER BY ordinal_position",
        (table,),
    ).fetchall()


def _backfill_agrees_with_the_store(settings: MigrataSettings, conn: psycopg.Connection) -> None:
    """Rebuilt from scratch by the backfill (the models' compiled SQL), the tables agree with the store."""
    conn.execute("DROP TABLE run_lineage_denormalized, run_parent_lineage_denormalized, lineage_graph_edges")
    report = backfill(Engines.from_settings(settings), models=lineage_models(settings), chunk_size=3)
    assert report.ok, report.summary()
    assert (
        conn.execute(
            "SELECT count(*) FROM lineage_runs r JOIN run_lineage_denormalized d ON d.run_uuid = r.uuid "
            "AND d.state = r.state AND d.ended_at IS NOT DISTINCT FROM r.ended_at"
        ).fetchone()
        == conn.execute("SELECT count(*) FROM lineage_runs").fetchone()
    )
    # the indexes come from the model's config, through dbt
    assert conn.execute(
        "SELECT count(*) FROM pg_indexes WHERE tablename = 'run_lineage_denormalized'"
    ).fetchone() == (9,)  # incl. (run_date, state, namespace_name): lineage_run_counts_daily's recounts


def test_build_incremental_update_and_gates(settings: MigrataSettings, conn: psycopg.Connection) -> None:
    ingest_events(conn, food_delivery_events())
    pending, parent = str(uuid.uuid4()), str(uuid.uuid4())
    child = str(uuid.uuid4())
    ingest_events(
        conn,
        [
            _event("START", "2026-01-10T10:00:00Z", pending),
            _event("START", "2026-01-10T09:00:00Z", parent, job="dag"),
            _event(
                "COMPLETE",
                "2026-01-10T09:30:00Z",
                child,
                job="task",
                run_facets={"parent": {"run": {"runId": parent}, "job": {"namespace": "ns", "name": "dag"}}},
            ),
        ],
    )
    refresh(settings)  # first build: creates the partitioned tables, partitions, runs every gate

    kind = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'run_lineage_denormalized'").fetchone()
    assert kind == ("p",)
    parts = _partitions(conn, "run_lineage_denormalized")
    assert "run_lineage_denormalized_default" in parts and "run_lineage_denormalized_p202601" in parts
    runs = conn.execute("SELECT count(*) FROM lineage_runs").fetchone()
    assert conn.execute("SELECT count(*) FROM run_lineage_denormalized").fetchone() == runs
    assert conn.execute("SELECT count(*) FROM run_lineage_denormalized_default").fetchone() == (0,)
    row = conn.execute(
        "SELECT job_name, state, parent_state FROM run_parent_lineage_denormalized WHERE run_uuid = %s",
        (child,),
    ).fetchone()
    assert row == ("task", "COMPLETE", "START")
    graph_row = conn.execute(
        "SELECT input_dataset_names, output_dataset_names FROM run_lineage_denormalized WHERE run_uuid = %s",
        (pending,),
    ).fetchone()
    assert graph_row == (["in_1"], ["out_job_a"])

    # changed runs: the pending run completes, the parent fails, a late START must not regress anything,
    # and a new run lands in a month that has no partition yet
    newcomer = str(uuid.uuid4())
    ingest_events(
        conn,
        [
            _event("COMPLETE", "2026-01-10T10:30:00Z", pending),
            _event("FAIL", "2026-01-10T09:45:00Z", parent, job="dag"),
            _event("START", "2026-01-10T09:10:00Z", child, job="task"),
            _event("START", "2026-04-02T08:00:00Z", newcomer),
        ],
    )
    before = conn.execute("SELECT count(*) FROM run_lineage_denormalized").fetchone()
    refresh(settings, command="run")  # incremental: only the changed runs (gates ran in the first build)
    assert conn.execute(
        "SELECT state, ended_at IS NOT NULL FROM run_lineage_denormalized WHERE run_uuid = %s", (pending,)
    ).fetchone() == ("COMPLETE", True)
    assert conn.execute(
        "SELECT state, parent_state FROM run_parent_lineage_denormalized WHERE run_uuid = %s", (child,)
    ).fetchone() == ("COMPLETE", "FAIL")
    assert before is not None
    assert conn.execute("SELECT count(*) FROM run_lineage_denormalized").fetchone() == (before[0] + 1,)
    assert "run_lineage_denormalized_p202604" in _partitions(conn, "run_lineage_denormalized")
    assert conn.execute(
        "SELECT count(*) FROM run_lineage_denormalized_p202604 WHERE run_uuid = %s", (newcomer,)
    ).fetchone() == (1,)

    _backfill_agrees_with_the_store(settings, conn)

    # the default-partition gate fails as soon as a row sits there
    conn.execute(
        "INSERT INTO run_lineage_denormalized_default SELECT * FROM run_lineage_denormalized_p202604"
        " WHERE false"
    )
    conn.execute(
        """INSERT INTO run_lineage_denormalized (run_uuid, run_date, job_uuid, namespace_name, job_name,
               state, created_at, updated_at, input_dataset_uuids, output_dataset_uuids, input_count,
               output_count, facets, denormalized_at)
           VALUES (gen_random_uuid(), '1999-01-01', gen_random_uuid(), 'ns', 'x', 'START', now(),
               now(), '{}', '{}', 0, 0, '{}', now())"""
    )
    with pytest.raises(MigrataError):
        run_dbt(
            ["test", "--target", "postgres", "--select", "assert_lineage_default_partitions_empty"], settings
        )


def test_late_event_moving_a_run_to_another_month_leaves_no_stale_row(
    settings: MigrataSettings, conn: psycopg.Connection
) -> None:
    """The incremental delete is pruned to the partitions holding the replaced rows, found first."""
    moved, stays = str(uuid.uuid4()), str(uuid.uuid4())
    ingest_events(
        conn,
        [
            _event("START", "2026-02-01T00:30:00Z", moved),
            _event("START", "2026-02-03T10:00:00Z", stays),
        ],
    )
    refresh(settings, command="run")
    assert conn.execute(
        "SELECT count(*) FROM run_lineage_denormalized_p202602 WHERE run_uuid = %s", (moved,)
    ).fetchone() == (1,)

    # a late event from before midnight of the previous month: the run now starts in January
    ingest_events(
        conn,
        [
            _event("START", "2026-01-31T23:50:00Z", moved),
            _event("COMPLETE", "2026-02-03T10:30:00Z", stays),
        ],
    )
    refresh(settings, command="run")
    rows = conn.execute(
        "SELECT tableoid::regclass::text, run_date::text FROM run_lineage_denormalized WHERE run_uuid = %s",
        (moved,),
    ).fetchall()
    assert rows == [("run_lineage_denormalized_p202601", "2026-01-31")]
    assert conn.execute(
        "SELECT state, count(*) OVER () FROM run_lineage_denormalized WHERE run_uuid = %s", (stays,)
    ).fetchall() == [("COMPLETE", 1)]
    runs = conn.execute("SELECT count(*) FROM lineage_runs").fetchone()
    assert conn.execute("SELECT count(*) FROM run_lineage_denormalized").fetchone() == runs


def _plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node.get("Plans", []) for n in _plan_nodes(child))]


def test_replaced_runs_are_looked_for_from_the_earliest_staged_day_on(
    settings: MigrataSettings, conn: psycopg.Connection
) -> None:
    """A run's day only moves earlier (ingestion keeps its first event), so a batch looks for the rows it
    replaces in the partitions from its earliest day on: the earlier partitions are never read."""
    runs = {month: str(uuid.uuid4()) for month in ("01", "02", "03")}
    ingest_events(conn, [_event("START", f"2026-{m}-10T10:00:00Z", run) for m, run in runs.items()])
    refresh(settings, command="run")
    models = lineage_models(settings)
    for name in (batch.RLD, batch.RPLD):
        assert models.get(name).never_increases  # the models' `partition_by_never_increases`, via dbt
    assert not models.get(batch.EDGES).never_increases

    model = models.get(batch.RLD)
    [lookup] = [s for role, s in batch.model_statements(model, None) if role == "old_partitions"]
    with conn.transaction():
        conn.execute(
            "CREATE TEMP TABLE _migrata_stage_run_lineage_denormalized ON COMMIT DROP AS "
            "SELECT * FROM run_lineage_denormalized WHERE run_date >= '2026-02-01'"
        )
        found = conn.execute(lookup).fetchall()
        plan = conn.execute(sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) {}").format(lookup)).fetchone()[0][0]  # type: ignore[index]
    assert sorted(str(day) for (day,) in found) == ["2026-02-10", "2026-03-10"]
    loops = {
        n["Relation Name"]: n["Actual Loops"]
        for n in _plan_nodes(plan["Plan"])
        if n.get("Relation Name", "").startswith("run_lineage_denormalized_p")
    }
    assert loops["run_lineage_denormalized_p202601"] == 0  # pruned: never executed
    assert loops["run_lineage_denormalized_p202602"] == loops["run_lineage_denormalized_p202603"] == 1


_LATEST = (
    "SELECT run_uuid, created_at::text, run_date::text, run_count FROM lineage_jobs_latest "
    "WHERE job_name = %s"
)


def test_latest_run_is_the_newest_by_time_then_id_in_whichever_month(
    settings: MigrataSettings, conn: psycopg.Connection
) -> None:
    """lineage_jobs_latest reads the newest created_at from the index and the row from that day's
    partition: ties on created_at go to the greater run id, and a run moved to an earlier month by a
    late event is found there, through dbt and through micro-batches alike."""
    older, tie_a, tie_b = (str(uuid.uuid4()) for _ in range(3))
    ingest_events(
        conn,
        [
            _event("START", "2026-01-10T10:00:00Z", older),
            _event("START", "2026-02-05T10:00:00Z", tie_a),
            _event("START", "2026-02-05T10:00:00Z", tie_b),
        ],
    )
    refresh(settings, command="run")
    assert conn.execute(_LATEST, ("job_a",)).fetchone() == (
        max(uuid.UUID(tie_a), uuid.UUID(tie_b)),
        "2026-02-05 10:00:00+00",
        "2026-02-05",
        3,
    )

    # a new run in March becomes the latest; a late event then moves it to the end of February
    newest = str(uuid.uuid4())
    models = lineage_models(settings)
    ingest_events(conn, [_event("START", "2026-03-01T00:10:00Z", newest)])
    refresh_changed(conn, models)
    assert conn.execute(_LATEST, ("job_a",)).fetchone() == (
        uuid.UUID(newest),
        "2026-03-01 00:10:00+00",
        "2026-03-01",
        4,
    )
    ingest_events(conn, [_event("OTHER", "2026-02-28T23:00:00Z", newest)])
    refresh_changed(conn, models)
    assert conn.execute(_LATEST, ("job_a",)).fetchone() == (
        uuid.UUID(newest),
        "2026-02-28 23:00:00+00",
        "2026-02-28",
        4,
    )
    assert conn.execute(
        "SELECT count(*) FROM run_lineage_denormalized WHERE run_uuid = %s", (newest,)
    ).fetchone() == (1,)


def test_tables_built_by_an_older_version_gain_new_columns_and_indexes(
    settings: MigrataSettings, conn: psycopg.Connection
) -> None:
    """The materialization and the backfill add what the models gained (here denormalized_xid)."""
    ingest_events(conn, food_delivery_events())
    refresh(settings, command="run")
    conn.execute("ALTER TABLE run_lineage_denormalized DROP COLUMN denormalized_xid")  # drops its index
    conn.execute("ALTER TABLE lineage_graph_edges DROP COLUMN built_xmin")
    ingest_events(conn, [_event("START", "2026-03-01T10:00:00Z", str(uuid.uuid4()))])
    refresh(settings, command="run")
    assert conn.execute(
        "SELECT count(*) FILTER (WHERE denormalized_xid IS NOT NULL), count(*) FROM run_lineage_denormalized"
    ).fetchone() == (14, 14)  # the changed runs (all, within the lookback) carry their transaction
    assert conn.execute(
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'run_lineage_denormalized_denormalized_xid_idx'"
    ).fetchone() == (1,)
    assert conn.execute("SELECT count(*) = count(built_xmin) FROM lineage_graph_edges").fetchone() == (True,)
    # the edge table's (built_xmin) index went with the column: it is back (create_missing_indexes), as is
    # one dropped from lineage_jobs_latest; each build reads the max of built_xmin through it
    watermark = "SELECT tablename, indexname FROM pg_indexes WHERE indexdef LIKE '%%(built_xmin)' ORDER BY 1"
    [(_, jobs_index)] = [row for row in conn.execute(watermark).fetchall() if row[0] == "lineage_jobs_latest"]
    conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(jobs_index)))
    refresh(settings, command="run")
    assert [table for table, _ in conn.execute(watermark).fetchall()] == [
        "lineage_graph_edges",
        "lineage_jobs_latest",
    ]

    conn.execute("ALTER TABLE run_lineage_denormalized DROP COLUMN denormalized_xid")
    engines = Engines.from_settings(settings)
    assert backfill(engines, models=lineage_models(settings), chunk_size=5).ok  # dbt evolves it first
    assert conn.execute(
        "SELECT count(*) FROM run_lineage_denormalized WHERE denormalized_xid IS NOT NULL"
    ).fetchone() == (14,)
