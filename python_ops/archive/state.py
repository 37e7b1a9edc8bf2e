"""Own the archive's state in Postgres: datasets, watermarks (`migration_watermarks`) and audit events.

A watermark only moves forward and only after verification (`advance_sql` uses GREATEST), and the
audit event of a run commits in the same transaction as its watermark.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from python_ops.errors import PreconditionError

EVENT_COPY = "postgres_migration"
EVENT_CLEANUP = "postgres_migration_cleanup"


@dataclass(frozen=True)
class Dataset:
    id: str
    slug: str


def datasets(conn: psycopg.Connection, dataset_id: str | None = None) -> list[Dataset]:
    """Active datasets (or the one asked for, which must exist)."""
    if dataset_id is not None:
        rows = conn.execute("SELECT id, slug FROM datasets WHERE id = %s", (dataset_id,)).fetchall()
        if not rows:
            raise PreconditionError(
                f"dataset {dataset_id} does not exist", hint="list datasets with `migrata archive status`"
            )
    else:
        rows = conn.execute("SELECT id, slug FROM datasets WHERE status = 'active' ORDER BY id").fetchall()
    return [Dataset(r[0], r[1]) for r in rows]


def watermark(conn: psycopg.Connection, table: str, dataset_id: str, source_table: str) -> datetime | None:
    row = conn.execute(
        sql.SQL("SELECT watermark_timestamp FROM {} WHERE dataset_id = %s AND table_name = %s").format(
            sql.Identifier(table)
        ),
        (dataset_id, source_table),
    ).fetchone()
    return row[0] if row else None


def advance_sql(table: str, dataset_id: str, source_table: str, value: datetime) -> sql.Composed:
    """The statement moving a watermark forward to `value` (never back: GREATEST), values inlined."""
    return sql.SQL(
        """INSERT INTO {t} (dataset_id, table_name, watermark_timestamp, updated_at)
               VALUES ({ds}, {src}, {value}, now())
               ON CONFLICT (dataset_id, table_name) DO UPDATE
               SET watermark_timestamp = GREATEST({t}.watermark_timestamp, EXCLUDED.watermark_timestamp),
                   updated_at = now()"""
    ).format(
        t=sql.Identifier(table),
        ds=sql.Literal(dataset_id),
        src=sql.Literal(source_table),
        value=sql.Literal(value),
    )


AUDIT_SQL = (
    "INSERT INTO lifecycle_audit_log (id, dataset_id, event_type, payload, created_at) "
    "VALUES (%s, %s, %s, %s, now())"
)


def audit(conn: psycopg.Connection, dataset_id: str, event_type: str, payload: dict[str, Any]) -> str:
    """Write one lifecycle audit event; return its id."""
    event_id = f"pm-{uuid.uuid4().hex}"
    conn.execute(AUDIT_SQL, (event_id, dataset_id, event_type, Jsonb(payload)))
    return event_id
