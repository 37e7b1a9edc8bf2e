"""Partition maintenance: premake, idempotency, hand-made partitions, DEFAULT rows, retention, health."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from python_ops.engines.context import Engines
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
    conn: psycopg.Connection,
    events: str,
    engines: Engines,
) -> None:
    nxt = _month(1)
    conn.execute(
        f"CREATE TABLE events_by_hand PARTITION OF events FOR VALUES FROM ('{nxt}') TO ('{_month(2)}')"
    )
    manage(engines, events, interval="month", premake=3)
    first = maintain(engines)
    assert first.ok and first.units_done == 3  # current, +2, +3 (+1 was made by hand)
    names = _names(conn, events)
    assert "events_by_hand" in names and len(names) == 4
    assert f"events_p{_month(0):%Y%m}" in names and f"events_p{_month(3):%Y%m}" in names
    again = maintain(engines)
    assert again.status == "nothing-to-do" and again.ok
    assert _names(conn, events) == names


def test_default_partition_rows_are_moved_out_first(
    conn: psycopg.Connection, events: str, engines: Engines
) -> None:
    conn.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    conn.execute(
        "INSERT INTO events SELECT i, date_trunc('month', now()) + i * interval '1 hour', 'x' "
        "FROM generate_series(0, 99) i"
    )
    conn.execute("INSERT INTO events VALUES (1000, timestamptz '2001-01-01', 'old')")
    manage(engines, events, premake=1)
    (health,) = table_health(engines)
    assert health.default_rows == 101 and len(health.missing_future) == 2
    report = maintain(engines)
    assert report.ok
    (health,) = table_health(engines)
    assert health.default_rows == 1  # the 2001 row belongs to no managed range: reported, not moved
    assert health.rows == 101 and not health.missing_future
    current = f"events_p{_month(0):%Y%m}"
    assert next(p.rows for p in health.partitions if p.name == current) == 100


@pytest.mark.parametrize("mode", ["drop", "detach"])
def test_retention_drop_vs_detach(conn: psycopg.Connection, events: str, mode: str, engines: Engines) -> None:
    ensure_range_partitions(engines, events, dt.date(2020, 1, 1), dt.date(2020, 4, 1))
    conn.execute("INSERT INTO events VALUES (1, '2020-01-15', 'a'), (2, '2020-03-15', 'b')")
    manage(engines, events, premake=0, retention="12 months", retention_mode=mode)
    report = maintain(engines, allow_drop=mode == "drop")
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
    assert maintain(engines).status == "nothing-to-do"


def test_drop_retention_needs_allow_drop_and_changes_nothing_without(
    conn: psycopg.Connection, events: str, engines: Engines
) -> None:
    ensure_range_partitions(engines, events, dt.date(2020, 1, 1), dt.date(2020, 3, 1))
    manage(engines, events, premake=1, retention="12 months", retention_mode="drop")
    before = _names(conn, events)
    with pytest.raises(
        PreconditionError, match=r"would drop 2 partitions \(events_p202001, events_p202002\)"
    ):
        maintain(engines)
    assert _names(conn, events) == before  # not even the premade partitions were created
    dry = maintain(engines, dry_run=True)  # a dry run shows the drops without being allowed them
    assert dry.status == "dry-run" and "DROP TABLE events_p202001" in dry.plan.sql()
    assert maintain(engines, allow_drop=True).details["retired"] == 2


def test_dry_run_prints_exactly_the_statements_the_run_executes(
    conn: psycopg.Connection, events: str, engines: Engines
) -> None:
    conn.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    conn.execute("INSERT INTO events VALUES (1, date_trunc('month', now()), 'moved out of default')")
    ensure_range_partitions(engines, events, dt.date(2020, 1, 1), dt.date(2020, 3, 1))
    manage(engines, events, premake=2, retention="12 months", retention_mode="detach")
    dry = maintain(engines, dry_run=True)
    planned = [step.sql for step in dry.plan.steps]
    assert [s.split(" ")[0] for s in planned] == ["SELECT"] * 3 + ["ALTER", "COMMENT"] * 2
    assert dry.plan.total == 5  # 3 created, 2 detached: the comments are not partition changes
    report = maintain(engines)
    assert report.ok and report.details["executed"] == planned
    # the SQL function a database-side scheduler calls runs the same planned statements
    assert conn.execute("SELECT executed FROM migrata_run_maintenance()").fetchone() == ([],)


def test_sql_function_runs_maintenance_for_a_db_side_scheduler(
    conn: psycopg.Connection, events: str, engines: Engines
) -> None:
    manage(engines, events, premake=2)
    rows = conn.execute("SELECT parent, created, retired, error FROM migrata_run_maintenance()").fetchall()
    assert rows == [("public.events", 3, 0, None)]
    assert conn.execute("SELECT created FROM migrata_run_maintenance()").fetchall() == [(0,)]


def test_maintenance_holds_each_tables_lock_and_the_sql_function_respects_it(
    conn: psycopg.Connection, events: str, engines: Engines
) -> None:
    from python_ops.locks import operation_lock

    manage(engines, events, premake=1)
    with operation_lock(engines, "partitions", "public.events"):  # a maintenance running elsewhere
        with pytest.raises(PreconditionError, match=r"partitions of public.events is already running \(pid"):
            maintain(engines)
        row = conn.execute("SELECT created, error FROM migrata_run_maintenance()").fetchone()
        assert row == (0, "maintenance of public.events is already running")
        with pytest.raises(PreconditionError, match="already running"):
            manage(engines, events, premake=3)
    assert _names(conn, events) == set()  # nothing was created while the lock was held
    assert maintain(engines).units_done == 2


def test_lock_timeout_is_reported_not_hung(
    conn: psycopg.Connection, events: str, dsn: str, engines: Engines
) -> None:
    manage(engines, events, premake=1)
    with psycopg.connect(dsn) as blocker:
        blocker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        report = maintain(engines, lock_timeout_ms=100)
        blocker.rollback()
    assert not report.ok
    assert "lock timeout" in str(report.details)
    assert maintain(engines).ok


def test_unmanage_and_bad_input(conn: psycopg.Connection, events: str, engines: Engines) -> None:
    conn.execute("CREATE TABLE plain (at date)")
    manage(engines, events)
    removed = unmanage(engines, events)
    assert removed.parent_table == "public.events"
    with pytest.raises(PreconditionError, match="not managed"):
        unmanage(engines, events)
    with pytest.raises(PreconditionError, match="not partitioned by RANGE"):
        manage(engines, "plain")
    with pytest.raises(PreconditionError, match="does not exist"):
        manage(engines, "nope")
    with pytest.raises(ConfigError, match="interval"):
        manage(engines, events, interval="hour")
    with pytest.raises(ConfigError, match="not an interval"):
        manage(engines, events, retention="forever")
    with pytest.raises(ConfigError, match="retention mode"):
        manage(engines, events, retention_mode="archive")


def test_maintain_takes_every_tables_lock_on_one_session_before_any_write(
    conn: psycopg.Connection, events: str, engines: Engines
) -> None:
    from python_ops.locks import operation_lock

    conn.execute("CREATE TABLE zz (at timestamptz NOT NULL) PARTITION BY RANGE (at)")
    manage(engines, events, premake=1)
    manage(engines, "zz", premake=1)
    sessions = "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'migrata-lock %%'"
    with operation_lock(engines, "partitions", "public.zz"):  # the later table in lock order
        with pytest.raises(PreconditionError, match=r"partitions of public\.zz is already running"):
            maintain(engines)
        assert _names(conn, events) == set()  # public.events, locked first, was not touched either
        assert conn.execute(sessions).fetchone() == (1,)  # the failed run released its session
    report = maintain(engines)
    assert report.units_done == 4 and len(_names(conn, events)) == 2
