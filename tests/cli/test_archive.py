"""`migrata archive run | cleanup | status | restore` as a user runs them: output, JSON, exit codes, the
`--yes` deletions need, and a second process on chDB's directory named by its pid."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg
from typer.testing import CliRunner

from migrata_samples import archive_rows as sample
from python_ops.cli.app import app
from python_ops.settings import MigrataSettings

runner = CliRunner()


def _watermarks(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM migration_watermarks").fetchone()[0]  # type: ignore[index]


def test_dry_run_then_run_then_status_and_cleanup(
    settings_env: MigrataSettings, conn: psycopg.Connection
) -> None:
    sample.generate(conn, rows=600, days=30, datasets=1, tables=("lifecycle_audit_log",))
    rows = conn.execute("SELECT count(*) FROM lifecycle_audit_log").fetchone()[0]  # type: ignore[index]

    dry = runner.invoke(app, ["archive", "run", "--table", "lifecycle_audit_log", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "INSERT INTO `lifecycle_audit_log` (`id`," in dry.stdout and "postgresql(" in dry.stdout
    assert "-- dbt run" in dry.stdout and "nothing written" in dry.stdout
    assert _watermarks(conn) == 0

    ran = runner.invoke(app, ["--json", "--quiet", "archive", "run", "--dataset-id", "ds-1"])
    assert ran.exit_code == 0, ran.output
    reports = json.loads(ran.stdout)
    copy = next(r for r in reports if r["operation"] == "archive_copy:lifecycle_audit_log:ds-1")
    assert copy["status"] == "ok" and copy["details"]["records_migrated"] > 400
    assert copy["units_done"] == copy["plan"]["total"]
    assert not [r for r in reports if r["operation"].startswith("archive_cleanup")]  # run deletes nothing
    assert conn.execute("SELECT count(*) FROM lifecycle_audit_log").fetchone()[0] == rows + 1  # + audit event

    status = runner.invoke(app, ["--json", "archive", "status"])
    assert status.exit_code == 0, status.output
    data = json.loads(status.stdout)
    row = next(t for t in data["tables"] if t["table"] == "lifecycle_audit_log")
    assert row["watermark"] and row["pending_archive"] == 0 and row["pending_cleanup"] > 0
    assert row["archived"] == copy["details"]["records_migrated"]
    assert {m["operation"] for m in data["metrics"]} == {"postgres_migration", "postgres_migration_cleanup"}
    table = runner.invoke(app, ["archive", "status"])
    assert "archive watermarks" in table.stdout and "lifecycle_audit_log" in table.stdout

    dry_cleanup = runner.invoke(app, ["archive", "cleanup", "--dry-run"])  # a dry run needs no --yes
    assert dry_cleanup.exit_code == 0, dry_cleanup.output
    assert "DELETE FROM" in dry_cleanup.stdout

    unconfirmed = runner.invoke(app, ["archive", "cleanup"])  # irreversible: off a terminal, --yes
    assert unconfirmed.exit_code == 2 and "pass --yes" in unconfirmed.stderr
    also = runner.invoke(app, ["archive", "run", "--cleanup"])
    assert also.exit_code == 2 and "pass --yes" in also.stderr
    assert conn.execute("SELECT count(*) FROM lifecycle_audit_log").fetchone()[0] == rows + 1

    cleaned = runner.invoke(app, ["--json", "--quiet", "archive", "cleanup", "--yes"])
    assert cleaned.exit_code == 0, cleaned.output
    deleted = sum(r["units_done"] for r in json.loads(cleaned.stdout))
    assert deleted == row["pending_cleanup"]
    left = conn.execute("SELECT count(*) FROM lifecycle_audit_log").fetchone()[0]  # type: ignore[index]
    assert left == rows + 2 - deleted  # + the audit events of the run and of the cleanup

    args = ["archive", "restore", "--table", "lifecycle_audit_log", "--since", "2000-01-01", "--dry-run"]
    undo = runner.invoke(app, args)
    assert undo.exit_code == 0, undo.output
    assert "INSERT INTO FUNCTION postgresql(" in undo.stdout and "nothing written" in undo.stdout


def test_unknown_table_or_dataset_exits_2(settings_env: MigrataSettings) -> None:
    bad_table = runner.invoke(app, ["archive", "run", "--table", "no_such_table"])
    assert bad_table.exit_code == 2 and "is not archived" in bad_table.stderr
    bad_dataset = runner.invoke(app, ["archive", "run", "--dataset-id", "nope"])
    assert bad_dataset.exit_code == 2 and "dataset nope does not exist" in bad_dataset.stderr


HOLD_CHDB = (
    "import sys, time, clickhouse_connect\n"
    "client = clickhouse_connect.get_client(interface='chdb', path=sys.argv[1])\n"
    "print('holding', flush=True)\n"
    "time.sleep(float(sys.argv[2]))\n"
)


def _hold(settings: MigrataSettings, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_CHDB, str(settings.chdb_path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    return holder


def test_a_second_process_on_chdb_is_named_by_its_pid(
    settings_env: MigrataSettings, conn: psycopg.Connection
) -> None:
    """Issue 17 item 5: the loser said "check MIGRATA_CLICKHOUSE__URL"; the cause is the holder of chDB."""
    sample.generate(conn, rows=300, days=30, datasets=1, tables=("lifecycle_audit_log",))
    holder = _hold(settings_env, 120)
    try:
        busy = runner.invoke(app, ["archive", "run"])
        assert busy.exit_code == 2, busy.output
        assert (
            f"another process holds the chDB data directory {settings_env.chdb_path}: pid {holder.pid}"
            in (busy.stderr.replace("\n", ""))
        )
        assert "--wait" in busy.stderr and "MIGRATA_CLICKHOUSE__URL" not in busy.stderr
        assert _watermarks(conn) == 0
    finally:
        holder.kill()
        holder.wait()

    brief = _hold(settings_env, 2)  # --wait waits until the directory is free, then runs
    waited = runner.invoke(app, ["--quiet", "archive", "run", "--wait"])
    brief.wait()
    assert waited.exit_code == 0, waited.output
    assert _watermarks(conn) == 1
