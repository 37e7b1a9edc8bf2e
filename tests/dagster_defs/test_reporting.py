"""Work done by the CLI shows in Dagster: with an instance configured (DAGSTER_HOME), a CLI lineage
backfill records the months it built as materialized partitions, and a CLI archive run records each
table's asset with the metadata a Dagster run records; with reporting off nothing is recorded."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
from dagster import AssetKey, DagsterInstance
from typer.testing import CliRunner

from migrata_samples import archive_rows as sample
from python_ops.cli.app import app
from python_ops.lineage.ingest import ingest_events
from python_ops.settings import MigrataSettings

runner = CliRunner()
INSTANCE_YAML = Path(__file__).resolve().parents[2] / "dagster_defs" / "dagster.yaml"


def _event(time: str) -> dict:
    return {
        "eventType": "COMPLETE",
        "eventTime": time,
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "ns", "name": "job_a"},
        "outputs": [{"namespace": "ns", "name": "out"}],
    }


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(INSTANCE_YAML, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("MIGRATA_DAGSTER__REPORT_CLI_RUNS", "true")
    return home


def _materialized(instance: DagsterInstance, key: str) -> set[str | None]:
    records = instance.fetch_materializations(AssetKey(key), limit=100).records
    return {r.partition_key for r in records}


def test_cli_backfill_and_archive_are_recorded(
    settings_env: MigrataSettings, conn: psycopg.Connection, dagster_home: Path, monkeypatch
) -> None:
    ingest_events(conn, [_event("2026-01-10T10:00:00Z"), _event("2026-02-10T10:00:00Z")])
    done = runner.invoke(app, ["--quiet", "lineage", "backfill"])
    assert done.exit_code == 0, done.output
    assert "recorded" in done.stderr
    sample.generate(conn, rows=300, days=30, datasets=1, tables=("lifecycle_audit_log",))
    ran = runner.invoke(app, ["--quiet", "archive", "run", "--table", "lifecycle_audit_log"])
    assert ran.exit_code == 0, ran.output

    with DagsterInstance.get() as instance:
        assert _materialized(instance, "run_lineage_denormalized") == {"2026-01-01", "2026-02-01"}
        assert _materialized(instance, "lineage_graph_edges") == {"2026-01-01", "2026-02-01"}
        records = instance.fetch_materializations(AssetKey("run_lineage_denormalized"), limit=10).records
        meta = records[0].asset_materialization.metadata
        assert meta["dagster/row_count"].value == 1 and meta["status"].value == "ok"
        (archived,) = instance.fetch_materializations(
            AssetKey("archive_lifecycle_audit_log"), limit=10
        ).records
        meta = archived.asset_materialization.metadata
        # the same keys and types as the Dagster asset's metadata (dagster_defs.report_metadata)
        assert meta["rows_archived"].value > 100 and meta["runs"].value == 1
        assert {c.name for c in meta["operations"].value.schema.columns} >= {"operation", "rows", "status"}

    monkeypatch.setenv("MIGRATA_DAGSTER__REPORT_CLI_RUNS", "false")
    again = runner.invoke(app, ["--quiet", "archive", "run", "--table", "lifecycle_audit_log"])
    assert again.exit_code == 0 and "recorded" not in again.stderr
    with DagsterInstance.get() as instance:
        assert (
            len(instance.fetch_materializations(AssetKey("archive_lifecycle_audit_log"), limit=10).records)
            == 1
        )
