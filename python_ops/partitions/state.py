"""Own the recorded state of repartitionings: the `repartition_runs` row of each table and step hooks.

Names and table comments carry the same state for a human (pgslice style); this row is what a rerun
reads to continue where a killed run stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from python_ops import pgcatalog as catalog

Hook = Callable[[str], None]
LOCK = "repartition"  # the operation name of each table's lock, shared by `repartition` and `rollback`
STEPS = ("started", "backed_up", "created", "capturing", "swapped", "rolled_back")


def noop_hook(_: str) -> None:
    return None


def operation_name(table: catalog.TableRef | str) -> str:
    return f"repartition {table.qualified if isinstance(table, catalog.TableRef) else table}"


def load_run(conn: psycopg.Connection, table: str) -> dict[str, Any] | None:
    schema, name = catalog.split_name(table)
    return (
        conn.cursor(row_factory=dict_row)
        .execute("SELECT * FROM repartition_runs WHERE table_name = %s", (f"{schema}.{name}",))
        .fetchone()
    )


def set_step(conn: psycopg.Connection, table: str, step: str, **fields: Any) -> None:
    sets = sql.SQL(", ").join(
        [sql.SQL("step = %s"), sql.SQL("updated_at = now()")]
        + [sql.SQL("{} = %s").format(sql.Identifier(k)) for k in fields]
    )
    values = [Jsonb(v) if k == "details" else v for k, v in fields.items()]
    conn.execute(
        sql.SQL("UPDATE repartition_runs SET {} WHERE table_name = %s").format(sets), [step, *values, table]
    )


def state_details(state: dict[str, Any]) -> dict[str, Any]:
    keep = ("step", "column_name", "partitions", "backup_table", "retired_table", "source_rows", "lock_ms")
    return {k: state[k] for k in keep}
