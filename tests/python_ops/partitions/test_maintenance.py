"""Partition maintenance: premake, idempotency, hand-made partitions, DEFAULT rows, retention, health."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from python_ops.errors import ConfigError, PreconditionError
from python_ops.partitions import ensure_range_partitions, maintain, manage, table_health, unmanage


def _month(offset: int) -> dt.date:
    today = dt.datetime.now(dt.UTC).date().replace(day=1)
    y, m = divmod(today.month - 1 + offset, 12)
    return dt.date(today.year + y, m + 1, 1)


def _names(conn: psycopg.Connection, parent: str) -> set[str]:
    rows = conn.execute(
        "SELECT partition::text FROM migrata_range_bounds(%s::regclass)", (parent,)
    ).fetchall()
    return {r[0] for r in rows}


@pytest.fixture
def events(conn: psycopg.Connection) -> str:
    conn.execute("CREATE TABLE events (id bigint, at timestamptz NOT NULL, v text) PARTITION BY RANGE (at)")
    return "events"


def test_maintain_premakes_and_is_idempotent_with_hand_made_partitions(
    conn: psycopg.Connection, events: str
) -> None:
    nxt = _month(1)
    conn.execute(
        f"CREATE TABLE events_by_hand PARTITION OF events FOR VALUES FROM ('{nxt}') TO ('{_month(2)}')"
    )
    manage(conn, events, interval="month", premake=3)
    first = maintain(conn)
    assert first.ok and first.units_done == 3  # current, +2, +3 (+1 was made by hand)
    names = _names(conn, events)
    assert "events_by_hand" in names and len(names) == 4
    assert f"events_p{_month(0):%Y%m}" in names and f"events_p{_month(3):%Y%m}" in names
    again = maintain(conn)
    assert again.status == "nothing-to-do" and again.ok
    assert _names(conn, events) == names


def test_default_partition_rows_are_moved_out_first(conn: psycopg.Connection, events: str) -> None:
    conn.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    conn.execute(
        "INSERT INTO events SELECT i, date_trunc('month', now()) + i * interval '1 hour', 'x' "
        "FROM generate_series(0, 99) i"
    )
    conn.execute("INSERT INTO events VALUES (1000, timestamptz '2001-01-01', 'old')")
    manage(conn, events, premake=1)
    (health,) = table_health(conn)
    assert health.default_rows == 101 and len(health.missing_future) == 2
    report = maintain(conn)
    assert report.ok
    (health,) = table_health(conn)
    assert health.default_rows == 1  # the 2001 row belongs to no managed range: reported, not moved
    assert health.rows == 101 and not health.missing_future
    current = f"events_p{_month(0):%Y%m}"
    assert next(p.rows for p in health.partitions if p.name == current) == 100


@pytest.mark.parametrize("mode", ["drop", "detach"])
def test_retention_drop_vs_detach(conn: psycopg.Connection, events: str, mode: str) -> None:
    ensure_range_partitions(conn, events, dt.date(2020, 1, 1), dt.date(2020, 4, 1))
    conn.execute("INSERT INTO events VALUES (1, '2020-01-15', 'a'), (2, '2020-03-15', 'b')")
    manage(conn, events, premake=0, retention="12 months", retention_mode=mode)
    report = maintain(conn)
    assert report.ok and report.details["retired"] == 3
    names = _names(conn, events)
    assert not any(n.startswith("events_p2020") for n in names)
    kept = conn.execute(
        "SELECT to_regclass('events_p202001'), obj_description('events_p202001'::regclass)"
        if mode == "detach"
        else "SELECT to_regclass('events_p202001'), NULL"
    ).fetchone()
    if mode == "detach":
        assert kept is not None and kept[0] is not None and "detached" in kept[1]
        assert conn.execute("SELECT count(*) FROM events_p202001").fetchone() == (1,)
    else:
        assert kept == (None, None)
    assert maintain(conn).status == "nothing-to-do"


def test_sql_function_runs_maintenance_for_a_db_side_scheduler(conn: psycopg.Connection, events: str) -> None:
    manage(conn, events, premake=2)
    rows = conn.execute("SELECT parent, created, retired, error FROM migrata_run_maintenance()").fetchall()
    assert rows == [("public.events", 3, 0, None)]
    assert conn.execute("SELECT created FROM migrata_run_maintenance()").fetchall() == [(0,)]


def test_lock_timeout_is_reported_not_hung(conn: psycopg.Connection, events: str, dsn: str) -> None:
    manage(conn, events, premake=1)
    with psycopg.connect(dsn) as blocker:
        blocker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        report = maintain(conn, lock_timeout_ms=100)
        blocker.rollback()
    assert not report.ok
    assert "lock timeout" in str(report.details)
    assert maintain(conn).ok


def test_unmanage_and_bad_input(conn: psycopg.Connection, events: str) -> None:
    conn.execute("CREATE TABLE plain (at date)")
    manage(conn, events)
    removed = unmanage(conn, events)
    assert removed.parent_table == "public.events"
    with pytest.raises(PreconditionError, match="not managed"):
        unmanage(conn, events)
    with pytest.raises(PreconditionError, match="not partitioned by RANGE"):
        manage(conn, "plain")
    with pytest.raises(PreconditionError, match="does not exist"):
        manage(conn, "nope")
    with pytest.raises(ConfigError, match="interval"):
        manage(conn, events, interval="hour")
    with pytest.raises(ConfigError, match="not an interval"):
        manage(conn, events, retention="forever")
    with pytest.raises(ConfigError, match="retention mode"):
        manage(conn, events, retention_mode="archive")
