"""The dbt-clickhouse `chdb` driver: active in every interpreter of the venv, dbt subprocesses included;
a dropped current database, cluster profiles and a missing chDB each handled with one clear outcome."""

from __future__ import annotations

import subprocess
import sys

import pytest

from python_ops.settings import MigrataSettings


def test_pth_hook_patches_dbt_clickhouse_in_a_fresh_interpreter() -> None:
    code = (
        "import dbt.adapters.clickhouse.connections as c, dbt.adapters.clickhouse.dbclient as d;"
        "print(getattr(c.get_db_client, '_migrata_chdb', False), d.get_db_client is c.get_db_client)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True"]


def test_interpreter_that_never_imports_dbt_does_not_load_it() -> None:
    code = "import sys; print(any(m.startswith('dbt') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_chdb_driver_opens_the_profile_host_directory(settings: MigrataSettings) -> None:
    from dbt.adapters.clickhouse.connections import get_db_client

    client = get_db_client(_credentials(settings))
    try:
        assert type(client).__name__ == "ChChdbClient"
        assert client.query("SELECT 40 + 2").result_rows == [(42,)]
    finally:
        client.close()


def _credentials(settings: MigrataSettings, **extra: object):  # type: ignore[no-untyped-def]
    from dbt.adapters.clickhouse.credentials import ClickHouseCredentials

    return ClickHouseCredentials(
        driver="chdb",
        host=str(settings.chdb_path),
        port=8123,
        user="default",
        password="",
        schema=settings.clickhouse.database,
        database="",
        check_exchange=False,
        **extra,
    )


def test_dropping_the_current_database_keeps_unqualified_statements_working(
    settings: MigrataSettings,
) -> None:
    from dbt.adapters.clickhouse.connections import get_db_client

    creds = _credentials(settings)
    creds.schema = f"{settings.clickhouse.database}_dropped"
    client = get_db_client(creds)  # creates the database and USEs it
    try:
        client.command("CREATE TABLE gone (a Int8) ENGINE = Memory")
        client.command(f"DROP DATABASE `{creds.schema}`")
        client.database_dropped(creds.schema)  # what dbt-clickhouse calls after `drop schema`
        # the handle no longer points at the dropped database: an unqualified statement runs
        assert client.command("SHOW TABLES") == ""
        client.command("CREATE TEMPORARY TABLE still_here (a Int8) ENGINE = Memory")
    finally:
        client.close()


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"cluster": "company_cluster"}, "`cluster: company_cluster`"),
        ({"cluster_mode": True}, "`cluster_mode: true`"),
        (
            {"database_engine": "Replicated('/clickhouse/db', '{shard}', '{replica}')"},
            "`database_engine: Replicated",
        ),
    ],
)
def test_cluster_profiles_are_refused_in_one_message(
    settings: MigrataSettings, extra: dict[str, object], named: str
) -> None:
    from dbt.adapters.clickhouse.connections import get_db_client
    from dbt.adapters.exceptions import FailedToConnectError

    with pytest.raises(FailedToConnectError) as refused:
        get_db_client(_credentials(settings, **extra))
    message = str(refused.value)
    assert named in message and "driver chdb runs ClickHouse in-process" in message
    assert "use driver http" in message


def test_missing_chdb_is_a_clear_message_not_an_import_error(settings: MigrataSettings) -> None:
    code = f"""
import sys
sys.modules["chdb"] = None  # as if the chdb package were not installed
from dbt.adapters.clickhouse.connections import get_db_client
from dbt.adapters.clickhouse.credentials import ClickHouseCredentials
from dbt.adapters.exceptions import FailedToConnectError
creds = ClickHouseCredentials(driver="chdb", host={str(settings.chdb_path)!r}, port=8123, user="default",
                              password="", schema="x", database="", check_exchange=False)
try:
    get_db_client(creds)
except FailedToConnectError as exc:
    print("REFUSED", exc)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "REFUSED" in out.stdout and "needs the chdb package" in out.stdout, out.stdout + out.stderr
    assert "ImportError" not in out.stdout + out.stderr
