"""The lineage Dagster definitions: monthly partitions on the incremental dbt models, blocking gates,
the new-events sensor, and a partition materialized end to end on the real Postgres."""

from __future__ import annotations

import uuid

import psycopg
from dagster import AssetKey, DagsterInstance, MonthlyPartitionsDefinition, build_sensor_context

from python_ops.dbt_project import run_dbt
from python_ops.lineage.ingest import ingest_events
from python_ops.settings import MigrataSettings

RLD = AssetKey(["run_lineage_denormalized"])


def _event(event_type: str, time: str, run_id: str) -> dict:
    return {
        "eventType": event_type,
        "eventTime": time,
        "run": {"runId": run_id},
        "job": {"namespace": "ns", "name": "job_a"},
        "outputs": [{"namespace": "ns", "name": "out"}],
    }


def test_partitioned_models_and_blocking_gates_are_defined() -> None:
    from dagster_defs.definitions import defs

    graph = defs.resolve_asset_graph()
    node = graph.get(RLD)
    assert isinstance(node.partitions_def, MonthlyPartitionsDefinition)
    assert graph.get(AssetKey(["stg_lineage__runs"])).partitions_def is None
    specs = {
        spec.name: spec
        for assets_def in defs.resolve_asset_graph().assets_defs
        for spec in assets_def.check_specs
        if spec.asset_key == RLD
    }
    assert {
        "assert_run_lineage_denormalized_count_matches_runs",
        "assert_run_lineage_denormalized_state_matches_runs",
        "relationships_run_lineage_denormalized_job_uuid__job_uuid__ref_stg_lineage__jobs_",
    } <= set(specs)
    assert specs["assert_lineage_default_partitions_empty"].blocking
    assert specs["unique_run_lineage_denormalized_run_uuid"].blocking


def test_sensor_requests_changed_months_and_a_partition_builds(
    settings_env: MigrataSettings, conn: psycopg.Connection
) -> None:
    from dagster_defs.definitions import defs
    from dagster_defs.lineage import REFRESH_TAG, lineage_new_events_sensor
    from dagster_defs.resources import MigrataResource

    ingest_events(
        conn,
        [
            _event("START", "2026-01-10T10:00:00Z", str(uuid.uuid4())),
            _event("COMPLETE", "2026-02-10T10:00:00Z", str(uuid.uuid4())),
        ],
    )
    with DagsterInstance.ephemeral() as instance:
        # before the staging views exist a refresh could only fail: the sensor waits, cursor unchanged
        with build_sensor_context(instance=instance, resources={"migrata": MigrataResource()}) as context:
            early = lineage_new_events_sensor(context)
        assert "staging views are not built" in str(early.skip_message) and context.cursor is None
        run_dbt(["run", "--target", "postgres", "--select", "fqn:lineage.staging"], settings_env)
        with build_sensor_context(instance=instance, resources={"migrata": MigrataResource()}) as context:
            result = lineage_new_events_sensor(context)
        keys = sorted(r.partition_key for r in result.run_requests)
        assert keys == ["2026-01-01", "2026-02-01"]
        assert all(r.tags[REFRESH_TAG] == "incremental" for r in result.run_requests)
        with build_sensor_context(
            instance=instance, cursor=result.cursor, resources={"migrata": MigrataResource()}
        ) as again:
            assert not getattr(lineage_new_events_sensor(again), "run_requests", None)

        job = defs.resolve_implicit_global_asset_job_def()
        run = job.execute_in_process(
            instance=instance,
            asset_selection=[RLD, AssetKey(["run_parent_lineage_denormalized"])],
            partition_key="2026-01-01",
        )
        assert run.success
        assert all(e.passed for e in run.get_asset_check_evaluations())
    assert conn.execute("SELECT count(*), min(run_date) FROM run_lineage_denormalized").fetchone() == (
        1,
        __import__("datetime").date(2026, 1, 10),
    )
