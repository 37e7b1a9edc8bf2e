"""Own `Engines`: where Postgres and ClickHouse are for a unit of work, the one thing operations take.

Every public operation takes an `Engines` first and opens what it needs from it: a Postgres
connection (`connect`), a ClickHouse client for a block (`clickhouse`). No operation starts or stops
an engine; `migrata engines up|down` (and the demo) do. `Engines.from_settings` resolves the
configured targets without starting anything, so building one is cheap and has no side effect.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg
    from clickhouse_connect.driver.client import Client

    from python_ops.settings import MigrataSettings


@dataclass(frozen=True)
class Engines:
    """The Postgres DSN and the ClickHouse target (a server URL, or chDB at `chdb_path`)."""

    postgres_dsn: str
    chdb_path: Path | None = None
    clickhouse_url: str | None = None
    clickhouse_database: str = "migrata"
    pg_collection: str = "migrata_pg"

    @classmethod
    def from_settings(cls, settings: MigrataSettings) -> Engines:
        """The engines the settings name: a DSN or the embedded server, a URL or chDB under home."""
        dsn = settings.postgres.dsn or (
            f"postgresql://{settings.postgres.user}@127.0.0.1:{settings.postgres.port}"
            f"/{settings.postgres.database}"
        )
        return cls(
            postgres_dsn=dsn,
            chdb_path=settings.chdb_path,
            clickhouse_url=settings.clickhouse.url,
            clickhouse_database=settings.clickhouse.database,
            pg_collection=settings.clickhouse.pg_collection,
        )

    @classmethod
    def from_dsn(cls, dsn: str) -> Engines:
        """Engines for Postgres alone (a migration's repository URI); no ClickHouse."""
        return cls(postgres_dsn=dsn)

    def with_postgres(self, dsn: str) -> Engines:
        """The same engines with another Postgres database (e.g. a migration's repository URI)."""
        return dataclasses.replace(self, postgres_dsn=dsn)

    def connect(self, *, autocommit: bool = False, application_name: str = "migrata") -> psycopg.Connection:
        """A new Postgres connection; the caller closes it (`with engines.connect() as conn`)."""
        from python_ops.db import connect

        return connect(self.postgres_dsn, autocommit=autocommit, application_name=application_name)

    @contextlib.contextmanager
    def clickhouse(self, database: str | None = None) -> Iterator[Client]:
        """A ClickHouse client on migrata's database for one block, closed after it (chDB's lock)."""
        from python_ops.engines.clickhouse import clickhouse_client
        from python_ops.errors import ConfigError

        if self.clickhouse_url is None and self.chdb_path is None:
            raise ConfigError(
                "no ClickHouse is configured for this operation",
                hint="set MIGRATA_CLICKHOUSE__URL, or MIGRATA_HOME for the embedded chDB",
            )
        with clickhouse_client(
            url=self.clickhouse_url,
            chdb_path=self.chdb_path,
            database=database or self.clickhouse_database,
        ) as client:
            yield client
