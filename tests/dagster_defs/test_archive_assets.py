"""The archive Dagster definitions: an asset per configured table with a blocking agreement check (the dbt
gate), the cleanup asset, the schedule and its job from settings — and the assets materialized on the
real engines."""

from __future__ import annotations

import psycopg
from dagster import AssetKey, materialize

from migrata_samples import archive_rows as sample
from python_ops.settings import MigrataSettings

TABLES = ("dataset_access_audit", "lifecycle_audit_log", "lifecycle_job_runs")


def test_assets_checks_and_schedule_are_defined() -> None:
    from dagster_defs.definitions import defs

    graph = defs.resolve_asset_graph()
    for table in TABLES:
        node = graph.get(AssetKey(f"archive_{table}"))
        assert AssetKey(table) in node.parent_keys  # the dbt model defining the ClickHouse table
        spec = next(s for s in node.assets_def.check_specs if s.asset_key == node.key)
        assert spec.name == "archive_agrees_up_to_watermark" and spec.blocking
        assert node.pools == {"chdb"}
    cleanup = graph.get(AssetKey("archive_cleanup"))
    assert {AssetKey(f"archive_{t}") for t in TABLES} <= cleanup.parent_keys
    schedule = defs.resolve_schedule_def("archive_periodic_schedule")
    assert schedule.cron_schedule == "*/5 * * * *"
    job = defs.resolve_job_def("archive_run_job")
    # cleanup_after_run is off by default: the scheduled job archives and deletes nothing
    assert {f"archive_{t}" for t in TABLES} <= {
        k.to_user_string() for k in job.asset_layer.executable_asset_keys
    }
    assert AssetKey("archive_cleanup") not in job.asset_layer.executable_asset_keys


def test_materialize_archive_assets(settings_env: MigrataSettings, conn: psycopg.Connection) -> None:
    from dagster_defs import archive as archive_defs
    from dagster_defs.resources import MigrataResource

    sample.generate(conn, rows=500, days=30, datasets=2)
    result = materialize(
        [*archive_defs.table_assets, archive_defs.archive_cleanup],
        resources={"migrata": MigrataResource()},
        selection=[*(f"archive_{t}" for t in TABLES), "archive_cleanup"],
    )
    assert result.success
    meta = result.asset_materializations_for_node("archive_lifecycle_audit_log")[0].metadata
    assert meta["runs"].value == 2 and meta["rows_archived"].value > 300 and meta["bytes"].value > 0
    checks = result.get_asset_check_evaluations()
    assert len(checks) == len(TABLES) and all(c.passed for c in checks)
    assert all(
        "every row in Postgres at or below its watermark is archived" in str(c.metadata) for c in checks
    )
    cleaned = result.asset_materializations_for_node("archive_cleanup")[0].metadata
    assert cleaned["rows_deleted"].value > 0 and cleaned["pending_archive"].value == 0
