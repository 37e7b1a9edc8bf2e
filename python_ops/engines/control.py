"""Own the engine verbs `up`, `down`, `status` and the resolved connection targets.

Everything else asks this module where Postgres and ClickHouse are (`postgres_dsn`,
`clickhouse`), so the same code runs on the embedded engines and on real servers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from python_ops.engines.clickhouse import ensure_pg_collection
from python_ops.engines.context import Engines
from python_ops.engines.postgres import EmbeddedPostgres, PostgresStatus
from python_ops.settings import MigrataSettings


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
    from python_ops.db import describe_dsn

    if settings.embedded_postgres:
        pg = embedded_postgres(settings).status()
        pg_mode, pg_target = "embedded", pg.dsn
    else:
        pg, pg_mode, pg_target = None, "server", describe_dsn(settings.postgres.dsn or "")
    if settings.embedded_clickhouse:
        ch_mode, ch_target = "chdb (in-process)", str(settings.chdb_path)
    else:
        ch_mode, ch_target = "server", (settings.clickhouse.url or "").split("@")[-1]
    return EnginesStatus(pg_mode, pg, pg_target, ch_mode, ch_target)


def up(settings: MigrataSettings) -> EnginesStatus:
    """Start the embedded Postgres if configured and prepare ClickHouse. Idempotent."""
    if settings.embedded_postgres:
        embedded_postgres(settings).up()
    else:
        from python_ops.db import connect

        connect(postgres_dsn(settings)).close()
    configure_clickhouse(settings)
    return status(settings)


def down(settings: MigrataSettings) -> bool:
    """Stop the embedded Postgres; return whether it was running. A configured server is left alone."""
    if not settings.embedded_postgres:
        return False
    return embedded_postgres(settings).down()


@contextlib.contextmanager
def running(settings: MigrataSettings) -> Iterator[EnginesStatus]:
    """Ensure the engines are up for a block; stop the embedded Postgres afterwards only if we started it."""
    was_running = settings.embedded_postgres and embedded_postgres(settings).status().running
    try:
        yield up(settings)
    finally:
        if settings.embedded_postgres and not was_running:
            down(settings)
