"""Own the parquet repair assets: the footer cache's health (with a blocking decodability check) and
the repair that fixes it. Bodies map settings to `python_ops.parquet_repair` calls and return reports."""

from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    asset,
    asset_check,
)
from pydantic import Field

from dagster_defs.conventions import asset_kwargs, typed_metadata
from dagster_defs.resources import MigrataResource
from python_ops import parquet_repair as pr
from python_ops.engines.context import Engines
from python_ops.parquet_repair.scan import DECODABLE_CHECK
from python_ops.runner import LogProgress

GROUP = "parquet_repair"


class RepairConfig(Config):
    """Overrides for a hand-launched repair; defaults come from settings (0 is refused, not a default)."""

    batch_size: int | None = Field(default=None, ge=1)
    workers: int | None = Field(default=None, ge=1, le=256)
    only_legacy: bool = False


@asset(**asset_kwargs(GROUP))
def parquet_metadata_repair(
    context: AssetExecutionContext, config: RepairConfig, migrata: MigrataResource
) -> MaterializeResult:
    """Back up and repair cached parquet footers the current reader cannot decode (resumable)."""
    settings = migrata.settings
    report = pr.repair(
        Engines.from_settings(settings),
        pr.StoreConfig.from_settings(settings),
        pr.Storage.from_settings(settings),
        batch_size=settings.parquet.batch_size if config.batch_size is None else config.batch_size,
        workers=settings.parquet.workers if config.workers is None else config.workers,
        only_legacy=config.only_legacy,
        report_file=settings.home / "parquet_repair" / "issues.json",
        retention_days=settings.partitions.backup_retention_days,
        on_progress=LogProgress(context.log),
    )
    # Entries that could not be repaired are reported (metadata + issue file) and fail the health check.
    return MaterializeResult(metadata=typed_metadata(report.as_metadata()))


@asset(**asset_kwargs(GROUP), deps=[parquet_metadata_repair])
def parquet_partition_metadata(context: AssetExecutionContext, migrata: MigrataResource) -> MaterializeResult:
    """Scan the footer cache: entries by class (ok, legacy-undecodable, corrupt, file-missing)."""
    settings = migrata.settings
    report = pr.scan(
        Engines.from_settings(settings),
        pr.StoreConfig.from_settings(settings),
        pr.Storage.from_settings(settings),
        on_progress=LogProgress(context.log),
    )
    return MaterializeResult(metadata=typed_metadata(report.as_metadata()))


@asset_check(asset=parquet_partition_metadata, blocking=True, description="0 undecodable entries")
def parquet_metadata_decodable(
    context: AssetCheckExecutionContext, migrata: MigrataResource
) -> AssetCheckResult:
    """Every cached footer decodes with the current reader (0 undecodable entries)."""
    settings = migrata.settings
    engines, store = Engines.from_settings(settings), pr.StoreConfig.from_settings(settings)
    report = pr.scan(engines, store, check_files=False)
    check = next(c for c in report.checks if c.name == DECODABLE_CHECK)
    return AssetCheckResult(
        passed=check.ok,
        metadata=typed_metadata(
            {"undecodable": check.actual} | {f"entries_{k}": v for k, v in report.details["counts"].items()}
        ),
    )


assets = [parquet_metadata_repair, parquet_partition_metadata]
asset_checks: list[Any] = [parquet_metadata_decodable]
schedules: list[Any] = []
sensors: list[Any] = []
