"""`migrata parquet …` through the real CLI: exit codes, dry run, issue file, JSON output."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from migrata_samples.parquet_store import Generated, damage_store, generate_store
from python_ops.cli.app import app
from python_ops.parquet_repair.models import StoreConfig
from python_ops.parquet_repair.storage import Storage
from python_ops.settings import MigrataSettings

runner = CliRunner()


@pytest.fixture
def store_env(
    settings_env: MigrataSettings, conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Generated:
    monkeypatch.setenv("MIGRATA_PARQUET__STORAGE_URL", str(tmp_path / "objects"))
    storage = Storage.from_url(str(tmp_path / "objects"))
    generated = generate_store(conn, StoreConfig(), storage, 20, max_rows=200)
    return damage_store(conn, StoreConfig(), storage, generated, 0.5, mix={"legacy": 0.6, "missing": 0.4})


def _metadata(conn: psycopg.Connection) -> dict[str, bytes]:
    return {r[0]: bytes(r[1]) for r in conn.execute("SELECT file_path, metadata FROM partition_metadata")}


def test_scan_repair_verify_exit_codes(
    store_env: Generated, conn: psycopg.Connection, tmp_path: Path
) -> None:
    scanned = runner.invoke(app, ["--json", "parquet", "scan"])
    assert scanned.exit_code == 1, scanned.output
    counts = json.loads(scanned.stdout)["details"]["counts"]
    assert counts == {"ok": 10, "legacy-undecodable": 6, "corrupt": 0, "file-missing": 4}

    before = _metadata(conn)
    dry = runner.invoke(app, ["parquet", "repair", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "UPDATE" in dry.stdout and "dry run, would process 10 entries" in dry.stdout
    assert _metadata(conn) == before

    report_file = tmp_path / "issues.csv"
    repaired = runner.invoke(
        app, ["parquet", "repair", "--batch-size", "3", "--workers", "2", "--report-file", str(report_file)]
    )
    assert repaired.exit_code == 1, repaired.output  # 4 files are gone: said by the exit code
    assert "migrated 6, skipped 0, errors 4" in repaired.stdout
    with report_file.open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["file_path"] for r in rows) == sorted(store_env.of("missing"))
    assert {r["kind"] for r in rows} == {"file-missing"}

    rescanned = runner.invoke(app, ["--json", "parquet", "scan"])
    assert json.loads(rescanned.stdout)["details"]["counts"]["legacy-undecodable"] == 0
    assert runner.invoke(app, ["parquet", "verify"]).exit_code == 1  # the missing files still fail it


def test_all_repairable_ends_green_and_restore_undoes(
    settings_env: MigrataSettings, conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIGRATA_PARQUET__STORAGE_URL", str(tmp_path / "objects"))
    storage = Storage.from_url(str(tmp_path / "objects"))
    generated = generate_store(conn, StoreConfig(), storage, 10, max_rows=100)
    damage_store(conn, StoreConfig(), storage, generated, 0.5, mix={"legacy": 1.0})
    before = _metadata(conn)

    repaired = runner.invoke(app, ["--json", "parquet", "repair"])
    assert repaired.exit_code == 0, repaired.output
    backup = json.loads(repaired.stdout)["details"]["backup_table"]
    assert runner.invoke(app, ["parquet", "scan"]).exit_code == 0
    assert runner.invoke(app, ["parquet", "verify"]).exit_code == 0
    shown = runner.invoke(app, ["--json", "parquet", "show", generated.of("legacy")[0]])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["num_rows"] > 0

    assert runner.invoke(app, ["parquet", "restore", backup, "--dry-run"]).exit_code == 0
    assert _metadata(conn) != before
    assert runner.invoke(app, ["parquet", "restore", backup]).exit_code == 0
    assert _metadata(conn) == before
    assert runner.invoke(app, ["parquet", "restore", "no_such_backup"]).exit_code == 2


def test_a_missing_storage_root_exits_2_before_any_write_and_scan_says_unreachable(
    store_env: Generated, conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17 item 7: repair backed up the entries then failed per file; scan said reachable: yes."""
    monkeypatch.setenv("MIGRATA_PARQUET__STORAGE_URL", str(tmp_path / "unmounted"))
    before = _metadata(conn)
    repaired = runner.invoke(app, ["parquet", "repair"])
    assert repaired.exit_code == 2
    errors = [line for line in repaired.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: parquet storage is not reachable: root {tmp_path / 'unmounted'} does not exist"
    ]
    assert _metadata(conn) == before
    assert conn.execute("SELECT count(*) FROM migration_backups").fetchone() == (0,)

    scanned = runner.invoke(app, ["parquet", "scan"])
    assert scanned.exit_code == 1
    assert "storage reachable: NO" in scanned.stdout and "does not exist" in scanned.stdout
    counts = json.loads(runner.invoke(app, ["--json", "parquet", "scan"]).stdout)["details"]["counts"]
    assert counts["file-missing"] == 0 and counts["legacy-undecodable"] == 10  # by the cache alone
    assert runner.invoke(app, ["parquet", "verify"]).exit_code == 2
