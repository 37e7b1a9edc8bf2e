"""Own the lineage assets that are not dbt models: the store tables ingestion writes (declared), and the
sensor that refreshes the months of the incremental dbt models (`dagster_defs.dbt`) whose runs got new
events. The sensor is on by default.
"""

from datetime import datetime
from typing import Any

from dagster import (
    AssetKey,
    AssetSelection,
    AssetSpec,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from dagster_defs.conventions import OWNERS, tags
from dagster_defs.dbt import REFRESH_TAG, lineage_denormalized_models
from dagster_defs.resources import MigrataResource
from dagster_defs.time_partitions import monthly
from python_ops.lineage.changes import changes_since

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
        kinds={"postgres"},
        owners=OWNERS,
        tags=tags("lineage"),
    )
    for t in STORE_TABLES
]


@sensor(
    name="lineage_new_events_sensor",
    asset_selection=AssetSelection.assets(lineage_denormalized_models),
    minimum_interval_seconds=30,
    # on by default: new events reach the denormalized tables without anyone turning it on (README)
    default_status=DefaultSensorStatus.RUNNING,
)
def lineage_new_events_sensor(context: SensorEvaluationContext, migrata: MigrataResource) -> Any:
    """Refresh the denormalized lineage months whose runs got new events (cursor: newest received_at)."""
    cursor = datetime.fromisoformat(context.cursor) if context.cursor else None
    with migrata.connect() as conn:
        # the monthly models' unit tests read the staging views' columns: until the views exist (built
        # by lineage_dbt_models, automatically when missing) a refresh could only fail; keep the cursor
        if conn.execute("SELECT to_regclass('stg_lineage__runs') IS NULL").fetchone()[0]:
            return SkipReason("the lineage staging views are not built yet (asset group lineage)")
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


assets = [*store_tables]
asset_checks: list[Any] = []
schedules: list[Any] = []
sensors = [lineage_new_events_sensor]
