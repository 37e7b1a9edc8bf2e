"""Own the lineage assets that are not plain dbt views: the store tables ingestion writes (declared), the
monthly-partitioned incremental dbt models, and the sensor that refreshes them when new events arrive.
"""

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    BackfillPolicy,
    MonthlyPartitionsDefinition,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster_dbt import DbtCliResource, dbt_assets

from dagster_defs.dbt import translator
from dagster_defs.project import postgres_project
from dagster_defs.resources import MigrataResource
from python_ops.lineage.changes import changes_since
from python_ops.lineage.refresh import MODELS, dbt_vars

# one partition per month of run_date; the current month is included while it is still filling
monthly = MonthlyPartitionsDefinition(start_date="2020-01-01", end_offset=1)
REFRESH_TAG = "migrata/lineage_refresh"  # "incremental": only changed runs of the month; else rebuild it

STORE_TABLES = (
    "lineage_events_raw",
    "lineage_namespaces",
    "lineage_jobs",
    "lineage_datasets",
    "lineage_runs",
    "lineage_run_inputs",
    "lineage_run_outputs",
)


# The normalized store is written by ingestion (`migrata lineage serve` / `lineage ingest`), not by
# Dagster: its tables are declared so the dbt sources reading them have upstream assets.
store_tables = [
    AssetSpec(
        AssetKey(["lineage", t]),
        group_name="lineage",
        description=f"{t}: written by OpenLineage ingestion (migrata lineage serve / ingest).",
    )
    for t in STORE_TABLES
]


@dbt_assets(
    manifest=postgres_project.manifest_path,
    dagster_dbt_translator=translator,
    name="lineage_denormalized_models",
    select=" ".join(MODELS),
    partitions_def=monthly,
    backfill_policy=BackfillPolicy.single_run(),  # a month range is one dbt run over the whole window
)
def lineage_denormalized_models(
    context: AssetExecutionContext, dbt_postgres: DbtCliResource, migrata: MigrataResource
) -> Iterator[Any]:
    """Build the monthly-partitioned denormalized lineage tables of the partition window, with gates."""
    window = context.partition_time_window
    rebuild = context.run.tags.get(REFRESH_TAG) != "incremental"
    values = dbt_vars(window.start.date(), window.end.date(), rebuild=rebuild)
    # buildable: a gate runs when its models are selected or upstream of them, so a subset without
    # lineage_graph_edges skips the edge gate instead of testing a table it did not build
    args = ["build", "--vars", json.dumps(values), "--indirect-selection", "buildable"]
    yield from dbt_postgres.cli(args, context=context).stream()


@sensor(
    name="lineage_new_events_sensor",
    asset_selection=AssetSelection.assets(lineage_denormalized_models),
    minimum_interval_seconds=30,
)
def lineage_new_events_sensor(context: SensorEvaluationContext, migrata: MigrataResource) -> Any:
    """Refresh the denormalized lineage months whose runs got new events (cursor: newest received_at)."""
    cursor = datetime.fromisoformat(context.cursor) if context.cursor else None
    with migrata.connect() as conn:
        changes = changes_since(conn, cursor)
    if not changes.events or changes.cursor is None:
        return SkipReason("no new lineage events")
    keys = set(monthly.get_partition_keys())
    requests = [
        RunRequest(
            run_key=f"{changes.cursor.isoformat()}:{month.isoformat()}",
            partition_key=month.isoformat(),
            tags={REFRESH_TAG: "incremental"},
        )
        for month in changes.months
        if month.isoformat() in keys
    ]
    return SensorResult(run_requests=requests, cursor=changes.cursor.isoformat())


assets = [*store_tables, lineage_denormalized_models]
asset_checks: list[Any] = []
schedules: list[Any] = []
sensors = [lineage_new_events_sensor]
