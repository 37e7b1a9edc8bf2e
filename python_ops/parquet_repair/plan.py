"""Own the pure part of planning: what a scan, repair, verify or restore will do, as runner Plans.

Nothing here touches the database or storage; callers pass in what they read.
"""

from __future__ import annotations

from psycopg import sql

from python_ops.parquet_repair.models import ClassCounts, EntryClass, StoreConfig
from python_ops.parquet_repair.store import update_sql
from python_ops.runner import Plan, Step


def _render(stmt: sql.Composable) -> str:
    # Only for display in --dry-run: identifiers are quoted by psycopg without a connection.
    return stmt.as_string(None)  # type: ignore[arg-type]


def scan_plan(operation: str, store: StoreConfig, entries: int, check_files: bool) -> Plan:
    where = "and list the storage once to find missing files" if check_files else "(files not checked)"
    return Plan(
        operation,
        f"classify {entries} cached footers in {store.table} with the current reader {where}",
        entries,
        "entries",
        details={"entries": entries, "check_files": check_files},
    )


def is_target(cls: EntryClass, only_legacy: bool) -> bool:
    """Which classes a repair re-reads from storage: legacy ones, and corrupt ones unless only_legacy."""
    return cls is EntryClass.LEGACY or (cls is EntryClass.CORRUPT and not only_legacy)


def rewrite_step(store: StoreConfig, backup_table: str) -> Step:
    """The repair's rewrite of the affected entries; its `reverse()` puts back what `backup_table` saved."""
    restore = sql.SQL("UPDATE {t} AS t SET {m} = b.{m} FROM {b} AS b WHERE t.{p} = b.{p}").format(
        t=sql.Identifier(store.table),
        m=sql.Identifier(store.metadata_column),
        b=sql.Identifier(backup_table),
        p=sql.Identifier(store.path_column),
    )
    return Step(
        "per batch: lock entries, range-read each file's footer in parallel, re-serialize, validate, "
        "update all of the batch in one statement",
        _render(update_sql(store)),
        _render(restore),
    )


def repair_plan(
    operation: str, store: StoreConfig, counts: ClassCounts, targets: int, only_legacy: bool, entries: int
) -> Plan:
    table = sql.Identifier(store.table)
    path = sql.Identifier(store.path_column)
    backup = f"{store.table}_backup_YYYYMMDD_HHMMSS"
    steps = [
        Step(
            f"in the first batch: lock and back up the {targets} affected entries (verified by count + "
            "checksum, registered)",
            _render(
                sql.SQL("CREATE TABLE {b} AS SELECT * FROM {t} WHERE {p} = ANY(%s)").format(
                    b=sql.Identifier(backup), t=table, p=path
                )
            ),
            None,
        ),
        rewrite_step(store, backup),
    ]
    which = "legacy" if only_legacy else "legacy and corrupt"
    return Plan(
        operation,
        f"re-read the footers of {targets} {which} entries of {store.table} from storage and rewrite them",
        targets,
        "entries",
        steps=steps,
        details={"entries": entries, "only_legacy": only_legacy} | dict(counts.counts),
    )


def verify_plan(operation: str, store: StoreConfig, entries: int) -> Plan:
    return Plan(
        operation,
        f"decode all {entries} entries of {store.table} and compare num_rows and schema with each file",
        entries,
        "entries",
        details={"entries": entries},
    )


def restore_plan(operation: str, store: StoreConfig, backup_table: str, rows: int) -> Plan:
    """Restore = the reverse of the repair's rewrite step, for the entries saved in `backup_table`."""
    return Plan(
        operation,
        f"put back the {rows} entries saved in {backup_table} into {store.table}",
        rows,
        "entries",
        steps=[rewrite_step(store, backup_table).reverse()],
        details={"backup_table": backup_table},
    )
