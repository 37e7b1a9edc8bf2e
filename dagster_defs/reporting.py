"""Own the runless reports: work the `migrata` CLI did, recorded in Dagster's instance as asset
materializations with the metadata a Dagster run of the same asset records (`report_metadata`).

`python_ops` never imports Dagster: the CLI finds this module through the entry point group
`migrata.reporters` (pyproject.toml) and calls `report` after a successful, non-dry operation, only
when a Dagster instance is configured (`DAGSTER_HOME`) and `MIGRATA_DAGSTER__REPORT_CLI_RUNS` is on.
"""

from collections import defaultdict
from typing import Any

from dagster import AssetKey, AssetMaterialization, DagsterInstance

from dagster_defs.conventions import ROW_COUNT, typed_metadata
from dagster_defs.report_metadata import archive_metadata, repartitionings_metadata
from python_ops.engines.context import Engines
from python_ops.lineage.refresh import MODELS

CLI_TAG = {"migrata/reported_by": "cli"}
_MONTHLY_TABLES = ("run_lineage_denormalized", "run_parent_lineage_denormalized")


def _archive(result: list[Any], engines: Engines) -> list[AssetMaterialization]:
    by_table: dict[str, list[Any]] = defaultdict(list)
    cleanups = []
    for report in result:
        kind, _, rest = report.operation.partition(":")
        if kind == "archive_copy":
            by_table[rest.split(":")[0]].append(report)
        elif kind.startswith("archive_cleanup"):
            cleanups.append(report)
    events = [
        AssetMaterialization(f"archive_{table}", metadata=archive_metadata(reports), tags=CLI_TAG)
        for table, reports in by_table.items()
    ]
    if cleanups:
        events.append(
            AssetMaterialization("archive_cleanup", metadata=archive_metadata(cleanups), tags=CLI_TAG)
        )
    return events


def _month_counts(engines: Engines, table: str) -> dict[str, int]:
    with engines.connect(autocommit=True) as conn:
        rows = conn.execute(
            f"SELECT date_trunc('month', run_date)::date, count(*) FROM {table} GROUP BY 1"
        ).fetchall()
    return {month.isoformat(): n for month, n in rows}


def _lineage_backfill(result: Any, engines: Engines) -> list[AssetMaterialization]:
    counts = {t: _month_counts(engines, t) for t in _MONTHLY_TABLES}
    months = sorted(set().union(*counts.values()))
    base = result.as_metadata()
    events = []
    for month in months:
        for model in MODELS:
            meta = dict(base)
            if model in counts:
                meta[ROW_COUNT] = counts[model].get(month, 0)
            events.append(
                AssetMaterialization(
                    AssetKey(model), partition=month, metadata=typed_metadata(meta), tags=CLI_TAG
                )
            )
    return events


def _repartition(result: Any, engines: Engines) -> list[AssetMaterialization]:
    meta = repartitionings_metadata(engines) | typed_metadata({"operation": result.summary()})
    return [AssetMaterialization("partitions_repartitionings", metadata=meta, tags=CLI_TAG)]


_BUILDERS = {"archive_run": _archive, "lineage_backfill": _lineage_backfill, "repartition": _repartition}


def materializations(operation: str, *, engines: Engines, result: Any) -> list[AssetMaterialization]:
    """The materializations a CLI operation's result stands for (none for an unknown operation)."""
    builder = _BUILDERS.get(operation)
    return builder(result, engines) if builder else []


def report(operation: str, *, engines: Engines, result: Any, instance: DagsterInstance | None = None) -> int:
    """Record `operation`'s materializations in the Dagster instance (DAGSTER_HOME); return how many."""
    events = materializations(operation, engines=engines, result=result)
    if not events:
        return 0
    owned = instance is None
    instance = instance or DagsterInstance.get()
    try:
        for event in events:
            instance.report_runless_asset_event(event)
    finally:
        if owned:
            instance.dispose()
    return len(events)
