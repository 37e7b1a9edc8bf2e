"""Own Postgres connections: one function that opens psycopg connections with a clear error, and the
session settings every Postgres session of a migrata process runs with."""

from __future__ import annotations

import os

import psycopg
from psycopg.conninfo import conninfo_to_dict

from python_ops.errors import EngineError, MigrataError

# Whatever a store's defaults, migrata's Postgres sessions run in UTC with ISO dates: psycopg cannot
# parse a timestamptz written in DateStyle 'SQL' or 'German', and ClickHouse's postgresql() reads one
# without its UTC offset, in its own session zone (ClickHouse issue 89128). libpq reads these variables
# at every connect: psycopg's, chDB's in this process, and dbt's in the processes migrata starts.
SESSION_ENV = {"PGTZ": "UTC", "PGDATESTYLE": "ISO"}


def pin_sessions() -> None:
    """Make every Postgres session this process, and what it starts, opens from now on use SESSION_ENV."""
    os.environ.update(SESSION_ENV)


def describe_dsn(dsn: str) -> str:
    """Return `user@host:port/db` for messages: never the password."""
    parts = conninfo_to_dict(dsn)
    host = parts.get("host", "localhost")
    port = parts.get("port", "5432")
    return f"{parts.get('user', '')}@{host}:{port}/{parts.get('dbname', '')}"


def connect(dsn: str, *, autocommit: bool = False, application_name: str = "migrata") -> psycopg.Connection:
    """Open a connection; a refused or unknown server becomes an `EngineError` naming where it looked."""
    pin_sessions()
    try:
        return psycopg.connect(
            dsn, autocommit=autocommit, application_name=application_name, connect_timeout=10
        )
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise EngineError(
            f"cannot connect to Postgres at {describe_dsn(dsn)}: {reason}",
            hint="start the embedded server with `migrata engines up`, or fix MIGRATA_POSTGRES__DSN",
        ) from None


def use_autocommit(conn: psycopg.Connection) -> None:
    """Switch `conn` to autocommit; refuse a connection whose caller left a transaction open.

    Long operations open their own transaction per batch (`with conn.transaction()`); under
    autocommit those are real transactions rather than savepoints inside a caller's transaction.
    A caller's open transaction is never committed behind its back.
    """
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise MigrataError(
            "a long operation was given a connection with an open transaction",
            hint="commit or roll back first (long operations commit batch by batch on their own)",
        )
    conn.autocommit = True
