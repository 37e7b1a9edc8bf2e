"""Ingestion into the normalized store: idempotency, bad inputs, spec edge cases, the run state machine."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg

from migrata_samples.openlineage import food_delivery_events
from python_ops.lineage.batch import LineageModels
from python_ops.lineage.ingest import ingest_events, ingest_text


def _event(event_type: str, time: str, run_id: str, **extra: Any) -> dict[str, Any]:
    event = {
        "eventType": event_type,
        "eventTime": time,
        "run": {"runId": run_id, "facets": {}},
        "job": {"namespace": "ns", "name": "job_a"},
        "inputs": [{"namespace": "ns", "name": "in_1"}],
        "outputs": [{"namespace": "ns", "name": "out_1"}],
        "producer": "https://example.com/test",
    }
    event.update(extra)
    return event


def _counts(conn: psycopg.Connection) -> tuple[int, ...]:
    row = conn.execute(
        """SELECT (SELECT count(*) FROM lineage_events_raw), (SELECT count(*) FROM lineage_jobs),
                  (SELECT count(*) FROM lineage_runs), (SELECT count(*) FROM lineage_datasets),
                  (SELECT count(*) FROM lineage_run_inputs), (SELECT count(*) FROM lineage_run_outputs)"""
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_food_delivery_ingests_once(conn: psycopg.Connection) -> None:
    events = food_delivery_events()
    first = ingest_events(conn, events)
    assert first.ok and first.stored == len(events) == first.received
    counts = _counts(conn)
    assert (
        counts[0] == len(events) and counts[1] > 5 and counts[2] == len({e["run"]["runId"] for e in events})
    )
    stamp = conn.execute("SELECT max(updated_at) FROM lineage_runs").fetchone()
    again = ingest_events(conn, events)
    assert again.stored == 0 and again.duplicates == len(events)
    assert _counts(conn) == counts
    assert conn.execute("SELECT max(updated_at) FROM lineage_runs").fetchone() == stamp
    states = dict(conn.execute("SELECT state, count(*) FROM lineage_runs GROUP BY 1").fetchall())
    assert set(states) <= {"COMPLETE", "FAIL"}


def test_malformed_events_are_rejected_by_field_and_the_rest_stored(conn: psycopg.Connection) -> None:
    run = str(uuid.uuid4())
    good = json.dumps(_event("START", "2026-01-05T10:00:00Z", run))
    lines = [
        good,
        json.dumps(_event("START", "yesterday", str(uuid.uuid4()))),
        json.dumps(_event("START", "2026-01-05T10:00:00Z", "not-a-uuid")),
        json.dumps({k: v for k, v in _event("START", "2026-01-05T10:00:00Z", run).items() if k != "job"}),
        "{not json",
        json.dumps(_event("START", "2026-01-05T10:00:00Z", str(uuid.uuid4()), inputs=[{"namespace": "ns"}])),
        json.dumps(_event("BOGUS", "2026-01-05T10:00:00Z", str(uuid.uuid4()))),
        json.dumps(_event("COMPLETE", "2026-01-05T11:00:00Z", run)),
    ]
    result = ingest_text(conn, "\n".join(lines), "events.ndjson")
    assert [(r.location, r.field) for r in result.rejected] == [
        ("events.ndjson line 2", "eventTime"),
        ("events.ndjson line 3", "run.runId"),
        ("events.ndjson line 4", "job"),
        ("events.ndjson line 5", "json"),
        ("events.ndjson line 6", "inputs[0].name"),
        ("events.ndjson line 7", "eventType"),
    ]
    assert not result.ok and result.stored == 2
    assert _counts(conn)[:3] == (2, 1, 1)
    assert conn.execute("SELECT state FROM lineage_runs").fetchone() == ("COMPLETE",)


def test_spec_edge_cases_nanoseconds_no_timezone_unicode_large_custom_facets_parent(
    conn: psycopg.Connection,
) -> None:
    parent_run, child_run = str(uuid.uuid4()), str(uuid.uuid4())
    big = "x" * 400_000
    child = _event(
        "START",
        "2026-03-01T12:00:00.123456789+02:00",
        child_run,
        job={
            "namespace": "名前空間",
            "name": "ジョブ 🚀",
            "facets": {"custom_thing": {"deep": [1, {"a": big}]}},
        },
    )
    child["run"]["facets"] = {
        "parent": {
            "run": {"runId": parent_run},
            "job": {"namespace": "airflow", "name": "dag_ü"},
        },
        "myCompanyFacet": {"_producer": "x", "value": 42},
    }
    no_tz = _event("COMPLETE", "2026-03-01T11:00:00.5", child_run)
    no_tz["job"] = child["job"]
    result = ingest_events(conn, [child, no_tz])
    assert result.ok and result.stored == 2
    row = conn.execute(
        """SELECT r.started_at AT TIME ZONE 'UTC', r.ended_at AT TIME ZONE 'UTC', r.state,
                  r.parent_run_uuid::text, r.parent_job_name, r.facets->'myCompanyFacet'->>'value', j.name,
                  length(j.facets->'custom_thing'->'deep'->1->>'a')
           FROM lineage_runs r JOIN lineage_jobs j ON j.uuid = r.job_uuid"""
    ).fetchone()
    assert row is not None
    assert str(row[0]) == "2026-03-01 10:00:00.123456" and str(row[1]) == "2026-03-01 11:00:00.500000"
    assert row[2:] == ("COMPLETE", parent_run, "dag_ü", "42", "ジョブ 🚀", 400_000)


def test_late_events_do_not_regress_terminal_state(conn: psycopg.Connection) -> None:
    run = str(uuid.uuid4())
    complete = _event("COMPLETE", "2026-02-01T10:05:00Z", run)
    start = _event("START", "2026-02-01T10:00:00Z", run)
    running = _event("RUNNING", "2026-02-01T10:02:00Z", run)
    ingest_events(conn, [complete])
    ingest_events(conn, [running])
    ingest_events(conn, [start])
    row = conn.execute("SELECT state, started_at, ended_at FROM lineage_runs").fetchone()
    assert row is not None and row[0] == "COMPLETE"
    assert (
        row[1].isoformat() == "2026-02-01T10:00:00+00:00"
        and row[2].isoformat() == "2026-02-01T10:05:00+00:00"
    )
    # START then RUNNING in order moves forward
    other = str(uuid.uuid4())
    ingest_events(conn, [_event("START", "2026-02-01T10:00:00Z", other)])
    ingest_events(conn, [_event("RUNNING", "2026-02-01T10:01:00Z", other)])
    assert conn.execute("SELECT state FROM lineage_runs WHERE uuid = %s", (other,)).fetchone() == ("RUNNING",)


def test_nul_character_is_rejected_without_breaking_the_batch(conn: psycopg.Connection) -> None:
    bad = _event("START", "2026-01-01T00:00:00Z", str(uuid.uuid4()))
    bad["job"] = {"namespace": "ns", "name": "a\u0000b"}
    good = _event("START", "2026-01-01T00:00:00Z", str(uuid.uuid4()))
    result = ingest_events(conn, [bad, good])
    assert [r.field for r in result.rejected] == ["job.name"] and result.stored == 1


def test_upgrade_repairs_a_store_whose_old_ids_merged_two_objects(empty_dsn: str) -> None:
    """Built by the previous version (UUIDv5 of `kind:NS:NAME`), `a:b`+`c` and `a`+`b:c` were one row."""
    from python_ops import migrations
    from tests.python_ops.lineage.legacy_store import legacy_ingest

    for target in ("core@head", "partitions@head", "lineage@lineage_0003"):
        migrations.migrate(empty_dsn, target)
    run1, run2 = str(uuid.uuid4()), str(uuid.uuid4())
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        legacy_ingest(
            conn,
            [
                {**_event("COMPLETE", "2026-01-05T10:00:00Z", run1), "job": {"namespace": "a:b", "name": "c"},
                 "inputs": [{"namespace": "a:b", "name": "c"}], "outputs": []},
                {**_event("COMPLETE", "2026-01-05T11:00:00Z", run2), "job": {"namespace": "a", "name": "b:c"},
                 "inputs": [{"namespace": "a", "name": "b:c"}], "outputs": []},
            ],
        )  # fmt: skip
        assert conn.execute("SELECT count(*) FROM lineage_jobs").fetchone() == (1,)  # merged
    migrations.migrate(empty_dsn, "lineage@head", allow_downtime=True)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        jobs = conn.execute(
            "SELECT r.uuid::text, j.namespace_name, j.name, "
            "j.uuid = migrata_lineage_id('job', j.namespace_name, j.name) "
            "FROM lineage_runs r JOIN lineage_jobs j ON j.uuid = r.job_uuid ORDER BY 2"
        ).fetchall()
        assert jobs == [(run2, "a", "b:c", True), (run1, "a:b", "c", True)]
        inputs = conn.execute(
            "SELECT x.run_uuid::text, d.namespace_name, d.name FROM lineage_run_inputs x "
            "JOIN lineage_datasets d ON d.uuid = x.dataset_uuid ORDER BY 2"
        ).fetchall()
        assert inputs == [(run2, "a", "b:c"), (run1, "a:b", "c")]
        assert conn.execute("SELECT count(*) FROM lineage_events_raw").fetchone() == (2,)  # legacy partition
        # new events for both go to their own objects
        assert ingest_events(conn, [{**_event("START", "2026-01-06T10:00:00Z", str(uuid.uuid4())),
                                     "job": {"namespace": "a", "name": "b:c"}}]).ok  # fmt: skip
        assert conn.execute("SELECT count(*) FROM lineage_jobs").fetchone() == (2,)


def test_heartbeats_do_not_mark_a_run_changed(conn: psycopg.Connection, models: LineageModels) -> None:
    """1 run x 200 RUNNING events: every raw event kept, the denormalized row written at most 3 times."""
    from python_ops.lineage.batch import ensure_tables
    from python_ops.lineage.refresher import refresh_changed

    ensure_tables(conn, models)
    run = str(uuid.uuid4())
    writes = 0
    events = [_event("START", "2026-02-01T10:00:00Z", run)]
    events += [_event("RUNNING", f"2026-02-01T10:{m // 60:02d}:{m % 60:02d}Z", run) for m in range(1, 201)]
    events.append(_event("COMPLETE", "2026-02-01T11:00:00Z", run))
    for event in events:  # one request each, as a Spark producer sends them, with a micro-batch after each
        assert ingest_events(conn, [event]).ok
        writes += refresh_changed(conn, models).rows.get("run_lineage_denormalized", 0)
    assert conn.execute("SELECT count(*) FROM lineage_events_raw WHERE run_id = %s", (run,)).fetchone() == (
        202,
    )
    assert writes <= 3, writes
    assert conn.execute(
        "SELECT state FROM run_lineage_denormalized WHERE run_uuid = %s", (run,)
    ).fetchone() == ("COMPLETE",)


def test_event_time_window_and_runid_reuse(conn: psycopg.Connection) -> None:
    run = str(uuid.uuid4())
    result = ingest_events(
        conn,
        [
            _event("START", "1970-01-01T00:00:00Z", str(uuid.uuid4())),
            _event("START", "0001-01-01T00:00:00Z", str(uuid.uuid4())),
            _event("START", "2026-01-01T00:00:00Z", run),
            {**_event("COMPLETE", "2026-01-01T01:00:00Z", run), "job": {"namespace": "ns", "name": "other"}},
        ],
    )
    assert [(r.location, r.field) for r in result.rejected] == [
        ("index 0", "eventTime"), ("index 1", "eventTime"), ("index 3", "run.runId")
    ]  # fmt: skip
    assert "ns/job_a" in result.rejected[2].message and "ns/other" in result.rejected[2].message
    assert result.stored == 1
    parts = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'lineage_events_raw'::regclass"
    ).fetchall()
    assert parts == [("lineage_events_raw_p202601",)]  # no partition for 1970 or year 1
    # the same reuse in a later batch: refused as well, the run stays with its job
    again = ingest_events(
        conn, [{**_event("FAIL", "2026-01-01T02:00:00Z", run), "job": {"namespace": "ns", "name": "x"}}]
    )
    assert [r.field for r in again.rejected] == ["run.runId"]
    assert conn.execute("SELECT state FROM lineage_runs").fetchone() == ("START",)
