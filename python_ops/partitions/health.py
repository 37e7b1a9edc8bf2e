"""Own the partition health report: partitions per table, rows per partition, skew, default-partition rows,
missing future partitions, partitions due for retirement. Read-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from python_ops import pgcatalog as catalog
from python_ops.partitions.maintenance import _managed, plan_actions
from python_ops.partitions.models import PartitionInfo, TableHealth

if TYPE_CHECKING:
    from python_ops.engines.context import Engines


def table_health(engines: Engines, tables: list[str] | None = None) -> list[TableHealth]:
    """Health of the managed tables (all, or the named ones), with exact row counts per partition."""
    with engines.connect(autocommit=True) as conn:
        return _health(conn, tables)


def _health(conn: psycopg.Connection, tables: list[str] | None) -> list[TableHealth]:
    result = []
    for m in _managed(conn, tables):
        health = TableHealth(m.parent_table, m.partition_interval, m.premake, last_error=m.last_error)
        if catalog.find(conn, m.parent_table) is None:
            health.last_error = "table does not exist"
            health.missing_future = ["(table missing)"]
            result.append(health)
            continue
        bounds = conn.execute(
            "SELECT partition::text, is_default, lo, hi FROM migrata_range_bounds(to_regclass(%s)) "
            "ORDER BY is_default, lo",
            (m.parent_table,),
        ).fetchall()
        for name, is_default, lo, hi in bounds:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.SQL(name))).fetchone()
            rows = int(row[0]) if row else 0
            health.partitions.append(PartitionInfo(name, lo, hi, rows, is_default))
            if is_default:
                health.has_default, health.default_rows = True, rows
        for action in plan_actions(conn, m.parent_table):
            if action["action"] == "create":
                health.missing_future.append(f"[{action['lo']:%Y-%m-%d}, {action['hi']:%Y-%m-%d})")
            elif action["action"] in ("drop", "detach"):
                health.retire_due.append(action["partition"])
        result.append(health)
    return result
