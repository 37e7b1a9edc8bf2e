"""The embedded Postgres: up/down/status are idempotent, a stale pid file is handled, bad config is clear."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import psycopg
import pytest

from python_ops.engines.postgres import EmbeddedPostgres, free_port
from python_ops.errors import ConfigError


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedPostgres:
    root = tmp_path_factory.mktemp("pg")
    for directory in (root, *root.parents):  # pytest's tmp dirs are 0700; the service user must traverse
        if str(directory).startswith("/tmp"):
            directory.chmod(directory.stat().st_mode | 0o001)
    srv = EmbeddedPostgres(root / "postgres", port=free_port(), database="demo")
    yield srv
    srv.down()


def test_up_is_idempotent_and_status_says_where(server: EmbeddedPostgres) -> None:
    assert server.status().running is False
    first = server.up()
    assert first.running and first.pid and first.port == server.port
    again = server.up()
    assert again.pid == first.pid  # the same server, not a second one
    with psycopg.connect(first.dsn) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == "demo"
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
    assert server.status().version == "18"


def test_down_is_idempotent(server: EmbeddedPostgres) -> None:
    server.up()
    assert server.down() is True
    assert server.down() is False
    assert server.status().running is False


def test_data_and_alter_system_survive_restart(server: EmbeddedPostgres) -> None:
    status = server.up()
    with psycopg.connect(status.dsn, autocommit=True) as conn:
        assert conn.execute("SHOW shared_buffers").fetchone()[0] == "1GB"  # migrata.conf
        conn.execute("CREATE TABLE kept (v int)")
        conn.execute("INSERT INTO kept VALUES (42)")
        conn.execute("ALTER SYSTEM SET work_mem = '48MB'")
    server.down()
    status = server.up()
    with psycopg.connect(status.dsn) as conn:
        assert conn.execute("SELECT v FROM kept").fetchone()[0] == 42
        assert conn.execute("SHOW work_mem").fetchone()[0] == "48MB"  # the user's setting wins


def test_stale_pid_file_from_a_killed_server_is_recovered(server: EmbeddedPostgres) -> None:
    status = server.up()
    os.kill(status.pid, 9)  # simulate a crash: postmaster.pid stays behind
    subprocess.run(["sleep", "0.5"], check=True)
    assert (server.data_dir / "postmaster.pid").exists()
    assert server.status().running is False
    recovered = server.up()
    assert recovered.running and recovered.pid != status.pid


def test_stale_pid_file_naming_a_foreign_live_process(server: EmbeddedPostgres) -> None:
    server.up()
    server.down()
    # a pid file naming a live process that is not postgres (our own pid)
    (server.data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n{server.data_dir}\n0\n{server.port}\n\n")
    assert server.up().running


def test_port_in_use_is_a_clear_config_error_before_anything_is_written(server: EmbeddedPostgres) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", server.port))
        blocker.listen()
        with pytest.raises(ConfigError, match=rf"port {server.port} on 127.0.0.1 is in use") as info:
            server.up()
    assert "MIGRATA_POSTGRES__PORT" in (info.value.hint or "")
    # issue 17 item 9: initdb ran first and left ~39 MB in a fresh home
    assert not server.root.exists()


def test_data_dir_that_cannot_be_created_is_a_clear_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="not writable") as info:
        EmbeddedPostgres(blocker / "pg", port=free_port()).up()
    assert "MIGRATA_HOME" in (info.value.hint or "")
