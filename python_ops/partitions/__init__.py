"""Partitions: RANGE partition maintenance and safe online repartitioning (seeds 000, 002).

Backups are a shared mechanism (`python_ops.backups`), used here and by parquet repair.

Public verbs (each takes `Engines` first and opens its own connections):
- `ensure_range_partitions(engines, table, start, end, interval="month") -> int`
- maintenance: `manage`, `unmanage`, `managed_tables`, `maintain`, `table_health`
- repartitioning: `repartition(engines, table, column, partitions=100, …)`, `rollback(engines, table)`,
  `runs`, and `partition_key(engines, value, n)` (asks SQL's `migrata_partition_key`, the one owner
  of the rule)

Every state-changing verb holds the operation lock of its table (`python_ops.locks`): ("partitions",
table) for maintenance, ("repartition", table) for a repartitioning and its rollback.
"""

from python_ops.partitions.health import table_health
from python_ops.partitions.keys import partition_key
from python_ops.partitions.maintenance import maintain, manage, managed_tables, unmanage
from python_ops.partitions.ranges import ensure_range_partitions
from python_ops.partitions.repartition_run import repartition, runs
from python_ops.partitions.rollback import rollback

__all__ = [
    "ensure_range_partitions",
    "maintain",
    "manage",
    "managed_tables",
    "partition_key",
    "repartition",
    "rollback",
    "runs",
    "table_health",
    "unmanage",
]
