"""The one `Definitions`: it loads, jobs resolve, every dbt model is an asset, a materialization works."""

from __future__ import annotations

import json

import psycopg
from dagster import AssetKey

from python_ops.settings import MigrataSettings


def test_definitions_load_and_every_job_resolves() -> None:
    from dagster_defs.definitions import defs

    jobs = defs.resolve_all_job_defs()
    assert jobs, "no jobs resolved"
    for job in jobs:
        assert job.name
    assert defs.resolve_all_asset_specs()


def test_every_dbt_model_is_an_asset() -> None:
    from dagster_defs.definitions import defs
    from dagster_defs.project import clickhouse_project, postgres_project

    keys = {spec.key for spec in defs.resolve_all_asset_specs()}
    for target, project in (("postgres", postgres_project), ("clickhouse", clickhouse_project)):
        manifest = json.loads(project.manifest_path.read_text())
        models = [n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"]
        assert models, f"no models for {target}"
        for name in models:
            assert AssetKey([name]) in keys, f"dbt model {name} ({target}) has no asset"


def test_dbt_tests_are_asset_checks() -> None:
    from dagster_defs.definitions import defs

    checks = defs.resolve_asset_graph().asset_check_keys
    assert any(key.asset_key == AssetKey(["stg_lineage__events_raw"]) for key in checks)


def test_materialize_raw_events_and_staging_view(
    settings_env: MigrataSettings, conn: psycopg.Connection
) -> None:
    from dagster_defs.definitions import defs
    from migrata_samples.openlineage import food_delivery_events
    from python_ops.lineage import ingest_events

    ingest_events(conn, food_delivery_events())  # ingestion writes the store, not Dagster
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(asset_selection=[AssetKey(["stg_lineage__events_raw"])])
    assert result.success
    raw = conn.execute("SELECT count(*) FROM lineage_events_raw").fetchone()[0]
    assert raw > 0
    assert conn.execute("SELECT count(*) FROM stg_lineage__events_raw").fetchone()[0] == raw
