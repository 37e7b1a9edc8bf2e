"""Give dbt-clickhouse 1.10 a `chdb` driver: in-process ClickHouse for `dbt build --target clickhouse`.

dbt-clickhouse knows the drivers `http` and `native`. With `driver: chdb` in a profile, the client
below opens chDB at the profile's `host` (a directory) instead. The `.pth` file installed with
migrata calls `install()` in every interpreter of the environment; `install()` only registers an
import hook, so interpreters that never import dbt-clickhouse pay nothing. `driver: chdb` refuses a
cluster profile; `driver: chdb-rehearsal` records a cluster profile's DDL and runs it on this one node
(python_ops/engines/cluster_rehearsal.py). Upstream
dbt-clickhouse PR #693 adds this driver: delete this module once a release has it.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

_TARGET = "dbt.adapters.clickhouse.connections"
REHEARSAL_DRIVER = "chdb-rehearsal"  # chDB running a cluster profile's DDL on one node (cluster_rehearsal)
REHEARSAL_LOG_ENV = "MIGRATA_DBT_CH_REHEARSAL_LOG"  # where that driver records the statements dbt sends


def _refuse_clusters(credentials) -> None:  # type: ignore[no-untyped-def]
    from dbt.adapters.exceptions import FailedToConnectError

    engine = credentials.database_engine or ""
    setting = (
        f"cluster: {credentials.cluster}"
        if credentials.cluster and credentials.cluster.strip()
        else "cluster_mode: true"
        if credentials.cluster_mode
        else f"database_engine: {engine}"
        if engine.strip().startswith("Replicated")
        else None
    )
    if setting is not None:
        raise FailedToConnectError(
            f"driver chdb runs ClickHouse in-process, one engine on one machine, with no cluster or "
            f"replication: remove `{setting}` from the profile, use driver http with a ClickHouse server, "
            f"or rehearse the cluster DDL on this node (MIGRATA_CLICKHOUSE__CLUSTER_REHEARSAL=true)"
        )


def _patch(connections: ModuleType) -> None:
    import clickhouse_connect
    from dbt.adapters.clickhouse import dbclient
    from dbt.adapters.clickhouse.httpclient import ChHttpClient
    from dbt.adapters.exceptions import FailedToConnectError

    if getattr(dbclient.get_db_client, "_migrata_chdb", False):
        return
    original = dbclient.get_db_client

    class ChChdbClient(ChHttpClient):
        """dbt-clickhouse's HTTP client, talking to chDB in-process instead of a server."""

        def _create_client(self, credentials):  # type: ignore[no-untyped-def]
            try:
                import chdb  # noqa: F401
            except ImportError:
                raise FailedToConnectError(
                    "driver chdb needs the chdb package (the in-process ClickHouse): install it with "
                    "`pip install chdb`, or use driver http with a ClickHouse server"
                ) from None
            from python_ops.db import pin_sessions

            pin_sessions()  # Postgres' side of postgresql(); profiles.yml's custom_settings set ClickHouse's
            return clickhouse_connect.get_client(
                interface="chdb", path=credentials.host, settings=self._conn_settings
            )

        def database_dropped(self, database: str) -> None:
            super().database_dropped(database)
            if self.database == database:
                self._client.database = "default"  # rebinds the handle with USE; None would keep the old one

        def close(self) -> None:
            self._client.close()

    class ChChdbRehearsalClient(ChChdbClient):
        """The chDB client for a cluster profile: records each statement, runs it on this one node."""

        def _create_client(self, credentials):  # type: ignore[no-untyped-def]
            from python_ops.engines.cluster_rehearsal import SETTINGS

            self._conn_settings |= SETTINGS
            return super()._create_client(credentials)

        def _single_node(self, sql: str) -> str | None:
            from pathlib import Path

            from python_ops.engines.cluster_rehearsal import record, single_node

            executed = single_node(sql)
            record(Path(os.environ[REHEARSAL_LOG_ENV]), sql, executed)
            return executed

        def query(self, sql, **kwargs):  # type: ignore[no-untyped-def]
            executed = self._single_node(sql)
            return super().query(executed if executed is not None else "SELECT 1 WHERE 0", **kwargs)

        def command(self, sql, **kwargs):  # type: ignore[no-untyped-def]
            executed = self._single_node(sql)
            return None if executed is None else super().command(executed, **kwargs)

        def columns_in_query(self, sql, **kwargs):  # type: ignore[no-untyped-def]
            return super().columns_in_query(self._single_node(sql) or sql, **kwargs)

    def get_db_client(credentials):  # type: ignore[no-untyped-def]
        if credentials.driver == "chdb":
            _refuse_clusters(credentials)
            return ChChdbClient(credentials)
        if credentials.driver == REHEARSAL_DRIVER:
            if not os.environ.get(REHEARSAL_LOG_ENV):
                raise FailedToConnectError(
                    f"driver {REHEARSAL_DRIVER} records the cluster DDL it runs: set {REHEARSAL_LOG_ENV} to "
                    "a file, or run dbt through `migrata dbt` with MIGRATA_CLICKHOUSE__CLUSTER_REHEARSAL=true"
                )
            return ChChdbRehearsalClient(credentials)
        return original(credentials)

    get_db_client._migrata_chdb = True  # type: ignore[attr-defined]
    dbclient.get_db_client = get_db_client
    connections.get_db_client = get_db_client  # bound by `from … import` at its import


class _Finder:
    """Patch dbt-clickhouse's connection module right after it is first imported.

    A meta path finder needs only `find_spec`; not subclassing `importlib.abc.MetaPathFinder` keeps
    `importlib.abc` (and `importlib.resources` behind it) out of every interpreter's start-up.
    """

    def find_spec(self, fullname, path, target=None):  # type: ignore[no-untyped-def]
        if fullname != _TARGET:
            return None
        sys.meta_path.remove(self)
        try:
            import importlib.util

            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original_exec = loader.exec_module  # type: ignore[union-attr]

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            _patch(module)

        loader.exec_module = exec_module  # type: ignore[method-assign,union-attr]
        return spec


def install() -> None:
    """Register the import hook once; patch at once if dbt-clickhouse is already imported."""
    if _TARGET in sys.modules:
        _patch(sys.modules[_TARGET])
        return
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
