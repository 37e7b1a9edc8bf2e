"""Own the archive assets: one per archived table (copy → verify → watermark), a cleanup asset, the
blocking check "Postgres and ClickHouse agree up to the watermark", and the schedule.

Bodies map config to `python_ops.archive` calls and return its metrics as metadata. The table list
comes from settings (`MIGRATA_ARCHIVE__TABLES`): adding a table adds its asset and its dbt model.
The check is the archive's gate, the dbt test `assert_archive_agrees_up_to_watermark`, run for the
asset's table.

Automation (on by default, through `migrata_automation_sensor`): each table asset runs on every tick
of `MIGRATA_ARCHIVE__SCHEDULE` (every 5 minutes) unless a run of it is in progress; `archive_cleanup`
runs the same way only when `cleanup_after_run` is set (that setting is the consent), and materialized
by hand it always cleans up. A table asset not materialized for 15 minutes warns, for an hour fails
(freshness policy): the archive lags. `archive_run_job` / `archive_periodic_schedule` stay as the
schedule-based alternative, off by default.
"""

from datetime import timedelta
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    AutomationCondition,
    DefaultScheduleStatus,
    FreshnessPolicy,
    MaterializeResult,
    ScheduleDefinition,
    asset,
    asset_check,
    define_asset_job,
)

from dagster_defs.conventions import asset_kwargs, typed_metadata
from dagster_defs.dbt import CHDB_POOL
from dagster_defs.report_metadata import archive_metadata
from dagster_defs.resources import MigrataResource
from python_ops import archive
from python_ops.archive.apply import raise_on_failure
from python_ops.engines.context import Engines
from python_ops.runner import LogProgress
from python_ops.settings import load_settings

CHECK_NAME = "archive_agrees_up_to_watermark"
_settings = load_settings()
# every tick of the archive schedule, unless the previous run of the asset is still going
_on_tick = (
    AutomationCondition.cron_tick_passed(_settings.archive.schedule) & ~AutomationCondition.in_progress()
)


def _table_asset(table: str) -> AssetsDefinition:
    @asset(
        name=f"archive_{table}",
        **asset_kwargs("archive"),
        pool=CHDB_POOL,
        automation_condition=_on_tick,
        freshness_policy=FreshnessPolicy.time_window(
            fail_window=timedelta(hours=1), warn_window=timedelta(minutes=15)
        ),
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
        yield MaterializeResult(metadata=archive_metadata(reports))
        passed, detail = models.gate(engines, [table])
        yield AssetCheckResult(
            check_name=CHECK_NAME, passed=passed, metadata=typed_metadata({"gate": detail})
        )

    return _archive_table


_TABLES = [t.name for t in _settings.archive.tables]
table_assets = [_table_asset(t) for t in _TABLES]


@asset(
    name="archive_cleanup",
    **asset_kwargs("archive"),
    pool=CHDB_POOL,
    # the scheduled cleanup runs only with the operator's consent (cleanup_after_run)
    automation_condition=_on_tick if _settings.archive.cleanup_after_run else None,
    deps=[AssetKey(f"archive_{t}") for t in _TABLES],
)
def archive_cleanup(context: AssetExecutionContext, migrata: MigrataResource) -> MaterializeResult:
    """Delete Postgres rows older than watermark - grace period that ClickHouse holds, in batches."""
    settings = migrata.settings
    engines = Engines.from_settings(settings)
    reports = archive.run_cleanup(engines, settings.archive, on_progress=LogProgress(context.log))
    raise_on_failure(reports)
    return MaterializeResult(
        metadata=archive_metadata(reports)
        | typed_metadata(archive.status(engines, settings.archive).as_metadata())
    )


@asset_check(asset=archive_cleanup, name="archive_no_archived_row_left_below_grace", blocking=True)
def archive_no_archived_row_left_below_grace(migrata: MigrataResource) -> AssetCheckResult:
    """Every row left in Postgres at or below its watermark is archived (the gate, every table)."""
    settings = migrata.settings
    passed, detail = archive.archive_models(settings).gate(Engines.from_settings(settings))
    return AssetCheckResult(passed=passed, metadata=typed_metadata({"gate": detail}))


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
    description="Run the archive like the seed's lifecycle worker (default every 5 minutes). Off by "
    "default: the assets' automation conditions do the same (turn one of the two on, not both).",
    default_status=DefaultScheduleStatus.STOPPED,
)

assets = [*table_assets, archive_cleanup]
asset_checks = [archive_no_archived_row_left_below_grace]
schedules = [archive_periodic_schedule]
sensors: list[Any] = []
jobs = [archive_run_job]
