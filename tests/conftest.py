"""Real engines for the tests: one embedded Postgres server and one chDB directory per test session.

Isolation: every test that asks for `dsn` gets a fresh database cloned from a template migrated to
all heads (`CREATE DATABASE … TEMPLATE`, ~50 ms); ClickHouse tests get a fresh database inside the
session's chDB directory (chDB allows one directory per process). Fixtures start and stop the
engines themselves; nothing is left running after the session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from python_ops.engines.postgres import EmbeddedPostgres, free_port
from python_ops.settings import MigrataSettings

TEMPLATE_DB = "migrata_template"
# `make test` exports DAGSTER_HOME (the dev instance): CLI tests must not record their runs there;
# tests/dagster_defs/test_reporting.py turns reporting on against an instance of its own
os.environ["MIGRATA_DAGSTER__REPORT_CLI_RUNS"] = "false"


@pytest.fixture(scope="session")
def engine_home() -> Iterator[Path]:
    """A session data directory the embedded server's service user can traverse (0755)."""
    home = Path(tempfile.mkdtemp(prefix="migrata-test-"))
    home.chmod(0o755)
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(engine_home: Path) -> Iterator[EmbeddedPostgres]:
    """The session's embedded Postgres server on a free port."""
    server = EmbeddedPostgres(engine_home / "postgres", port=free_port(), database="postgres")
    server.up()
    with pytest.MonkeyPatch.context() as mp:
        # the CLI and dbt subprocesses read the same engines through the environment
        mp.setenv("MIGRATA_HOME", str(engine_home))
        mp.setenv("MIGRATA_POSTGRES__PORT", str(server.port))
        yield server
    server.down()


def _admin(server: EmbeddedPostgres) -> psycopg.Connection:
    return psycopg.connect(f"postgresql://postgres@127.0.0.1:{server.port}/postgres", autocommit=True)


def _dsn(server: EmbeddedPostgres, database: str) -> str:
    return f"postgresql://postgres@127.0.0.1:{server.port}/{database}"


@pytest.fixture(scope="session")
def template_dsn(pg_server: EmbeddedPostgres) -> str:
    """A database migrated to every component's head, used as the template of `dsn`."""
    from python_ops import migrations

    with _admin(pg_server) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(TEMPLATE_DB)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE_DB)))
    dsn = _dsn(pg_server, TEMPLATE_DB)
    migrations.migrate(dsn, "heads")
    return dsn


def _fresh_database(server: EmbeddedPostgres, template: str | None) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with _admin(server) as conn:
        query = "CREATE DATABASE {} TEMPLATE {}" if template else "CREATE DATABASE {}"
        ids = [sql.Identifier(name)] + ([sql.Identifier(template)] if template else [])
        conn.execute(sql.SQL(query).format(*ids))
    try:
        yield _dsn(server, name)
    finally:
        with _admin(server) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def dsn(pg_server: EmbeddedPostgres, template_dsn: str) -> Iterator[str]:
    """A fresh database with every component migrated to head."""
    yield from _fresh_database(pg_server, TEMPLATE_DB)


@pytest.fixture
def empty_dsn(pg_server: EmbeddedPostgres) -> Iterator[str]:
    """A fresh, empty database (no migrations applied)."""
    yield from _fresh_database(pg_server, None)


@pytest.fixture
def conn(dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(dsn, autocommit=True) as connection:
        yield connection


@pytest.fixture
def ch_database() -> str:
    """A fresh ClickHouse database name for this test (created on first use)."""
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(
    engine_home: Path, pg_server: EmbeddedPostgres, dsn: str, ch_database: str
) -> Iterator[MigrataSettings]:
    """Settings pointing at this test's Postgres database and ClickHouse database."""
    from python_ops.engines import control

    test_settings = MigrataSettings(
        home=engine_home,
        postgres={"dsn": dsn, "port": pg_server.port},  # type: ignore[arg-type]
        clickhouse={"database": ch_database},  # type: ignore[arg-type]
    )
    control.configure_clickhouse(test_settings)
    yield test_settings
    with control.clickhouse(test_settings) as client:
        client.command(f"DROP DATABASE IF EXISTS `{ch_database}`")


@pytest.fixture
def clickhouse(settings: MigrataSettings):  # type: ignore[no-untyped-def]
    """A ClickHouse client on this test's database, closed afterwards."""
    from python_ops.engines import control

    with control.clickhouse(settings) as client:
        yield client


@pytest.fixture
def settings_env(settings: MigrataSettings, monkeypatch: pytest.MonkeyPatch) -> MigrataSettings:
    """Export `settings` as MIGRATA_* env vars, for the CLI (CliRunner) and dbt subprocesses."""
    monkeypatch.setenv("MIGRATA_HOME", str(settings.home))
    monkeypatch.setenv("MIGRATA_POSTGRES__DSN", settings.postgres.dsn or "")
    monkeypatch.setenv("MIGRATA_CLICKHOUSE__DATABASE", settings.clickhouse.database)
    return settings


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    os.environ.pop("MIGRATA_POSTGRES__DSN", None)
