"""`migrata engines up | down | status` and the CLI's error handling, as a user runs them."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from python_ops.cli.app import app
from python_ops.engines.postgres import free_port

runner = CliRunner()


@pytest.fixture
def own_engines(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("cli-engines")
    for directory in (home, *home.parents):
        if str(directory).startswith("/tmp"):
            directory.chmod(directory.stat().st_mode | 0o001)
    monkeypatch.setenv("MIGRATA_HOME", str(home))
    monkeypatch.setenv("MIGRATA_POSTGRES__PORT", str(free_port()))
    monkeypatch.delenv("MIGRATA_POSTGRES__DSN", raising=False)
    yield home
    runner.invoke(app, ["engines", "down"])


def test_up_status_down_round_trip(own_engines: Path) -> None:
    first = runner.invoke(app, ["--json", "engines", "up"])
    assert first.exit_code == 0, first.output
    state = json.loads(first.stdout)
    assert state["postgres"]["running"] is True
    assert state["postgres"]["data_dir"] == str(own_engines / "postgres" / "data")
    assert state["clickhouse"]["mode"].startswith("chdb")

    again = runner.invoke(app, ["--json", "engines", "up"])
    assert json.loads(again.stdout)["postgres"]["pid"] == state["postgres"]["pid"]

    status = runner.invoke(app, ["engines", "status"])
    assert status.exit_code == 0 and "running" in status.stdout

    down = runner.invoke(app, ["engines", "down"])
    assert down.exit_code == 0 and "postgres stopped" in down.stdout
    down_again = runner.invoke(app, ["engines", "down"])
    assert "was not running" in down_again.stdout
    assert (
        json.loads(runner.invoke(app, ["--json", "engines", "status"]).stdout)["postgres"]["running"] is False
    )


def test_bad_config_value_exits_2_with_one_clear_line(
    own_engines: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIGRATA_POSTGRES__PORT", "not-a-port")
    result = runner.invoke(app, ["engines", "status"])
    assert result.exit_code == 2
    assert "invalid setting MIGRATA_POSTGRES__PORT" in result.stderr
    assert "Traceback" not in result.output


def test_unreachable_server_dsn_exits_nonzero_without_password(
    own_engines: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIGRATA_POSTGRES__DSN", f"postgresql://app:s3cret@127.0.0.1:{free_port()}/meta")
    result = runner.invoke(app, ["engines", "up"])
    assert result.exit_code == 1
    assert "cannot connect to Postgres at app@127.0.0.1" in result.stderr
    assert "s3cret" not in result.output


def test_a_dsn_with_a_non_integer_port_exits_2_naming_the_variable(
    own_engines: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17 item 6: it passed validation and failed at connect time, exit 1, hint "engines up"."""
    monkeypatch.setenv("MIGRATA_POSTGRES__DSN", "postgresql://app:s3cret@127.0.0.1:5432x/meta")
    for args in (["engines", "up"], ["repartition", "status"], ["parquet", "scan"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "invalid setting MIGRATA_POSTGRES__DSN" in result.stderr and "'5432x'" in result.stderr
        assert "engines up" not in result.stderr and "s3cret" not in result.output


def test_engines_up_on_a_busy_port_exits_2_and_writes_nothing(
    own_engines: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17 item 9: initdb ran first and left ~39 MB in a fresh home."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        monkeypatch.setenv("MIGRATA_POSTGRES__PORT", str(blocker.getsockname()[1]))
        result = runner.invoke(app, ["engines", "up"])
    assert result.exit_code == 2
    assert "is in use by another process" in result.stderr
    assert not (own_engines / "postgres").exists()


def test_usage_error_exits_2(own_engines: Path) -> None:
    assert runner.invoke(app, ["engines", "no-such-verb"]).exit_code == 2


def test_help_explains_every_verb() -> None:
    result = runner.invoke(app, ["engines", "--help"])
    for verb in ("up", "down", "status"):
        assert verb in result.stdout
