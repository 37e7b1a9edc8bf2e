"""`migrata archive run | cleanup | status` as a user runs them: output, JSON, exit codes."""

from __future__ import annotations

import json

import psycopg
from typer.testing import CliRunner

from migrata_samples import archive_rows as sample
from python_ops.cli.app import app
from python_ops.settings import MigrataSettings

runner = CliRunner()


def test_dry_run_then_run_then_status_and_cleanup(
    settings_env: MigrataSettings, conn: psycopg.Connection
) -> None:
    sample.generate(conn, rows=600, days=30, datasets=1, tables=("lifecycle_audit_log",))

    dry = runner.invoke(app, ["archive", "run", "--table", "lifecycle_audit_log", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "CREATE TABLE IF NOT EXISTS `lifecycle_audit_log`" in dry.stdout and "postgresql(" in dry.stdout
    assert "nothing written" in dry.stdout
    assert conn.execute("SELECT count(*) FROM migration_watermarks").fetchone()[0] == 0  # type: ignore[index]

    ran = runner.invoke(app, ["--json", "--quiet", "archive", "run", "--dataset-id", "ds-1"])
    assert ran.exit_code == 0, ran.output
    reports = json.loads(ran.stdout)
    copy = next(r for r in reports if r["operation"] == "archive_copy:lifecycle_audit_log:ds-1")
    assert copy["status"] == "ok" and copy["details"]["records_migrated"] > 400

    status = runner.invoke(app, ["--json", "archive", "status"])
    assert status.exit_code == 0, status.output
    data = json.loads(status.stdout)
    row = next(t for t in data["tables"] if t["table"] == "lifecycle_audit_log")
    assert (
        row["watermark"]
        and row["pending_archive"] == 0
        and row["archived"] == copy["details"]["records_migrated"]
    )
    assert {m["operation"] for m in data["metrics"]} == {"postgres_migration", "postgres_migration_cleanup"}

    table = runner.invoke(app, ["archive", "status"])
    assert "archive watermarks" in table.stdout and "lifecycle_audit_log" in table.stdout

    cleanup = runner.invoke(app, ["archive", "cleanup", "--dry-run"])
    assert cleanup.exit_code == 0, cleanup.output

    args = ["archive", "restore", "--table", "lifecycle_audit_log", "--since", "2000-01-01", "--dry-run"]
    undo = runner.invoke(app, args)
    assert undo.exit_code == 0, undo.output
    assert "INSERT INTO FUNCTION postgresql(" in undo.stdout and "nothing written" in undo.stdout


def test_unknown_table_or_dataset_exits_2(settings_env: MigrataSettings) -> None:
    bad_table = runner.invoke(app, ["archive", "run", "--table", "no_such_table"])
    assert bad_table.exit_code == 2 and "is not archived" in bad_table.stderr
    bad_dataset = runner.invoke(app, ["archive", "run", "--dataset-id", "nope"])
    assert bad_dataset.exit_code == 2 and "dataset nope does not exist" in bad_dataset.stderr
