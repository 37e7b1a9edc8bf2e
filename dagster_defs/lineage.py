"""Own the lineage assets that are not dbt models."""

from typing import Any

from dagster import AssetKey, Config, MaterializeResult, asset

from dagster_defs.resources import MigrataResource
from python_ops.lineage.raw import store_raw
from python_ops.lineage.sample import food_delivery_events


class SampleEventsConfig(Config):
    template: str | None = None


@asset(key=AssetKey(["lineage", "lineage_events_raw"]), group_name="lineage")
def lineage_events_raw(config: SampleEventsConfig, migrata: MigrataResource) -> MaterializeResult:
    """Load the food_delivery sample OpenLineage events into the raw event table (idempotent)."""
    from pathlib import Path

    events = food_delivery_events(Path(config.template) if config.template else None)
    with migrata.connect() as conn:
        new = store_raw(conn, events)
        total = conn.execute("SELECT count(*) FROM lineage_events_raw").fetchone()[0]  # type: ignore[index]
    return MaterializeResult(
        metadata={"events_received": len(events), "events_new": new, "events_total": total}
    )


assets = [lineage_events_raw]
asset_checks: list[Any] = []
schedules: list[Any] = []
sensors: list[Any] = []
