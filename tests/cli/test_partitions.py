"""`migrata partitions | repartition | backups …` as a user runs them: round trips and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

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
    assert backup == run["retired_table"]  # the retired original is the backup: no copy was made
    conn.execute("UPDATE migration_backups SET expires_at = now() - interval '1 day'")
    assert backup in _ok(["backups", "cleanup", "--dry-run"])
    refused = runner.invoke(app, ["backups", "cleanup"])  # irreversible: --yes, off a terminal
    assert refused.exit_code == 2 and "pass --yes" in refused.stderr and backup in refused.stderr
    assert conn.execute("SELECT to_regclass(%s)", (backup,)).fetchone()[0] is not None

    assert "dry run" in _ok(["repartition", "rollback", "items", "--dry-run"])
    assert json.loads(_ok(["--json", "repartition", "rollback", "items"]))["status"] == "ok"
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (500,)
    assert runner.invoke(app, ["repartition", "rollback", "items"]).exit_code == 2
    # restored by the rollback, the backup is the live table again: cleanup leaves it alone
    assert json.loads(_ok(["--json", "backups", "cleanup", "--yes"]))["details"]["dropped"] == []

    # once cleanup dropped an expired retired original, rollback says so and changes nothing
    report = json.loads(_ok(["--json", "repartition", "run", "items", "--by", "g", "--list-partitions", "4"]))
    backup = report["details"]["backup_table"]
    expire = "UPDATE migration_backups SET expires_at = now() - interval '1 day' WHERE status = 'verified'"
    conn.execute(expire)
    assert json.loads(_ok(["--json", "backups", "cleanup", "--yes"]))["details"]["dropped"] == [backup]
    gone = runner.invoke(app, ["repartition", "rollback", "items"])
    assert gone.exit_code == 2 and backup in gone.stderr and "retention ended" in gone.stderr
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (500,)


def _nothing_changed(conn: psycopg.Connection) -> None:
    runs = "SELECT count(*) FROM repartition_runs WHERE table_name = 'public.items'"
    assert conn.execute(runs).fetchone() == (0,)
    backups = "SELECT count(*) FROM migration_backups WHERE source_table = 'public.items'"
    assert conn.execute(backups).fetchone() == (0,)
    assert conn.execute("SELECT relkind FROM pg_class WHERE oid = 'items'::regclass").fetchone() == ("r",)


def test_numeric_options_are_validated_zero_never_means_the_default(
    settings_env: MigrataSettings, conn: psycopg.Connection
) -> None:
    """Issue 17 item 1: `--list-partitions 0` repartitioned into 100, `--batch-size 0` ran."""
    conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, g int NOT NULL, body text)")
    conn.execute("INSERT INTO items SELECT i, i % 10, 'x' FROM generate_series(1, 50) i")
    conn.execute("CREATE TABLE ev (at timestamptz NOT NULL) PARTITION BY RANGE (at)")
    cases = [
        (["repartition", "run", "items", "--by", "g", "--list-partitions", "0"], "'--list-partitions'"),
        (["repartition", "run", "items", "--by", "g", "--list-partitions", "1001"], "'--list-partitions'"),
        (["repartition", "run", "items", "--by", "g", "--batch-size", "0"], "'--batch-size'"),
        (["partitions", "manage", "ev", "--premake", "-1"], "'--premake'"),
        (["backups", "extend", "items_backup_x", "--days", "0"], "'--days'"),
        (["parquet", "repair", "--workers", "0"], "'--workers'"),
        (["parquet", "repair", "--batch-size", "0"], "'--batch-size'"),
    ]
    for args, names in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert names in result.output and "Traceback" not in result.output
    bad_setting = runner.invoke(
        app, ["repartition", "run", "items", "--by", "g"], env={"MIGRATA_PARTITIONS__LIST_PARTITIONS": "0"}
    )
    assert bad_setting.exit_code == 2
    assert "invalid setting MIGRATA_PARTITIONS__LIST_PARTITIONS" in bad_setting.stderr
    _nothing_changed(conn)
    assert conn.execute("SELECT count(*) FROM managed_partitions").fetchone() == (0,)


def test_another_layout_for_a_repartitioned_table_exits_2(
    settings_env: MigrataSettings, conn: psycopg.Connection
) -> None:
    """Issue 17 item 9: `--by nosuchcol` on an already repartitioned table said "nothing to do", exit 0."""
    conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, g int NOT NULL, body text)")
    conn.execute("INSERT INTO items SELECT i, i % 10, 'x' FROM generate_series(1, 50) i")
    _ok(["repartition", "run", "items", "--by", "g", "--list-partitions", "4"])
    result = runner.invoke(
        app, ["repartition", "run", "items", "--by", "nosuchcol", "--list-partitions", "4"]
    )
    assert result.exit_code == 2
    assert "already repartitioned by g into 4 LIST partitions" in result.stderr
    assert "repartition rollback" in result.stderr


def test_retention_that_drops_partitions_needs_yes(
    settings_env: MigrataSettings, conn: psycopg.Connection
) -> None:
    conn.execute("CREATE TABLE ev (at timestamptz NOT NULL) PARTITION BY RANGE (at)")
    conn.execute("CREATE TABLE ev_old PARTITION OF ev FOR VALUES FROM ('2001-01-01') TO ('2001-02-01')")
    _ok(["partitions", "manage", "ev", "--premake", "1", "--retention", "1 year", "--retention-mode", "drop"])
    refused = runner.invoke(app, ["partitions", "maintain"])
    assert refused.exit_code == 2
    assert "retention drops 1 partitions (ev_old) cannot be undone" in refused.stderr
    assert conn.execute("SELECT to_regclass('ev_old')").fetchone()[0] is not None
    assert conn.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'ev'::regclass").fetchone() == (
        1,
    )
    assert "DROP TABLE ev_old" in _ok(["partitions", "maintain", "--dry-run"])
    done = json.loads(_ok(["--json", "partitions", "maintain", "--yes"]))
    assert done["details"]["retired"] == 1 and "DROP TABLE ev_old" in done["details"]["executed"]
    assert conn.execute("SELECT to_regclass('ev_old')").fetchone() == (None,)


HOLD = """
import sys, time
from python_ops.engines.context import Engines
from python_ops.locks import operation_lock
with operation_lock(Engines.from_dsn(sys.argv[1]), sys.argv[2], sys.argv[3]):
    print("held", flush=True)
    time.sleep(float(sys.argv[4]))
"""


def test_a_second_run_of_one_table_exits_2_naming_the_holder_or_waits(
    settings_env: MigrataSettings, conn: psycopg.Connection
) -> None:
    """Issue 17 item 4, with a real second process holding the table's lock."""
    conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, g int NOT NULL, body text)")
    conn.execute("INSERT INTO items SELECT i, i % 10, 'x' FROM generate_series(1, 50) i")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, settings_env.postgres.dsn or "", "repartition", "public.items", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        busy = runner.invoke(app, ["repartition", "run", "items", "--by", "g", "--list-partitions", "4"])
        assert busy.exit_code == 2 and time.monotonic() - started < 2.5
        assert f"repartition of public.items is already running (pid {holder.pid} on " in busy.stderr
        assert "started at" in busy.stderr and "--wait" in busy.stderr
        _nothing_changed(conn)
        waited = runner.invoke(
            app, ["--json", "repartition", "run", "items", "--by", "g", "--list-partitions", "4", "--wait"]
        )
        assert waited.exit_code == 0, waited.output
        assert holder.poll() == 0  # it ran only after the holder was gone
        assert json.loads(waited.stdout)["status"] == "ok"
    finally:
        holder.kill()
        holder.wait()
