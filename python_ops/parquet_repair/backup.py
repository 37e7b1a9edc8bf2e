"""Own the backup of entries before a repair rewrites them, through the shared backup manager.

`python_ops.backups.create_backup` (contract A) copies the rows into a timestamped table, verifies
it by count and checksum and registers it in `migration_backups` with its retention.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from python_ops.backups import create_backup
from python_ops.errors import VerificationError
from python_ops.parquet_repair.models import StoreConfig

REVISION = "parquet_repair"


@dataclass(frozen=True)
class EntriesBackup:
    table: str
    rows: int
    checksum: str


def backup_entries(
    conn: psycopg.Connection, store: StoreConfig, paths: Sequence[str], *, retention_days: int = 7
) -> EntriesBackup:
    """Copy the entries at `paths` into a verified, registered backup table before anything changes."""
    where = sql.SQL("{} = ANY(%s)").format(sql.Identifier(store.path_column))
    # it opens its own REPEATABLE READ transaction, so the checksum sees exactly the rows copied
    record = create_backup(
        conn,
        store.table,
        revision=REVISION,
        where=where,
        params=(list(paths),),
        retention_days=retention_days,
    )
    if record.row_count != len(paths):
        raise VerificationError(
            f"backup {record.backup_table} holds {record.row_count} entries, expected {len(paths)}",
            hint="nothing was changed; check for concurrent deletes in the cache and run the repair again",
        )
    return EntriesBackup(record.backup_table, record.row_count, str(record.checksum))


def backup_rows(conn: psycopg.Connection, table: str) -> int | None:
    """Rows in a backup table, or None if it is gone."""
    row = conn.execute("SELECT to_regclass(%s)::text", (table,)).fetchone()
    if row is None or row[0] is None:
        return None
    found = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    return int(found[0]) if found else 0
