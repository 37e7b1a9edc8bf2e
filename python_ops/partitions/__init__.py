"""Partitions: RANGE partition maintenance, safe online repartitioning, verified backups (seeds 000, 002).

Public verbs (each takes an open psycopg connection first):
- `ensure_range_partitions(conn, table, start, end, interval="month") -> int`
- `create_backup(conn, source_table, *, revision, where=None, params=(), retention_days=7) -> BackupRecord`
- the backup manager: `list_backups`, `backup_status`, `verify_backup`, `extend_backup`, `cleanup_backups`
- maintenance: `manage`, `unmanage`, `managed_tables`, `maintain`, `table_health`
- repartitioning: `repartition(conn, table, column, partitions=100, …)`, `rollback(conn, table)`, `runs`,
  and `partition_key(value, n)` (the Python twin of SQL `migrata_partition_key`)
"""

from python_ops.partitions.backups import (
    BackupRecord,
    backup_status,
    cleanup_backups,
    create_backup,
    extend_backup,
    get_backup,
    list_backups,
    verify_backup,
)
from python_ops.partitions.health import table_health
from python_ops.partitions.keys import partition_key
from python_ops.partitions.maintenance import maintain, manage, managed_tables, unmanage
from python_ops.partitions.ranges import ensure_range_partitions
from python_ops.partitions.repartition_run import repartition, runs
from python_ops.partitions.rollback import rollback

__all__ = [
    "BackupRecord",
    "backup_status",
    "cleanup_backups",
    "create_backup",
    "ensure_range_partitions",
    "extend_backup",
    "get_backup",
    "list_backups",
    "maintain",
    "manage",
    "managed_tables",
    "partition_key",
    "repartition",
    "rollback",
    "runs",
    "table_health",
    "unmanage",
    "verify_backup",
]
