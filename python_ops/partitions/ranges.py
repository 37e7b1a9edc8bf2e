"""Own the Python face of `migrata_ensure_range_partitions` (installed by revision `partitions_0001`).

One implementation: the SQL function does the work, so a database-side scheduler, the CLI, Dagster and
the lineage dbt materialization all create partitions the same way. This module validates the input,
turns dates into UTC instants and bounds the lock wait.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import psycopg

from python_ops import pgcatalog as catalog
from python_ops.errors import ConfigError, PreconditionError
from python_ops.locks import operation_lock

if TYPE_CHECKING:
    from python_ops.engines.context import Engines

INTERVALS = ("month", "week", "day")


def as_utc(value: dt.date | dt.datetime) -> dt.datetime:
    """A date is midnight UTC; a naive datetime is taken as UTC."""
    if not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def check_interval(interval: str) -> str:
    if interval not in INTERVALS:
        raise ConfigError(f"unknown partition interval {interval!r}", hint="use month, week or day")
    return interval


def range_key(conn: psycopg.Connection, ref: catalog.TableRef) -> tuple[str, str] | None:
    """(column, type) of a table partitioned by RANGE on one column, else None."""
    row = conn.execute(
        """SELECT a.attname, format_type(a.atttypid, NULL) FROM pg_partitioned_table pt
             JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
            WHERE pt.partrelid = %s AND pt.partstrat = 'r' AND pt.partnatts = 1""",
        (ref.oid,),
    ).fetchone()
    return (row[0], row[1]) if row else None


def require_range_table(conn: psycopg.Connection, table: str) -> catalog.TableRef:
    """Resolve `table` and check it is partitioned by RANGE on one date/timestamp column."""
    ref = catalog.resolve(conn, table)
    key = range_key(conn, ref)
    if key is None:
        raise PreconditionError(
            f"table {ref.qualified} is not partitioned by RANGE on one column",
            hint="time-based maintenance needs PARTITION BY RANGE (<date or timestamp column>)",
        )
    if key[1] not in ("date", "timestamp without time zone", "timestamp with time zone"):
        raise PreconditionError(
            f"partition column {ref.qualified}.{key[0]} has type {key[1]}, not a date or timestamp",
            hint="time-based maintenance needs a date/timestamp/timestamptz partition key",
        )
    return ref


def ensure_range_partitions(
    engines: Engines,
    table: str,
    start: dt.date | dt.datetime,
    end: dt.date | dt.datetime,
    interval: str = "month",
    *,
    lock_timeout_ms: int | None = None,
    wait: bool = False,
) -> int:
    """Create the missing RANGE partitions of `table` covering [start, end); return how many were created.

    Idempotent; hand-made partitions with the expected bounds count as present; rows in the DEFAULT
    partition that belong to a new partition are moved into it in the same transaction. Holds the
    table's ("partitions", table) operation lock, as maintenance does.
    """
    check_interval(interval)
    with engines.connect(autocommit=True) as conn:
        ref = require_range_table(conn, table)
        # the lock of `partitions maintain`: both create partitions of this table
        with operation_lock(engines, "partitions", ref.qualified, wait=wait), conn.transaction():
            if lock_timeout_ms is not None:
                conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(lock_timeout_ms)}ms",))
            row = conn.execute(
                "SELECT migrata_ensure_range_partitions(%s::oid::regclass, %s, %s, %s)",
                (ref.oid, as_utc(start), as_utc(end), interval),
            ).fetchone()
    assert row is not None
    return int(row[0])
