"""Own the archive verbs: `run` (copy → verify → watermark → cleanup per dataset and table) and `cleanup`.

Each (dataset, table) is two runner operations: `ArchiveCopy`, then — only if it verified —
`ArchiveCleanup`. The ClickHouse tables are created on first use with the DDL of `schema.py` (the dbt
models build the same tables), and the view `settings.archive.target_table` is refreshed over all of
them. With `dry_run` nothing is written anywhere: plans only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import psycopg
from clickhouse_connect.driver.client import Client

from python_ops.archive import state
from python_ops.archive.cleanup import ArchiveCleanup
from python_ops.archive.copy import ArchiveCopy, FaultHook, table_exists
from python_ops.archive.schema import TableSpec, read_spec
from python_ops.db import connect
from python_ops.engines import control
from python_ops.engines.clickhouse import quote_ident
from python_ops.errors import ConfigError, VerificationError
from python_ops.runner import ProgressCallback, Report, execute
from python_ops.settings import MigrataSettings


@contextmanager
def _engines(settings: MigrataSettings) -> Iterator[tuple[str, psycopg.Connection, Client]]:
    dsn = control.postgres_dsn(settings)
    with connect(dsn, autocommit=True) as conn, control.clickhouse(settings) as ch:
        yield dsn, conn, ch


def specs(conn: psycopg.Connection, settings: MigrataSettings, table: str | None = None) -> list[TableSpec]:
    """The configured archived tables (or the one asked for) with their Postgres columns."""
    configured = settings.archive.tables
    if table is not None:
        configured = [t for t in configured if t.name == table]
        if not configured:
            names = ", ".join(t.name for t in settings.archive.tables)
            raise ConfigError(
                f"table {table} is not archived (archived: {names})", hint="add it to MIGRATA_ARCHIVE__TABLES"
            )
    return [read_spec(conn, t) for t in configured]


def refresh_view(ch: Client, settings: MigrataSettings, all_specs: list[TableSpec]) -> None:
    """(Re)create the one place to query every archived row: a view over the tables, each row once."""
    parts = []
    for spec in all_specs:
        if not table_exists(ch, spec.name):
            continue
        cfg = spec.config
        parts.append(
            f"SELECT __source_table, __dataset_slug, __partition_key, __migrated_at, "
            f"toString({quote_ident(cfg.id_column)}) AS id, "
            f"toString({quote_ident(cfg.dataset_column)}) AS dataset_id, "
            f"{quote_ident(cfg.time_column)} AS record_time, "
            f"ifNull(toString({quote_ident(cfg.payload_column)}), '') AS payload, "
            f"formatRowNoNewline('JSONEachRow', {', '.join(quote_ident(c.name) for c in spec.columns)}) "
            "AS record "
            f"FROM {quote_ident(spec.name)} FINAL"
        )
    if parts:
        ch.command(
            f"CREATE OR REPLACE VIEW {quote_ident(settings.archive.target_table)} AS\n"
            + "\nUNION ALL\n".join(parts)
        )


def run(
    settings: MigrataSettings,
    *,
    dataset_id: str | None = None,
    table: str | None = None,
    dry_run: bool = False,
    cleanup: bool = True,
    on_progress: ProgressCallback | None = None,
    hook: FaultHook | None = None,
    now: datetime | None = None,
) -> list[Report]:
    """Archive every configured table of every active dataset (or the ones asked for); return the reports."""
    if not settings.archive.enabled:
        return []
    reports: list[Report] = []
    with _engines(settings) as (_dsn, conn, ch):
        all_specs = specs(conn, settings)
        chosen = specs(conn, settings, table)
        created = not table_exists(ch, settings.archive.target_table)
        for spec in chosen if not dry_run else []:
            if not table_exists(ch, spec.name):
                ch.command(spec.ch_create())
                created = True
        for dataset in state.datasets(conn, dataset_id):
            for spec in chosen:
                op = ArchiveCopy(
                    ch=ch,
                    spec=spec,
                    dataset=dataset,
                    config=settings.archive,
                    collection=settings.clickhouse.pg_collection,
                    now=now,
                    hook=hook,
                )
                report = execute(op, conn, dry_run=dry_run, on_progress=on_progress)
                reports.append(report)
                if cleanup and report.ok and report.status != "dry-run":
                    reports.append(
                        execute(
                            ArchiveCleanup(
                                ch=ch, spec=spec, dataset=dataset, config=settings.archive, hook=hook
                            ),
                            conn,
                            on_progress=on_progress,
                        )
                    )
                elif cleanup and dry_run:
                    reports.append(
                        execute(
                            ArchiveCleanup(ch=ch, spec=spec, dataset=dataset, config=settings.archive),
                            conn,
                            dry_run=True,
                        )
                    )
        if created and not dry_run:  # a new table joins the view
            refresh_view(ch, settings, all_specs)
    return reports


def run_cleanup(
    settings: MigrataSettings,
    *,
    dataset_id: str | None = None,
    table: str | None = None,
    dry_run: bool = False,
    on_progress: ProgressCallback | None = None,
    hook: FaultHook | None = None,
) -> list[Report]:
    """Delete archived rows older than watermark - grace period from Postgres (only rows ClickHouse holds)."""
    if not settings.archive.enabled:
        return []
    reports = []
    with _engines(settings) as (_dsn, conn, ch):
        chosen = specs(conn, settings, table)
        for dataset in state.datasets(conn, dataset_id):
            for spec in chosen:
                op = ArchiveCleanup(ch=ch, spec=spec, dataset=dataset, config=settings.archive, hook=hook)
                reports.append(execute(op, conn, dry_run=dry_run, on_progress=on_progress))
    return reports


def summarize(reports: list[Report]) -> dict[str, object]:
    """Flat metrics of a set of reports (Dagster metadata): runs, rows, bytes, partitions, deletions."""
    copies = [r for r in reports if r.operation.startswith("archive_copy")]
    cleanups = [r for r in reports if r.operation.startswith("archive_cleanup")]
    return {
        "runs": len(copies),
        "rows_archived": sum(int(r.details.get("records_migrated", 0)) for r in copies),
        "late_rows_archived": sum(int(r.details.get("late_rows_copied", 0)) for r in copies),
        "bytes": sum(int(r.details.get("bytes", 0)) for r in copies),
        "partitions": sum(int(r.details.get("partitions", 0)) for r in copies),
        "rows_deleted": sum(int(r.details.get("deleted", 0)) for r in cleanups),
        "failed": sum(not r.ok for r in reports),
        "summary": "; ".join(r.summary() for r in reports if r.status not in ("nothing-to-do",))
        or "nothing to do",
    }


def raise_on_failure(reports: list[Report]) -> None:
    """Raise a `VerificationError` naming the first failed operation and check."""
    for report in reports:
        if not report.ok:
            check = report.failed_checks[0] if report.failed_checks else None
            what = f": {check.name} (expected {check.expected}, found {check.actual})" if check else ""
            raise VerificationError(
                f"{report.operation} failed{what}; watermark unchanged, nothing deleted",
                hint="rerun `migrata archive run`; a repeated copy is harmless",
            )


def restore(
    settings: MigrataSettings,
    *,
    table: str,
    since: datetime,
    dataset_id: str | None = None,
    dry_run: bool = False,
    on_progress: ProgressCallback | None = None,
) -> list[Report]:
    """Write archived rows with time >= `since` back to Postgres, move the watermarks back (undo `run`)."""
    from python_ops.archive.inverse import ArchiveRestore

    reports = []
    with _engines(settings) as (_dsn, conn, ch):
        (spec,) = specs(conn, settings, table)
        for dataset in state.datasets(conn, dataset_id):
            op = ArchiveRestore(
                ch=ch,
                spec=spec,
                dataset=dataset,
                config=settings.archive,
                collection=settings.clickhouse.pg_collection,
                since=since,
            )
            reports.append(execute(op, conn, dry_run=dry_run, on_progress=on_progress))
    return reports
