"""Own Postgres connections: one function that opens psycopg connections with a clear error, the
session settings every Postgres session of a migrata process runs with, and the clear error for a
statement Postgres cancelled."""

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


# Postgres' text for SQLSTATE 57014 by statement_timeout; ClickHouse relays it inside its own error
# (as long as the server's lc_messages is English), psycopg raises QueryCanceled with it
_TIMEOUT_TEXT = "canceling statement due to statement timeout"


def _role_and_timeout(conn: psycopg.Connection | None) -> tuple[str, str] | None:
    if conn is None or conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return None
    try:
        row = conn.execute("SELECT current_user, current_setting('statement_timeout')").fetchone()
    except psycopg.Error:
        return None
    return (row[0], row[1]) if row else None


def is_cancel(exc: BaseException) -> bool:
    """Whether `exc` is Postgres cancelling a statement: psycopg's QueryCanceled, or its timeout text
    relayed by ClickHouse (an error migrata already explained is not one)."""
    if isinstance(exc, MigrataError):
        return False
    return isinstance(exc, psycopg.errors.QueryCanceled) or _TIMEOUT_TEXT in str(exc)


def cancelled(exc: BaseException, what: str, conn: psycopg.Connection | None = None) -> MigrataError | None:
    """The clear error for a statement of `what` that Postgres cancelled, whether psycopg raised it or
    ClickHouse relayed it from a postgresql() read; None for any other error. With `conn` (idle: the
    batch's transaction already rolled back) it names the role and its statement_timeout.

    A role or database with a statement_timeout set for its applications' queries cancels a long
    batch the same way on every rerun, so the error says which setting to change."""
    if not is_cancel(exc):
        return None
    text = str(exc)
    resume = "what was not committed was rolled back: a rerun resumes after the last committed batch"
    if _TIMEOUT_TEXT not in text:  # pg_cancel_backend, or a server shutting down
        reason = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        return MigrataError(f"{what}: Postgres cancelled a statement ({reason})", hint=resume)
    found = _role_and_timeout(conn)
    role = found[0] if found else "<role>"
    setting = f"statement_timeout = {found[1]}" if found else "its statement_timeout"
    return MigrataError(
        f"{what}: Postgres cancelled a statement after {setting}, set for the role or database "
        "migrata connects to",
        hint=f"let migrata's statements run longer: ALTER ROLE {role} SET statement_timeout = 0 "
        "(ClickHouse's postgresql() reads use the role's setting too), or add "
        "options=-c statement_timeout=0 to MIGRATA_POSTGRES__DSN for migrata's own sessions, or make the "
        f"batches smaller; {resume}",
    )
