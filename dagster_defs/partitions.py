"""Own the partitions assets: daily RANGE partition maintenance with its blocking health checks, and the
repartitioning status. Bodies map settings to `python_ops.partitions` calls and return their reports.
"""

from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    Config,
    DefaultScheduleStatus,
    MaterializeResult,
    ScheduleDefinition,
    asset,
    asset_check,
    define_asset_job,
)

from dagster_defs.resources import MigrataResource
from python_ops import backups, partitions
from python_ops.engines.context import Engines
from python_ops.runner import LogProgress
from python_ops.settings import load_settings

GROUP = "partitions"


class MaintenanceConfig(Config):
    """Overrides for a hand-launched run; by default every managed table is maintained."""

    tables: list[str] = []
    dry_run: bool = False


@asset(group_name=GROUP)
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
    meta = report.as_metadata()
    meta.update(
        managed_tables=len(health),
        partitions=sum(len(h.partitions) for h in health),
        rows=sum(h.rows for h in health),
        default_rows=sum(h.default_rows for h in health),
        max_skew=max((h.skew for h in health), default=0.0),
    )
    return MaterializeResult(metadata=meta)


def _health(migrata: MigrataResource) -> list[Any]:
    return partitions.table_health(Engines.from_settings(migrata.settings))


@asset_check(asset=partitions_maintenance, blocking=True, description="premake partitions exist ahead")
def partitions_future_exist(
    context: AssetCheckExecutionContext, migrata: MigrataResource
) -> AssetCheckResult:
    """Every managed table has its current and premade future partitions."""
    missing = {h.table: h.missing_future for h in _health(migrata) if h.missing_future}
    return AssetCheckResult(
        passed=not missing, metadata={"tables_missing": len(missing), "missing": str(missing)[:2000]}
    )


@asset_check(asset=partitions_maintenance, blocking=True, description="no rows in DEFAULT partitions")
def partitions_default_empty(
    context: AssetCheckExecutionContext, migrata: MigrataResource
) -> AssetCheckResult:
    """No managed table holds rows in its DEFAULT partition (they belong in a real partition)."""
    rows = {h.table: h.default_rows for h in _health(migrata) if h.default_rows}
    return AssetCheckResult(
        passed=not rows, metadata={"default_rows": sum(rows.values()), "tables": str(rows)}
    )


@asset(group_name=GROUP)
def partitions_repartitionings(migrata: MigrataResource) -> MaterializeResult:
    """Record the state of every repartitioning (step, backup, retired table, swap lock time)."""
    engines = Engines.from_settings(migrata.settings)
    rows = partitions.runs(engines)
    backup_summary = backups.backup_status(engines)
    return MaterializeResult(
        metadata={
            "repartitionings": len(rows),
            "swapped": sum(r["step"] == "swapped" for r in rows),
            "in_progress": sum(r["step"] not in ("swapped", "rolled_back") for r in rows),
            "runs": str([(r["table_name"], r["step"]) for r in rows])[:2000],
        }
        | {f"backups_{k}": v for k, v in backup_summary.items()}
    )


partitions_maintain_job = define_asset_job("partitions_maintain_job", selection=[partitions_maintenance])

partitions_daily_schedule = ScheduleDefinition(
    name="partitions_daily_schedule",
    job=partitions_maintain_job,
    cron_schedule=load_settings().partitions.maintenance_schedule,
    default_status=DefaultScheduleStatus.RUNNING,
)

assets = [partitions_maintenance, partitions_repartitionings]
asset_checks: list[Any] = [partitions_future_exist, partitions_default_empty]
schedules: list[Any] = [partitions_daily_schedule]
sensors: list[Any] = []
jobs: list[Any] = [partitions_maintain_job]
