"""ensure_range_partitions: creation, idempotency, hand-made partitions, default-partition rows."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from python_ops.engines.context import Engines
from python_ops.errors import ConfigError, PreconditionError
from python_ops.partitions import ensure_range_partitions


def _parts(conn: psycopg.Connection, parent: str) -> dict[str, int]:
    rows = conn.execute(
        "SELECT partition::text, count(*) FILTER (WHERE true) FROM migrata_range_bounds(%s::regclass) "
        "GROUP BY 1",
        (parent,),
    ).fetchall()
    counts = {}
    for name, _ in rows:
        counts[name] = conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
    return counts


def test_creates_monthly_partitions_idempotently(conn: psycopg.Connection, engines: Engines) -> None:
    conn.execute("CREATE TABLE ev (id bigint, at timestamptz NOT NULL) PARTITION BY RANGE (at)")
    created = ensure_range_partitions(engines, "ev", dt.date(2026, 1, 15), dt.date(2026, 4, 1))
    assert created == 3
    assert set(_parts(conn, "ev")) == {"ev_p202601", "ev_p202602", "ev_p202603"}
    assert ensure_range_partitions(engines, "ev", dt.date(2026, 1, 1), dt.date(2026, 4, 1)) == 0


def test_hand_made_partition_with_expected_bounds_is_kept(conn: psycopg.Connection, engines: Engines) -> None:
    conn.execute("CREATE TABLE ev (id bigint, at date NOT NULL) PARTITION BY RANGE (at)")
    conn.execute("CREATE TABLE ev_by_hand PARTITION OF ev FOR VALUES FROM ('2026-02-01') TO ('2026-03-01')")
    assert ensure_range_partitions(engines, "ev", dt.date(2026, 1, 1), dt.date(2026, 4, 1)) == 2
    assert set(_parts(conn, "ev")) == {"ev_p202601", "ev_by_hand", "ev_p202603"}


def test_default_partition_rows_move_into_the_new_partition(
    conn: psycopg.Connection, engines: Engines
) -> None:
    conn.execute(
        "CREATE TABLE ev (id bigint GENERATED ALWAYS AS IDENTITY, at timestamptz NOT NULL, v text, "
        "n int GENERATED ALWAYS AS (length(v)) STORED) PARTITION BY RANGE (at)"
    )
    conn.execute("CREATE TABLE ev_default PARTITION OF ev DEFAULT")
    conn.execute(
        "INSERT INTO ev (at, v) SELECT timestamptz '2026-01-01 00:00+00' + i * interval '1 day', 'x' || i "
        "FROM generate_series(0, 89) i"
    )
    before = conn.execute("SELECT sum(hashtext(ev::text)) FROM ev").fetchone()[0]
    assert ensure_range_partitions(engines, "ev", dt.date(2026, 1, 1), dt.date(2026, 3, 1)) == 2
    counts = _parts(conn, "ev")
    assert counts == {"ev_p202601": 31, "ev_p202602": 28, "ev_default": 31}
    assert conn.execute("SELECT sum(hashtext(ev::text)) FROM ev").fetchone()[0] == before


def test_week_and_day_names(conn: psycopg.Connection, engines: Engines) -> None:
    conn.execute("CREATE TABLE w (at timestamp NOT NULL) PARTITION BY RANGE (at)")
    assert ensure_range_partitions(engines, "w", dt.date(2026, 7, 1), dt.date(2026, 7, 8), "week") == 2
    assert set(_parts(conn, "w")) == {"w_p2026w27", "w_p2026w28"}
    conn.execute("CREATE TABLE d (at date NOT NULL) PARTITION BY RANGE (at)")
    assert ensure_range_partitions(engines, "d", dt.date(2026, 7, 1), dt.date(2026, 7, 3), "day") == 2
    assert set(_parts(conn, "d")) == {"d_p20260701", "d_p20260702"}


def test_sql_function_is_callable_directly(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE ev (at timestamptz NOT NULL) PARTITION BY RANGE (at)")
    row = conn.execute(
        "SELECT migrata_ensure_range_partitions('ev', '2026-01-01', '2026-03-01', 'month')"
    ).fetchone()
    assert row == (2,)


def test_bad_input(conn: psycopg.Connection, engines: Engines) -> None:
    conn.execute("CREATE TABLE plain (at date)")
    with pytest.raises(PreconditionError, match="does not exist"):
        ensure_range_partitions(engines, "nope", dt.date(2026, 1, 1), dt.date(2026, 2, 1))
    with pytest.raises(PreconditionError, match="not partitioned by RANGE"):
        ensure_range_partitions(engines, "plain", dt.date(2026, 1, 1), dt.date(2026, 2, 1))
    with pytest.raises(ConfigError, match="interval"):
        ensure_range_partitions(engines, "plain", dt.date(2026, 1, 1), dt.date(2026, 2, 1), "year")
