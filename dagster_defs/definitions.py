"""Build the one `Definitions` from each capability module's `assets`, `asset_checks`, `schedules`, `sensors`.

Steps run in one process (`in_process_executor`): chDB admits one process per data directory, and
across runs the `chdb` pool (one slot, see dagster.yaml) keeps ClickHouse steps apart.
"""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from dagster_defs import archive, automation, dbt, lineage, migrations, parquet_repair, partitions
from dagster_defs.resources import build_resources

_modules = [lineage, dbt, migrations, parquet_repair, archive, partitions, automation]

defs = Definitions(
    assets=[a for m in _modules for a in m.assets],
    asset_checks=[c for m in _modules for c in m.asset_checks],
    schedules=[s for m in _modules for s in m.schedules],
    sensors=[s for m in _modules for s in m.sensors],
    jobs=[j for m in _modules for j in getattr(m, "jobs", [])],
    resources=build_resources(),
    executor=in_process_executor,
)
