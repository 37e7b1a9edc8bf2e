"""The synthetic lineage store's run ids: UUIDv7 from each run's start by default (as OpenLineage clients
make them), random v4 on request; the benchmarks' figures depend on which."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from migrata_samples.lineage_store import generate_store, new_run_events, uuid7

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _millis(t: datetime) -> int:
    return (t - EPOCH) // timedelta(milliseconds=1)


def test_uuid7_carries_the_instant_and_sorts_by_it() -> None:
    at = datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC)
    ids = [uuid7(at + timedelta(milliseconds=n)) for n in range(50)]
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert ids[0].int >> 80 == _millis(at)
    assert ids == sorted(ids) and len(set(ids)) == 50


def test_new_run_events_use_uuid7() -> None:
    events = new_run_events(jobs=10, count=5)
    ids = {uuid.UUID(e["run"]["runId"]) for e in events}
    assert len(ids) == 5 and {i.version for i in ids} == {7}


def _runs(conn: psycopg.Connection) -> list[tuple[uuid.UUID, datetime]]:
    return conn.execute("SELECT uuid, first_event_time FROM lineage_runs ORDER BY uuid").fetchall()


def test_generated_v7_run_ids_follow_the_runs_start(conn: psycopg.Connection) -> None:
    generate_store(conn, 400, months=2)
    runs = _runs(conn)
    assert len(runs) == 400
    assert {r.version for r, _ in runs} == {7}
    assert all(r.int >> 80 == _millis(t) for r, t in runs)
    # in id order, the runs are in time order: an index on the id is an index in time
    times = [t for _, t in runs]
    assert times == sorted(times)


def test_generated_v4_run_ids_are_random(conn: psycopg.Connection) -> None:
    generate_store(conn, 400, months=2, run_ids="v4")
    runs = _runs(conn)
    assert {r.version for r, _ in runs} == {4} and {r.variant for r, _ in runs} == {uuid.RFC_4122}
    times = [t for _, t in runs]
    assert times != sorted(times)
