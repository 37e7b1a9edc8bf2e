"""Own what runs by itself, a deliberate choice stated in the README.

On by default: `migrata_automation_sensor` (evaluates the assets' `AutomationCondition`s: archive every
5 minutes, partition maintenance daily, dbt views and archive tables when missing or changed) and
`lineage_new_events_sensor` (the months whose runs got new events). Off by default: the schedule-based
alternatives `archive_periodic_schedule` and `partitions_daily_schedule`, and the archive's cleanup
unless `MIGRATA_ARCHIVE__CLEANUP_AFTER_RUN` is set.
"""

from typing import Any

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

automation_sensor = AutomationConditionSensorDefinition(
    "migrata_automation_sensor",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluate the assets' automation conditions (archive, partition maintenance, dbt models).",
)

assets: list[Any] = []
asset_checks: list[Any] = []
schedules: list[Any] = []
sensors = [automation_sensor]
