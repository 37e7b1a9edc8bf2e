"""Own the archive verbs: `run` (copy → verify → watermark, and cleanup only when asked), `run_cleanup`
and `restore`, per dataset and table.

Every verb takes `Engines` first and the archive's settings (`ArchiveSettings`); `run` also takes the
tables' dbt models (`ArchiveModels`, built at the edge by `compiled.archive_models(settings)`). A verb
opens what it needs from the engines and never starts one.

`run` first lets dbt build any missing ClickHouse table (and the view `migrated_data`) from its model
and compile the models once (cached; see compiled.py), then runs one `ArchiveCopy` per (dataset,
table), and deletes from Postgres only when cleanup is asked for (`cleanup=True`) or configured
(`cleanup_after_run`, off by default). Each (dataset, table) runs under the operation lock `archive`
of `<table>/<dataset>`, taken before its first write: a second run of the same pair fails at once
naming the holder (or waits, `wait=True`), other pairs run side by side. With `dry_run` nothing is
written anywhere (no lock, no dbt run): the plans carry the exact SQL a run would execute.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import psycopg

from python_ops.archive import state
from python_ops.archive.cleanup import ArchiveCleanup
from python_ops.archive.compiled import ArchiveModels, Prepared
from python_ops.archive.copy import ArchiveCopy, FaultHook
from python_ops.archive.schema import TableSpec, read_spec
from python_ops.archive.transport import check_times_cross
from python_ops.engines.clickhouse import ChdbBusyError
from python_ops.errors import ConfigError, EngineError, VerificationError
from python_ops.locks import operation_lock
from python_ops.runner import ProgressCallback, Report, execute
from python_ops.settings import ArchiveSettings

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from python_ops.engines.context import Engines

LOCK = "archive"
_BUSY_POLL_S = 0.25
_RELEASE_GRACE_S = 5.0  # a holder's engine shutting down after it let go of the lock
T = TypeVar("T")


def specs(conn: psycopg.Connection, config: ArchiveSettings, table: str | None = None) -> list[TableSpec]:
    """The configured archived tables (or the one asked for) with their Postgres columns."""
    configured = config.tables
    if table is not None:
        configured = [t for t in configured if t.name == table]
        if not configured:
            names = ", ".join(t.name for t in config.tables)
            raise ConfigError(
                f"table {table} is not archived (archived: {names})", hint="add it to MIGRATA_ARCHIVE__TABLES"
            )
    return [read_spec(conn, t) for t in configured]


def _when_free(fn: Callable[[], T], *, wait: bool) -> T:
    """Call `fn`; while another process holds chDB's directory, fail at once or (`wait`) try again.

    Once a waited-for holder has let go of the directory's lock, it may still be shutting its engine
    down, and chDB refuses to start for that moment (an engine error that names no holder): after a
    wait, such an error is retried for `_RELEASE_GRACE_S` before it is reported."""
    waited, released_at = False, 0.0
    while True:
        try:
            return fn()
        except ChdbBusyError:
            if not wait:
                raise
            waited, released_at = True, 0.0
        except EngineError:
            if not waited:
                raise
            released_at = released_at or time.monotonic()
            if time.monotonic() - released_at > _RELEASE_GRACE_S:
                raise
        time.sleep(_BUSY_POLL_S)


@contextlib.contextmanager
def _clickhouse(engines: Engines, *, wait: bool) -> Iterator[Client]:
    """A ClickHouse client for the block; chDB's directory held elsewhere fails at once or is waited for."""
    with contextlib.ExitStack() as stack:
        yield _when_free(lambda: stack.enter_context(engines.clickhouse()), wait=wait)


def _lock(
    engines: Engines, target: str, *, wait: bool, dry_run: bool
) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext() if dry_run else operation_lock(engines, LOCK, target, wait=wait)


def run(
    engines: Engines,
    config: ArchiveSettings,
    *,
    models: ArchiveModels,
    dataset_id: str | None = None,
    table: str | None = None,
    dry_run: bool = False,
    cleanup: bool | None = None,
    wait: bool = False,
    on_progress: ProgressCallback | None = None,
    hook: FaultHook | None = None,
    now: datetime | None = None,
) -> list[Report]:
    """Archive every configured table of every active dataset (or the ones asked for); return the reports.

    Deletes from Postgres only with `cleanup=True`, or `cleanup=None` and `config.cleanup_after_run`.
    """
    if not config.enabled:
        return []
    cleanup = config.cleanup_after_run if cleanup is None else cleanup
    with engines.connect(autocommit=True) as conn:
        all_specs = specs(conn, config)
        chosen = specs(conn, config, table)
        datasets = state.datasets(conn, dataset_id)

        def copy_all(ch: Client, prepared: Prepared) -> list[Report]:
            if config.transport == "pull":
                check_times_cross(ch, conn, engines.pg_collection)
            reports: list[Report] = []
            steps = prepared.steps
            for dataset in datasets:
                for spec in chosen:
                    with _lock(engines, f"{spec.name}/{dataset.id}", wait=wait, dry_run=dry_run):
                        op = ArchiveCopy(
                            ch=ch,
                            spec=spec,
                            compiled=prepared.tables[spec.name],
                            dataset=dataset,
                            config=config,
                            collection=engines.pg_collection,
                            prepare=steps,
                            now=now,
                            hook=hook,
                            connect=lambda: engines.connect(autocommit=True),
                        )
                        steps = []  # dbt's step is printed once, with the first plan
                        report = execute(op, conn, dry_run=dry_run, on_progress=on_progress)
                        reports.append(report)
                        if cleanup and (dry_run or report.ok):
                            delete = ArchiveCleanup(
                                ch=ch, spec=spec, dataset=dataset, config=config, hook=hook
                            )
                            reports.append(execute(delete, conn, dry_run=dry_run, on_progress=on_progress))
            return reports

        with _clickhouse(engines, wait=wait) as ch:  # the common case: every table there, every model cached
            ready = models.ready(ch, all_specs)
            if ready is not None:
                return copy_all(ch, ready)
        # dbt builds every missing table and the view (so the view covers them all), compiles, caches
        with _lock(engines, "tables", wait=True, dry_run=dry_run):
            prepared = _when_free(lambda: models.prepare(engines, all_specs, dry_run=dry_run), wait=wait)
        with _clickhouse(engines, wait=wait) as ch:
            return copy_all(ch, prepared)


def run_cleanup(
    engines: Engines,
    config: ArchiveSettings,
    *,
    dataset_id: str | None = None,
    table: str | None = None,
    dry_run: bool = False,
    wait: bool = False,
    on_progress: ProgressCallback | None = None,
    hook: FaultHook | None = None,
) -> list[Report]:
    """Delete archived rows older than watermark - grace period from Postgres (only rows ClickHouse holds)."""
    if not config.enabled:
        return []
    reports = []
    with engines.connect(autocommit=True) as conn:
        chosen = specs(conn, config, table)
        datasets = state.datasets(conn, dataset_id)
        with _clickhouse(engines, wait=wait) as ch:
            for dataset in datasets:
                for spec in chosen:
                    with _lock(engines, f"{spec.name}/{dataset.id}", wait=wait, dry_run=dry_run):
                        op = ArchiveCleanup(ch=ch, spec=spec, dataset=dataset, config=config, hook=hook)
                        reports.append(execute(op, conn, dry_run=dry_run, on_progress=on_progress))
    return reports


def restore(
    engines: Engines,
    config: ArchiveSettings,
    *,
    table: str,
    since: datetime,
    dataset_id: str | None = None,
    dry_run: bool = False,
    wait: bool = False,
    on_progress: ProgressCallback | None = None,
) -> list[Report]:
    """Write archived rows with time >= `since` back to Postgres, move the watermarks back (undo `run`)."""
    from python_ops.archive.inverse import ArchiveRestore

    reports = []
    with engines.connect(autocommit=True) as conn:
        (spec,) = specs(conn, config, table)
        datasets = state.datasets(conn, dataset_id)
        with _clickhouse(engines, wait=wait) as ch:
            check_times_cross(ch, conn, engines.pg_collection)
            for dataset in datasets:
                with _lock(engines, f"{spec.name}/{dataset.id}", wait=wait, dry_run=dry_run):
                    op = ArchiveRestore(
                        ch=ch,
                        spec=spec,
                        dataset=dataset,
                        config=config,
                        collection=engines.pg_collection,
                        since=since,
                    )
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
