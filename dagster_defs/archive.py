"""Own the archive assets: one per archived table (copy → verify → watermark), a cleanup asset, the
blocking check "Postgres and ClickHouse agree up to the watermark", and the schedule.

Bodies map config to `python_ops.archive` calls and return its metrics as metadata. The table list
comes from settings (`MIGRATA_ARCHIVE__TABLES`): adding a table adds its asset and its dbt model.
The check is the archive's gate, the dbt test `assert_archive_agrees_up_to_watermark`, run for the
asset's table. The scheduled job deletes from Postgres only when `cleanup_after_run` is set; the
`archive_cleanup` asset, materialized on purpose, always does.
"""

from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    MaterializeResult,
    ScheduleDefinition,
    asset,
    asset_check,
    define_asset_job,
)

from dagster_defs.dbt import CHDB_POOL
from dagster_defs.resources import MigrataResource
from python_ops import archive
from python_ops.archive.apply import raise_on_failure, summarize
from python_ops.engines.context import Engines
from python_ops.runner import LogProgress
from python_ops.settings import load_settings

CHECK_NAME = "archive_agrees_up_to_watermark"
_settings = load_settings()


def _table_asset(table: str) -> AssetsDefinition:
    @asset(
        name=f"archive_{table}",
        group_name="archive",
        pool=CHDB_POOL,
        deps=[AssetKey(table)],  # the dbt model that defines the ClickHouse table
        check_specs=[
            AssetCheckSpec(
                CHECK_NAME,
                asset=f"archive_{table}",
                blocking=True,
                description="Postgres and ClickHouse agree up to the watermark",
            )
        ],
        description=f"Archive aged rows of {table} to ClickHouse: copy, verify, advance the watermark.",
    )
    def _archive_table(context: AssetExecutionContext, migrata: MigrataResource) -> Any:
        settings = migrata.settings
        engines = Engines.from_settings(settings)
        models = archive.archive_models(settings)
        reports = archive.run(
            engines,
            settings.archive,
            models=models,
            table=table,
            cleanup=False,
            on_progress=LogProgress(context.log),
        )
        raise_on_failure(reports)
        yield MaterializeResult(metadata=summarize(reports))
        passed, detail = models.gate(engines, [table])
        yield AssetCheckResult(check_name=CHECK_NAME, passed=passed, metadata={"gate": detail})

    return _archive_table


_TABLES = [t.name for t in _settings.archive.tables]
table_assets = [_table_asset(t) for t in _TABLES]


@asset(
    name="archive_cleanup",
    group_name="archive",
    pool=CHDB_POOL,
    deps=[AssetKey(f"archive_{t}") for t in _TABLES],
)
def archive_cleanup(context: AssetExecutionContext, migrata: MigrataResource) -> MaterializeResult:
    """Delete Postgres rows older than watermark - grace period that ClickHouse holds, in batches."""
    settings = migrata.settings
    engines = Engines.from_settings(settings)
    reports = archive.run_cleanup(engines, settings.archive, on_progress=LogProgress(context.log))
    raise_on_failure(reports)
    return MaterializeResult(
        metadata=summarize(reports) | archive.status(engines, settings.archive).as_metadata()
    )


@asset_check(asset=archive_cleanup, name="archive_no_archived_row_left_below_grace", blocking=True)
def archive_no_archived_row_left_below_grace(migrata: MigrataResource) -> AssetCheckResult:
    """Every row left in Postgres at or below its watermark is archived (the gate, every table)."""
    settings = migrata.settings
    passed, detail = archive.archive_models(settings).gate(Engines.from_settings(settings))
    return AssetCheckResult(passed=passed, metadata={"gate": detail})


archive_run_job = define_asset_job(
    "archive_run_job",
    selection=AssetSelection.assets(
        *table_assets, *([archive_cleanup] if _settings.archive.cleanup_after_run else [])
    ),
    description="Archive every configured table (and clean up Postgres when cleanup_after_run is set).",
)

archive_periodic_schedule = ScheduleDefinition(
    name="archive_periodic_schedule",
    job=archive_run_job,
    cron_schedule=_settings.archive.schedule,
    description="Run the archive like the seed's lifecycle worker (default every 5 minutes).",
)

assets = [*table_assets, archive_cleanup]
asset_checks = [archive_no_archived_row_left_below_grace]
schedules = [archive_periodic_schedule]
sensors: list[Any] = []
jobs = [archive_run_job]
