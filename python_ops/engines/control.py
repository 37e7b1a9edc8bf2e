"""Own the engine verbs `up`, `down`, `status`, who owns the embedded Postgres' lifetime, and the
resolved connection targets.

Everything else asks this module where Postgres and ClickHouse are (`postgres_dsn`,
`clickhouse`), so the same code runs on the embedded engines and on real servers.

Lifetime of the embedded Postgres (a configured server, `MIGRATA_POSTGRES__DSN`, is never started or
stopped by migrata):
- `up` is an operator's: the server stays up until `down`, whoever else uses it meanwhile.
- `running()` is a user's (`make dev`, `make demo`, a Dagster run): it starts the server if it is
  down and holds a shared lease on it for its block. The last lease holder out stops the server, and
  only if a `running()` block started it and no operator has claimed it with `up` since. Leases are
  `flock`s, so a killed holder releases its lease; one exclusive gate orders every start and stop.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from python_ops.engines.clickhouse import ensure_pg_collection
from python_ops.engines.context import Engines
from python_ops.engines.postgres import EmbeddedPostgres, PostgresStatus
from python_ops.errors import ConfigError
from python_ops.settings import MigrataSettings

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

# Files beside the embedded server's data directory (`<home>/postgres/`): the gate every start and stop
# takes, the lease file `running()` blocks hold shared, and the mark of a server started on demand.
GATE_FILE = "lifetime.lock"
LEASE_FILE = "leases.lock"
ON_DEMAND_MARK = "started-on-demand"


def embedded_postgres(settings: MigrataSettings) -> EmbeddedPostgres:
    return EmbeddedPostgres(
        settings.pg_data_dir,
        port=settings.postgres.port,
        database=settings.postgres.database,
        user=settings.postgres.user,
    )


def postgres_dsn(settings: MigrataSettings) -> str:
    """The DSN migrata connects to: the configured one, or the embedded server's."""
    return Engines.from_settings(settings).postgres_dsn


@contextlib.contextmanager
def clickhouse(settings: MigrataSettings, *, database: str | None = None) -> Iterator[Client]:
    """Yield a ClickHouse client on migrata's database (created if missing), closed afterwards."""
    with Engines.from_settings(settings).clickhouse(database) as client:
        yield client


def configure_clickhouse(settings: MigrataSettings) -> None:
    """Create migrata's ClickHouse database and the named collection that reaches Postgres."""
    with clickhouse(settings) as client:
        ensure_pg_collection(
            client,
            settings.clickhouse.pg_collection,
            postgres_dsn(settings),
            host_override=settings.clickhouse.pg_host_from_clickhouse,
        )


@dataclass(frozen=True)
class EnginesStatus:
    """Where each engine is and whether it is up."""

    postgres_mode: str
    postgres: PostgresStatus | None
    postgres_target: str
    clickhouse_mode: str
    clickhouse_target: str

    def as_dict(self) -> dict[str, object]:
        pg = self.postgres
        return {
            "postgres": {
                "mode": self.postgres_mode,
                "target": self.postgres_target,
                "running": pg.running if pg else None,
                "pid": pg.pid if pg else None,
                "port": pg.port if pg else None,
                "data_dir": str(pg.data_dir) if pg else None,
                "version": pg.version if pg else None,
            },
            "clickhouse": {"mode": self.clickhouse_mode, "target": self.clickhouse_target},
        }


def status(settings: MigrataSettings) -> EnginesStatus:
    if settings.embedded_postgres:
        pg = embedded_postgres(settings).status()
        pg_mode, pg_target = "embedded", pg.dsn
    else:
        from python_ops.db import describe_dsn  # psycopg (0.13 s to import) only for a server's DSN

        pg, pg_mode, pg_target = None, "server", describe_dsn(settings.postgres.dsn or "")
    if settings.embedded_clickhouse:
        ch_mode, ch_target = "chdb (in-process)", str(settings.chdb_path)
    else:
        ch_mode, ch_target = "server", (settings.clickhouse.url or "").split("@")[-1]
    return EnginesStatus(pg_mode, pg, pg_target, ch_mode, ch_target)


def _lock_file(settings: MigrataSettings, name: str) -> IO[str]:
    root = settings.pg_data_dir
    try:
        root.mkdir(parents=True, exist_ok=True)
        return (root / name).open("a")  # not inherited by children (the server, dagster, dbt)
    except OSError as exc:
        raise ConfigError(
            f"cannot write {root / name}: {exc.strerror}", hint="set MIGRATA_HOME to a writable directory"
        ) from None


@contextlib.contextmanager
def _gate(settings: MigrataSettings) -> Iterator[None]:
    """Hold the exclusive gate that orders starts, stops and lease hand-overs of the embedded server."""
    with _lock_file(settings, GATE_FILE) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _on_demand_mark(settings: MigrataSettings) -> Path:
    return settings.pg_data_dir / ON_DEMAND_MARK


def up(settings: MigrataSettings) -> EnginesStatus:
    """Start the embedded Postgres if configured and prepare ClickHouse. Idempotent.

    The server then belongs to the operator: no `running()` block stops it, only `down`.
    """
    if settings.embedded_postgres:
        server = embedded_postgres(settings)
        if not server.status().running:
            server.refuse_busy_port()  # before the gate's lock files are written
        with _gate(settings):
            server.up()
            _on_demand_mark(settings).unlink(missing_ok=True)
    else:
        from python_ops.db import connect

        connect(postgres_dsn(settings)).close()
    configure_clickhouse(settings)
    return status(settings)


def down(settings: MigrataSettings) -> bool:
    """Stop the embedded Postgres; return whether it was running. A configured server is left alone."""
    if not settings.embedded_postgres:
        return False
    with _gate(settings):
        _on_demand_mark(settings).unlink(missing_ok=True)
        return embedded_postgres(settings).down()


@contextlib.contextmanager
def running(settings: MigrataSettings, *, prepare: bool = True) -> Iterator[EnginesStatus]:
    """Hold the engines up for a block; stop the embedded Postgres afterwards only if a block started it.

    `prepare`: also prepare ClickHouse (its database and the named collection reaching Postgres), as
    `up` does. A Dagster run passes False: opening chDB at every step would collide with the step that
    holds it, so a run prepares ClickHouse only when it had to start the server itself. With a
    configured Postgres server nothing is started or stopped.
    """
    if not settings.embedded_postgres:
        yield up(settings) if prepare else status(settings)
        return
    lease = _lock_file(settings, LEASE_FILE)
    try:
        with _gate(settings):
            fcntl.flock(lease, fcntl.LOCK_SH)
            server = embedded_postgres(settings)
            started = not server.status().running
            if started:
                server.up()
                _on_demand_mark(settings).touch()
        if started or prepare:
            configure_clickhouse(settings)
        yield status(settings)
    finally:
        with _gate(settings):
            fcntl.flock(lease, fcntl.LOCK_UN)
            try:  # the last holder out gets the lease file to itself
                fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
                last = True
            except BlockingIOError:
                last = False
            if last and _on_demand_mark(settings).exists():
                embedded_postgres(settings).down()
                _on_demand_mark(settings).unlink(missing_ok=True)
        lease.close()
