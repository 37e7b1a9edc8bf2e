"""Own the archive assets: one per archived table (copy → verify → watermark), a cleanup asset, the
blocking check "Postgres and ClickHouse agree up to the watermark", and the schedule.

Bodies map config to `python_ops.archive` calls and return its metrics as metadata. The table list
comes from settings (`MIGRATA_ARCHIVE__TABLES`): adding a table adds its asset.
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
from python_ops.archive.check import agreement
from python_ops.dbt_project import PROJECT_DIR
from python_ops.runner import LogProgress
from python_ops.settings import load_settings

CHECK_NAME = "archive_agrees_up_to_watermark"


def _table_asset(table: str) -> AssetsDefinition:
    model = PROJECT_DIR / "models" / "archive" / f"{table}.sql"
    deps = [AssetKey(table)] if model.exists() else []  # the dbt model that defines the ClickHouse table

    @asset(
        name=f"archive_{table}",
        group_name="archive",
        pool=CHDB_POOL,
        deps=deps,
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
        reports = archive.run(
            migrata.settings, table=table, cleanup=False, on_progress=LogProgress(context.log)
        )
        raise_on_failure(reports)
        yield MaterializeResult(metadata=summarize(reports))
        checks = agreement(migrata.settings, table=table)
        failed = [c for c in checks if not c.ok]
        yield AssetCheckResult(
            check_name=CHECK_NAME,
            passed=not failed,
            metadata={
                "pairs_checked": len(checks),
                "disagreeing": ", ".join(f"{c.name}: {c.expected} vs {c.actual}" for c in failed) or "none",
            },
        )

    return _archive_table


_TABLES = [t.name for t in load_settings().archive.tables]
table_assets = [_table_asset(t) for t in _TABLES]


@asset(
    name="archive_cleanup",
    group_name="archive",
    pool=CHDB_POOL,
    deps=[AssetKey(f"archive_{t}") for t in _TABLES],
)
def archive_cleanup(context: AssetExecutionContext, migrata: MigrataResource) -> MaterializeResult:
    """Delete Postgres rows older than watermark - grace period that ClickHouse holds, in batches."""
    reports = archive.run_cleanup(migrata.settings, on_progress=LogProgress(context.log))
    raise_on_failure(reports)
    return MaterializeResult(metadata=summarize(reports) | archive.status(migrata.settings).as_metadata())


@asset_check(asset=archive_cleanup, name="archive_no_archived_row_left_below_grace", blocking=True)
def archive_no_archived_row_left_below_grace(migrata: MigrataResource) -> AssetCheckResult:
    """Every (dataset, table) agrees with ClickHouse after cleanup (same gate as per table)."""
    checks = agreement(migrata.settings)
    failed = [c.name for c in checks if not c.ok]
    return AssetCheckResult(passed=not failed, metadata={"disagreeing": ", ".join(failed) or "none"})


archive_run_job = define_asset_job(
    "archive_run_job",
    selection=AssetSelection.assets(*table_assets, archive_cleanup),
    description="Archive every configured table, then clean up Postgres.",
)

archive_periodic_schedule = ScheduleDefinition(
    name="archive_periodic_schedule",
    job=archive_run_job,
    cron_schedule=load_settings().archive.schedule,
    description="Run the archive like the seed's lifecycle worker (default every 5 minutes).",
)

assets = [*table_assets, archive_cleanup]
asset_checks = [archive_no_archived_row_left_below_grace]
schedules = [archive_periodic_schedule]
sensors: list[Any] = []
jobs = [archive_run_job]
