"""dbt gates run in the step of the model they test, scoped to its partition: a row in a DEFAULT
partition fails exactly `assert_lineage_default_partitions_empty` on `run_lineage_denormalized` for the
month built, the staging step and its checks stay green, downstream models are not built, and the
check's text carries no ANSI codes."""

from __future__ import annotations

import uuid

import psycopg
from dagster import AssetCheckKey, AssetKey, DagsterEventType, DagsterInstance, EventRecordsFilter

from python_ops.lineage.ingest import ingest_events
from python_ops.settings import MigrataSettings

RLD = AssetKey(["run_lineage_denormalized"])
GATE = AssetCheckKey(RLD, "assert_lineage_default_partitions_empty")
MONTH = "2026-01-01"


def _event(time: str) -> dict:
    return {
        "eventType": "COMPLETE",
        "eventTime": time,
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "ns", "name": "job_a"},
        "inputs": [{"namespace": "ns", "name": "in"}],
        "outputs": [{"namespace": "ns", "name": "out"}],
    }


def test_failing_gate_is_that_check_on_that_partition(
    settings_env: MigrataSettings, conn: psycopg.Connection
) -> None:
    from dagster_defs.definitions import defs

    ingest_events(conn, [_event("2026-01-10T10:00:00Z")])
    job = defs.resolve_implicit_global_asset_job_def()
    staging = [k for k in job.asset_layer.executable_asset_keys if k.path[0].startswith("stg_lineage__")]
    partitioned = [
        RLD,
        AssetKey(["run_parent_lineage_denormalized"]),
        AssetKey(["lineage_graph_edges"]),
        AssetKey(["lineage_jobs_latest"]),
        AssetKey(["lineage_run_counts_daily"]),
        AssetKey(["lineage_dashboard_daily"]),
    ]
    with DagsterInstance.ephemeral() as instance:
        ok = job.execute_in_process(instance=instance, asset_selection=staging)
        assert ok.success and all(e.passed for e in ok.get_asset_check_evaluations())
        first = job.execute_in_process(instance=instance, asset_selection=partitioned, partition_key=MONTH)
        assert first.success
        evaluations = first.get_asset_check_evaluations()
        assert evaluations and all(e.passed and e.partition == MONTH for e in evaluations)

        # a row no month owns lands in the DEFAULT partition: the gate of the month built must fail
        conn.execute(
            "INSERT INTO run_lineage_denormalized "
            "SELECT (jsonb_populate_record(r, jsonb_build_object('run_uuid', gen_random_uuid(), "
            "'run_date', '1999-06-01'))).* FROM run_lineage_denormalized r LIMIT 1"
        )
        failed = job.execute_in_process(
            instance=instance, asset_selection=partitioned, partition_key=MONTH, raise_on_error=False
        )
        assert not failed.success
        by_key = {e.asset_check_key: e for e in failed.get_asset_check_evaluations()}
        assert not by_key[GATE].passed and by_key[GATE].partition == MONTH
        # the stray row has no normalized run, so the (store-wide) relationship test fails with it; the
        # month's own gates (count and state parity over its window) pass, each check says for itself
        failing = {k.name for k, e in by_key.items() if not e.passed}
        assert failing == {
            GATE.name,
            "relationships_run_lineage_denormalized_run_uuid__run_uuid__ref_stg_lineage__runs_",
        }
        assert by_key[AssetCheckKey(RLD, "assert_run_lineage_denormalized_count_matches_runs")].passed
        assert by_key[AssetCheckKey(RLD, "assert_run_lineage_denormalized_state_matches_runs")].passed
        # dbt stopped what depends on the model whose test failed
        built = {m.asset_key for m in failed.asset_materializations_for_node("lineage_denormalized_models")}
        assert AssetKey(["lineage_graph_edges"]) not in built
        text = str(by_key[GATE].metadata) + str(by_key[GATE].description or "")
        assert "\x1b[" not in text
        # the staging assets' own checks were never re-run or blamed
        assert not any(k.asset_key in staging for k in by_key)
        records = instance.get_event_records(
            EventRecordsFilter(DagsterEventType.ASSET_CHECK_EVALUATION), limit=500
        )
        per_partition = {
            r.event_log_entry.dagster_event.event_specific_data.partition
            for r in records
            if r.event_log_entry.dagster_event.event_specific_data.asset_check_key == GATE
        }
        assert per_partition == {MONTH}
