"""Own ClickHouse clients: the only place in migrata that creates one.

By default ClickHouse runs in-process through chDB on `<home>/chdb`; with `MIGRATA_CLICKHOUSE__URL`
any server over HTTP. chDB allows one process per data directory, so clients are opened for a unit
of work and closed after it (`clickhouse_client()` is a context manager) — a `dbt` subprocess can
only open the path once every client of this process is closed. Nothing opens it at import time.

When another process holds the directory, chDB only says "Error initializing EmbeddedServer"; the
directory's `status` file (ClickHouse writes its PID and start time there and locks it while the
engine runs) names the holder, so the error does too (`ChdbBusyError`, exit 2: nothing was changed).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from python_ops.errors import ConfigError, EngineError, PreconditionError

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

# ClickHouse's PostgreSQL engine parses the text of a timestamptz without its UTC offset, in
# ClickHouse's session time zone (ClickHouse issue 89128), and pushes time filters to Postgres as
# offset-less literals: ClickHouse's session runs in UTC, as Postgres' do (python_ops.db.SESSION_ENV).
SESSION_TIMEZONE = "UTC"
CLIENT_SETTINGS = {"session_timezone": SESSION_TIMEZONE}


# chDB serialises queries per process; a lock keeps threads of one process from interleaving
# DDL on the same session.
_CHDB_LOCK = threading.RLock()


class ChdbBusyError(PreconditionError):
    """Another process holds chDB's data directory (chDB allows one process per directory)."""


def chdb_holder(path: Path) -> str | None:
    """Who holds chDB's directory `path`: `pid N (command), started at …`, or None if nobody does."""
    status = path / "status"
    try:
        fd = os.open(status, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None  # a stale file left by a process that died: nobody holds the lock
        fields = dict(
            line.split(": ", 1)
            for line in os.read(fd, 4096).decode(errors="replace").splitlines()
            if ": " in line
        )
    finally:
        os.close(fd)
    pid = fields.get("PID", "").strip()
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            command = " ".join(a.decode(errors="replace") for a in cmdline.read().split(b"\0") if a)[:120]
    except OSError:
        command = ""
    who = f"pid {pid}" + (f" ({command})" if command else "") if pid else "another process"
    started = fields.get("Started at", "").strip()
    return who + (f", started at {started}" if started else "")


def chdb_busy(path: Path) -> ChdbBusyError | None:
    """The error to raise when another process holds chDB's directory `path`, or None if none does."""
    holder = chdb_holder(path)
    if holder is None:
        return None
    return ChdbBusyError(
        f"another process holds the chDB data directory {path}: {holder}",
        hint="chDB allows one process per directory: wait for it to finish (--wait waits), stop it, "
        "or set MIGRATA_HOME",
    )


def open_client(*, url: str | None, chdb_path: Path, database: str | None = None) -> Client:
    """Open a client to the server at `url`, or to chDB at `chdb_path` when `url` is None."""
    import clickhouse_connect  # loaded by the verbs that talk to ClickHouse, not by every start-up

    try:
        if url is None:
            chdb_path.mkdir(parents=True, exist_ok=True)
            _require_chdb()
            from python_ops.db import pin_sessions  # psycopg costs 0.13 s to import: not for `engines status`

            pin_sessions()  # chDB's postgresql() connects with this process's libpq
            client = clickhouse_connect.get_client(
                interface="chdb", path=str(chdb_path), settings=CLIENT_SETTINGS
            )
        else:
            parsed = urlparse(url)
            client = clickhouse_connect.get_client(
                host=parsed.hostname or "localhost",
                port=parsed.port or (8443 if parsed.scheme == "https" else 8123),
                username=unquote(parsed.username or "default"),
                password=unquote(parsed.password or ""),
                secure=parsed.scheme == "https",
                connect_timeout=10,
                settings=CLIENT_SETTINGS,
            )
    except ConfigError:
        raise
    except Exception as exc:
        busy = chdb_busy(chdb_path) if url is None else None
        if busy is not None:
            raise busy from None
        where = url.split("@")[-1] if url else f"chDB at {chdb_path}"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = (
            "check MIGRATA_CLICKHOUSE__URL and that the server is up"
            if url
            else "check that MIGRATA_HOME is writable, or set MIGRATA_CLICKHOUSE__URL to use a server"
        )
        raise EngineError(f"cannot open ClickHouse ({where}): {reason}", hint=hint) from None
    if database:
        client.command(f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)}")
        client.database = database
    return client


def _require_chdb() -> None:
    """chDB is what runs ClickHouse in-process; without it say so, not with an ImportError."""
    try:
        import chdb  # noqa: F401
    except ImportError:
        raise ConfigError(
            "chDB (the in-process ClickHouse) is not installed",
            hint="install it (`pip install chdb`), or set MIGRATA_CLICKHOUSE__URL to a ClickHouse server",
        ) from None


@contextlib.contextmanager
def clickhouse_client(*, url: str | None, chdb_path: Path, database: str | None = None) -> Iterator[Client]:
    """Yield an open client and close it afterwards, releasing chDB's directory lock."""
    client = open_client(url=url, chdb_path=chdb_path, database=database)
    try:
        yield client
    finally:
        client.close()


def quote_ident(name: str) -> str:
    """Quote a ClickHouse identifier (backticks, with backticks and backslashes escaped)."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_literal(value: str) -> str:
    """Quote a ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ensure_pg_collection(client: Client, name: str, pg_dsn: str, *, host_override: str | None = None) -> None:
    """(Re)create the named collection through which `postgresql(name, table=…)` reaches Postgres.

    The credentials live only in the collection (shown as [HIDDEN] by ClickHouse), never in model SQL,
    dbt's manifest or logs. Recreated on every call because the embedded server's port may change.
    """
    from psycopg.conninfo import conninfo_to_dict  # psycopg costs 0.13 s to import: not for `engines status`

    parts = conninfo_to_dict(pg_dsn)
    values = {
        "host": host_override or parts.get("host") or "127.0.0.1",
        "port": str(parts.get("port") or 5432),
        "user": parts.get("user") or "postgres",
        "password": parts.get("password") or "",
        "database": parts.get("dbname") or "postgres",
    }
    assignments = ", ".join(f"{key} = {quote_literal(val)}" for key, val in values.items())
    with _CHDB_LOCK:
        client.command(f"DROP NAMED COLLECTION IF EXISTS {quote_ident(name)}")
        client.command(f"CREATE NAMED COLLECTION {quote_ident(name)} AS {assignments}")
