"""Own the partitions assets: daily RANGE partition maintenance with its blocking health checks, and the
repartitioning status. Bodies map settings to `python_ops.partitions` calls and return their reports.

Automation (on by default, through `migrata_automation_sensor`): maintenance runs on every tick of
`MIGRATA_PARTITIONS__MAINTENANCE_SCHEDULE` (daily); `partitions_daily_schedule` is the schedule-based
alternative, off by default.
"""

from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    AutomationCondition,
    Config,
    DefaultScheduleStatus,
    MaterializeResult,
    ScheduleDefinition,
    asset,
    asset_check,
    define_asset_job,
)

from dagster_defs.conventions import asset_kwargs, typed_metadata
from dagster_defs.report_metadata import maintenance_metadata, repartitionings_metadata
from dagster_defs.resources import MigrataResource
from python_ops import partitions
from python_ops.engines.context import Engines
from python_ops.runner import LogProgress
from python_ops.settings import load_settings

GROUP = "partitions"
_schedule = load_settings().partitions.maintenance_schedule


class MaintenanceConfig(Config):
    """Overrides for a hand-launched run; by default every managed table is maintained."""

    tables: list[str] = []
    dry_run: bool = False


@asset(
    **asset_kwargs(GROUP),
    automation_condition=AutomationCondition.cron_tick_passed(_schedule) & ~AutomationCondition.in_progress(),
)
def partitions_maintenance(
    context: AssetExecutionContext, config: MaintenanceConfig, migrata: MigrataResource
) -> MaterializeResult:
    """Create RANGE partitions ahead and retire those past retention on every managed table."""
    engines = Engines.from_settings(migrata.settings)
    report = partitions.maintain(
        engines,
        config.tables or None,
        dry_run=config.dry_run,
        lock_timeout_ms=migrata.settings.partitions.lock_timeout_ms,
        # the schedule carries out the retention each table's policy declares (`partitions manage
        # --retention-mode drop` is that decision); waiting keeps a CLI run and the schedule apart
        allow_drop=True,
        wait=True,
        on_progress=LogProgress(context.log),
    )
    health = partitions.table_health(engines, config.tables or None)
    return MaterializeResult(metadata=maintenance_metadata(report, health))


def _health(migrata: MigrataResource) -> list[Any]:
    return partitions.table_health(Engines.from_settings(migrata.settings))


@asset_check(asset=partitions_maintenance, blocking=True, description="premake partitions exist ahead")
def partitions_future_exist(
    context: AssetCheckExecutionContext, migrata: MigrataResource
) -> AssetCheckResult:
    """Every managed table has its current and premade future partitions."""
    missing = {h.table: h.missing_future for h in _health(migrata) if h.missing_future}
    return AssetCheckResult(
        passed=not missing,
        metadata=typed_metadata(
            {"tables_missing": len(missing), "missing": {t: list(m) for t, m in missing.items()}}
        ),
    )


@asset_check(asset=partitions_maintenance, blocking=True, description="no rows in DEFAULT partitions")
def partitions_default_empty(
    context: AssetCheckExecutionContext, migrata: MigrataResource
) -> AssetCheckResult:
    """No managed table holds rows in its DEFAULT partition (they belong in a real partition)."""
    rows = {h.table: h.default_rows for h in _health(migrata) if h.default_rows}
    return AssetCheckResult(
        passed=not rows, metadata=typed_metadata({"default_rows": sum(rows.values()), "tables": rows})
    )


@asset(**asset_kwargs(GROUP))
def partitions_repartitionings(migrata: MigrataResource) -> MaterializeResult:
    """Record the state of every repartitioning (step, backup, retired table, swap lock time)."""
    return MaterializeResult(metadata=repartitionings_metadata(Engines.from_settings(migrata.settings)))


partitions_maintain_job = define_asset_job("partitions_maintain_job", selection=[partitions_maintenance])

partitions_daily_schedule = ScheduleDefinition(
    name="partitions_daily_schedule",
    job=partitions_maintain_job,
    cron_schedule=_schedule,
    # off: the asset's automation condition runs maintenance daily (turn one of the two on, not both)
    default_status=DefaultScheduleStatus.STOPPED,
)

assets = [partitions_maintenance, partitions_repartitionings]
asset_checks: list[Any] = [partitions_future_exist, partitions_default_empty]
schedules: list[Any] = [partitions_daily_schedule]
sensors: list[Any] = []
jobs: list[Any] = [partitions_maintain_job]
