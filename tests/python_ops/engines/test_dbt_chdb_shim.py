"""The dbt-clickhouse `chdb` driver: active in every interpreter of the venv, dbt subprocesses included."""

from __future__ import annotations

import subprocess
import sys

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
    from dbt.adapters.clickhouse.credentials import ClickHouseCredentials

    creds = ClickHouseCredentials(
        driver="chdb",
        host=str(settings.chdb_path),
        port=8123,
        user="default",
        password="",
        schema=settings.clickhouse.database,
        database="",
        check_exchange=False,
    )
    client = get_db_client(creds)
    try:
        assert type(client).__name__ == "ChChdbClient"
        assert client.query("SELECT 40 + 2").result_rows == [(42,)]
    finally:
        client.close()
