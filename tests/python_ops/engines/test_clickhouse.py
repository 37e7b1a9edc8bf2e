"""ClickHouse through chDB: the one client factory, the named collection, postgresql() without credentials."""

from __future__ import annotations

import psycopg
import pytest

from python_ops.engines import control
from python_ops.engines.clickhouse import open_client
from python_ops.errors import EngineError
from python_ops.settings import MigrataSettings


def test_postgresql_table_function_through_named_collection(
    settings: MigrataSettings, conn: psycopg.Connection, clickhouse
) -> None:  # type: ignore[no-untyped-def]
    conn.execute("CREATE TABLE nums AS SELECT g AS id FROM generate_series(1, 5000) g")
    name = settings.clickhouse.pg_collection
    total = clickhouse.command(f"SELECT sum(id) FROM postgresql({name}, schema='public', table='nums')")
    assert int(total) == 5000 * 5001 // 2
    shown = clickhouse.query(
        "SELECT collection FROM system.named_collections WHERE name = %(n)s", parameters={"n": name}
    ).result_rows[0][0]
    assert "[HIDDEN]" in str(shown) or "127.0.0.1" not in str(shown)


def test_client_opens_migrata_database(settings: MigrataSettings) -> None:
    with control.clickhouse(settings) as client:
        assert client.command("SELECT currentDatabase()") == settings.clickhouse.database


def test_closed_client_releases_the_directory_for_a_new_one(settings: MigrataSettings) -> None:
    for _ in range(3):
        with control.clickhouse(settings) as client:
            client.command("CREATE TABLE IF NOT EXISTS reopen (x UInt8) ENGINE = Memory")
    with control.clickhouse(settings) as client:
        assert client.command("EXISTS TABLE reopen") == 1


def test_unreachable_server_is_a_clear_engine_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EngineError, match=r"cannot open ClickHouse \(127\.0\.0\.1:1\)") as info:
        open_client(url="http://default:secret@127.0.0.1:1", chdb_path=tmp_path)
    assert "secret" not in str(info.value)
    assert "MIGRATA_CLICKHOUSE__URL" in (info.value.hint or "")


def test_a_stale_status_file_names_nobody(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from python_ops.engines.clickhouse import chdb_holder

    # what a killed chDB leaves: its status file, but no process holds the lock on it
    (tmp_path / "status").write_text("PID: 4242\nStarted at: 2026-11-30 03:33:22\nRevision: 54515\n")
    assert chdb_holder(tmp_path) is None
    assert chdb_holder(tmp_path / "nowhere") is None


def test_missing_chdb_is_one_message_naming_what_to_install(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['chdb'] = None\n"  # as if the chdb package were not installed
        "from pathlib import Path\n"
        "from python_ops.engines.clickhouse import open_client\n"
        "from python_ops.errors import ConfigError\n"
        "try:\n"
        f"    open_client(url=None, chdb_path=Path({str(tmp_path)!r}))\n"
        "except ConfigError as exc:\n"
        "    print(exc.exit_code, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("2 chDB (the in-process ClickHouse) is not installed") and "pip install chdb" in out
