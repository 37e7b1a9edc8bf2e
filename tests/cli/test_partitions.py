"""`migrata partitions | repartition | backups …` as a user runs them: round trips and exit codes."""

from __future__ import annotations

import json

import psycopg
from typer.testing import CliRunner

from python_ops.cli.app import app
from python_ops.settings import MigrataSettings

runner = CliRunner()


def _ok(args: list[str], code: int = 0) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    return result.stdout


def test_manage_maintain_status_unmanage(settings_env: MigrataSettings, conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE ev (at timestamptz NOT NULL) PARTITION BY RANGE (at)")
    conn.execute("CREATE TABLE ev_default PARTITION OF ev DEFAULT")
    assert "would manage" in _ok(["partitions", "manage", "ev", "--dry-run"])
    _ok(["partitions", "manage", "ev", "--premake", "2", "--retention", "6 months"])
    _ok(["partitions", "status"], code=1)  # future partitions missing until maintenance runs
    dry = _ok(["partitions", "maintain", "--dry-run"])
    assert "migrata_ensure_range_partitions" in dry and "dry run" in dry
    done = json.loads(_ok(["--json", "partitions", "maintain"]))
    assert done["status"] == "ok" and done["units_done"] == 3
    assert json.loads(_ok(["--json", "partitions", "maintain"]))["status"] == "nothing-to-do"
    (health,) = json.loads(_ok(["--json", "partitions", "status"]))
    assert health["future_ok"] and health["default_empty"] and len(health["partitions"]) == 4
    conn.execute("INSERT INTO ev VALUES ('2001-01-01')")
    assert "need attention: public.ev" in _ok(["partitions", "status"], code=1)
    _ok(["partitions", "unmanage", "ev"])
    assert runner.invoke(app, ["partitions", "unmanage", "ev"]).exit_code == 2
    assert runner.invoke(app, ["partitions", "manage", "nope"]).exit_code == 2


def test_repartition_run_status_rollback_and_backups(
    settings_env: MigrataSettings, conn: psycopg.Connection
) -> None:
    conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, g int NOT NULL, body text)")
    conn.execute("INSERT INTO items SELECT i, i % 10, 'x' FROM generate_series(1, 500) i")
    assert (
        runner.invoke(app, ["repartition", "run", "items", "--by", "g", "--list-partitions", "1"]).exit_code
        == 2
    )
    assert runner.invoke(app, ["repartition", "run", "items", "--by", "nope"]).exit_code == 2
    dry = _ok(["repartition", "run", "items", "--by", "g", "--list-partitions", "4", "--dry-run"])
    assert "LOCK TABLE" in dry and "nothing written" in dry
    report = json.loads(_ok(["--json", "repartition", "run", "items", "--by", "g", "--list-partitions", "4"]))
    assert report["status"] == "ok" and report["units_done"] == 500
    again = json.loads(_ok(["--json", "repartition", "run", "items", "--by", "g", "--list-partitions", "4"]))
    assert again["status"] == "nothing-to-do"
    (run,) = [
        r for r in json.loads(_ok(["--json", "repartition", "status"])) if r["table_name"] == "public.items"
    ]
    assert run["step"] == "swapped"
    backup = report["details"]["backup_table"]

    listed = json.loads(_ok(["--json", "backups", "list", "--source", "items"]))
    assert [b["backup_table"] for b in listed] == [backup]
    assert json.loads(_ok(["--json", "backups", "status"]))["verified"] == 1
    assert json.loads(_ok(["--json", "backups", "verify", backup]))["status"] == "ok"
    assert "now expires" in _ok(["backups", "extend", backup, "--days", "3"])
    assert runner.invoke(app, ["backups", "extend", backup, "--days", "0"]).exit_code == 2
    assert runner.invoke(app, ["backups", "verify", "nope"]).exit_code == 2
    conn.execute("UPDATE migration_backups SET expires_at = now() - interval '1 day'")
    assert backup in _ok(["backups", "cleanup", "--dry-run"])
    assert json.loads(_ok(["--json", "backups", "cleanup"]))["details"]["dropped"] == [backup]

    assert "dry run" in _ok(["repartition", "rollback", "items", "--dry-run"])
    assert json.loads(_ok(["--json", "repartition", "rollback", "items"]))["status"] == "ok"
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (500,)
    assert runner.invoke(app, ["repartition", "rollback", "items"]).exit_code == 2
