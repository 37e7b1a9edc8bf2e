"""Own the Dagster resources: migrata's settings and engines, and one dbt CLI resource per target."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import psycopg
from clickhouse_connect.driver.client import Client
from dagster import ConfigurableResource, InitResourceContext
from dagster_dbt import DbtCliResource, DbtProject
from pydantic import PrivateAttr

from dagster_defs.project import clickhouse_project, postgres_project
from python_ops.db import connect
from python_ops.dbt_project import dbt_env, dbt_executable
from python_ops.engines import control
from python_ops.engines.context import Engines
from python_ops.settings import MigrataSettings, load_settings


class MigrataResource(ConfigurableResource):
    """migrata's settings and engines for one run.

    Servers are the deployment's: with `MIGRATA_POSTGRES__DSN` (and a ClickHouse URL) the resource
    starts, stops and prepares nothing (`migrata engines up` prepares ClickHouse once). With the
    embedded Postgres a run holds a lease on it (`control.running`): it starts the server if it is down,
    and the last run out stops it only if a run started it, never one started by `migrata engines up`
    or `make dev`. ClickHouse clients are opened per use and closed at once, so dbt subprocesses and
    other steps can open chDB's directory.
    """

    home: str | None = None

    _settings: MigrataSettings | None = PrivateAttr(default=None)

    @contextlib.contextmanager
    def yield_for_execution(self, context: InitResourceContext) -> Iterator[MigrataResource]:
        self._settings = load_settings(**({"home": self.home} if self.home else {}))
        with control.running(self._settings, prepare=False):
            os.environ.update(dbt_env(self._settings))  # read by profiles.yml in dbt subprocesses
            os.environ["DBT_USE_COLORS"] = "false"  # plain text in the UI: no ANSI codes in dbt errors
            yield self

    @property
    def settings(self) -> MigrataSettings:
        if self._settings is None:
            self._settings = load_settings(**({"home": self.home} if self.home else {}))
        return self._settings

    @property
    def engines(self) -> Engines:
        """What operations take first (`python_ops.engines.context.Engines`)."""
        return Engines.from_settings(self.settings)

    @property
    def dsn(self) -> str:
        return control.postgres_dsn(self.settings)

    def connect(self) -> psycopg.Connection:
        return connect(self.dsn)

    @contextlib.contextmanager
    def clickhouse(self) -> Iterator[Client]:
        with control.clickhouse(self.settings) as client:
            yield client


def dbt_resource(project: DbtProject) -> DbtCliResource:
    return DbtCliResource(project_dir=project, dbt_executable=dbt_executable())


def build_resources() -> dict[str, object]:
    return {
        "migrata": MigrataResource(),
        "dbt_postgres": dbt_resource(postgres_project),
        "dbt_clickhouse": dbt_resource(clickhouse_project),
    }


__all__ = ["MigrataResource", "build_resources"]
