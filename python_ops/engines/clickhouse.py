"""Own ClickHouse clients: the only place in migrata that creates one.

By default ClickHouse runs in-process through chDB on `<home>/chdb`; with `MIGRATA_CLICKHOUSE__URL`
any server over HTTP. chDB allows one process per data directory, so clients are opened for a unit
of work and closed after it (`clickhouse_client()` is a context manager) — a `dbt` subprocess can
only open the path once every client of this process is closed. Nothing opens it at import time.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from psycopg.conninfo import conninfo_to_dict

from python_ops.errors import EngineError

# chDB serialises queries per process; a lock keeps threads of one process from interleaving
# DDL on the same session.
_CHDB_LOCK = threading.RLock()


def open_client(*, url: str | None, chdb_path: Path, database: str | None = None) -> Client:
    """Open a client to the server at `url`, or to chDB at `chdb_path` when `url` is None."""
    try:
        if url is None:
            chdb_path.mkdir(parents=True, exist_ok=True)
            client = clickhouse_connect.get_client(interface="chdb", path=str(chdb_path))
        else:
            parsed = urlparse(url)
            client = clickhouse_connect.get_client(
                host=parsed.hostname or "localhost",
                port=parsed.port or (8443 if parsed.scheme == "https" else 8123),
                username=unquote(parsed.username or "default"),
                password=unquote(parsed.password or ""),
                secure=parsed.scheme == "https",
                connect_timeout=10,
            )
    except Exception as exc:
        where = url.split("@")[-1] if url else f"chDB at {chdb_path}"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = (
            "another process holds this chDB directory; stop it (e.g. `dagster dev`) or set MIGRATA_HOME"
            if "lock" in reason.lower()
            else "check MIGRATA_CLICKHOUSE__URL and that the server is up"
        )
        raise EngineError(f"cannot open ClickHouse ({where}): {reason}", hint=hint) from None
    if database:
        client.command(f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)}")
        client.database = database
    return client


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
