"""Own heavy data migrations (contract B): run now when small, recorded as pending when large.

A revision's `upgrade()` calls::

    data_migration("lineage_backfill",
                   estimate="python_ops.lineage.backfill:estimate_runs",
                   run="python_ops.lineage.backfill:backfill")

`estimate(conn: psycopg.Connection) -> int` counts the rows to migrate; `run(dsn, *, chunk_size,
on_progress) -> Report` migrates them in chunks through the shared runner, so a killed run resumes.
When the estimate exceeds the `heavy_threshold` placeholder (default: settings
`migrations.heavy_threshold_rows`, 100000) an automatic run logs a warning, records the migration as
pending and returns; `migrata migrate run-pending` runs it later. The placeholder `heavy=now` runs it
regardless, `heavy=defer` always defers.

The callables run on their own connections outside the revision's transaction (Alembic's
`autocommit_block`): what the revision did before is committed first, and each chunk commits on its own.
Keep a revision that calls `data_migration` free of other changes, and declare
`depends_on = "core_0002"` so the pending table exists.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from python_ops.db import connect
from python_ops.errors import ConfigError, MigrataError, VerificationError
from python_ops.migrations import params, pending
from python_ops.migrations.runtime import (
    attribute,
    in_migration,
    note,
    placeholder,
    rendering,
    repository_dsn,
)
from python_ops.migrations.throttle import Pause, Throttle, replication_lag
from python_ops.migrations.uri import resolve_uri
from python_ops.runner.models import Report

if TYPE_CHECKING:
    from python_ops.runner import ProgressCallback

log = logging.getLogger("migrata.migrations")

__all__ = ["data_migration", "forget_data_migration", "run_pending"]


def _defaults() -> tuple[int, int]:
    from python_ops.settings import load_settings

    cfg = load_settings().migrations
    return cfg.heavy_threshold_rows, cfg.chunk_size


def _calling_revision() -> str | None:
    """The revision id of the script whose upgrade()/downgrade() called us (its module's `revision`)."""
    frame = inspect.currentframe()
    while frame is not None:
        names = frame.f_globals
        if isinstance(names.get("revision"), str) and "down_revision" in names:
            return str(names["revision"])
        frame = frame.f_back
    return None


def data_migration(name: str, *, estimate: str, run: str) -> None:
    """Run data migration `name` now, or record it as pending when its estimate exceeds the threshold."""
    if not in_migration():
        raise MigrataError(
            f"data_migration({name!r}) was called outside a migration run",
            hint="call it from a revision's upgrade(); run recorded ones with `migrata migrate run-pending`",
        )
    from alembic import op

    default_threshold, default_chunk = _defaults()
    # parsed and bounded by python_ops.migrations.params (the entry points checked them already)
    threshold = placeholder("heavy_threshold", default_threshold)
    chunk_size = placeholder("chunk_size", default_chunk)
    mode = placeholder("heavy", "auto")
    estimate_fn, run_fn = pending.resolve(estimate), pending.resolve(run)  # both, before anything commits
    revision = _calling_revision()
    if rendering():  # `migrate lint`: the chunks run on their own connection, outside the revision
        note(f"data migration {name}: chunked by the runner outside the revision's transaction ({run})")
        return
    dsn = repository_dsn()

    with op.get_context().autocommit_block():
        with connect(dsn, autocommit=True) as conn:
            pending.require_table(conn)
            rows = int(estimate_fn(conn))
            defer = mode == "defer" or (mode != "now" and rows > threshold)
            pending.record(
                conn,
                name=name,
                revision=revision,
                status="pending" if defer else "running",
                estimate_path=estimate,
                run_path=run,
                estimated=rows,
                threshold=threshold,
            )
        if defer:
            message = (
                f"data migration {name} ({revision}) skipped: about {rows} rows exceed the threshold "
                f"of {threshold}; it is recorded as pending — run it with "
                f"`migrata migrate run-pending --set chunk_size=N`"
            )
            collected = attribute("warnings")
            if collected is None:
                log.warning(message)
            else:  # the caller reports it (CLI on stderr, Dagster in its log, the API in the result)
                log.info(message)
                collected.append(message)
            return
        _run_one(dsn, name, run_fn, chunk_size=chunk_size, on_progress=attribute("on_progress"))


def _run_one(
    dsn: str,
    name: str,
    run_fn: object,
    *,
    chunk_size: int,
    on_progress: ProgressCallback | None,
) -> Report:
    assert callable(run_fn)
    report = run_fn(dsn, chunk_size=chunk_size, on_progress=on_progress)
    if not isinstance(report, Report):
        raise MigrataError(
            f"data migration {name} returned {type(report).__name__}, not a runner Report",
            hint="make its run callable return python_ops.runner.execute(...)",
        )
    with connect(dsn, autocommit=True) as conn:
        pending.mark_finished(conn, name, ok=report.ok, rows_done=report.units_done, summary=report.summary())
    if not report.ok:
        raise VerificationError(
            f"data migration {name} failed verification: {report.summary()}",
            hint="inspect the report; rerun resumes from the last committed chunk",
        )
    return report


def forget_data_migration(name: str) -> None:
    """Drop the record of `name`: call it from the downgrade() of the revision that declared it."""
    from alembic import op

    if not in_migration():
        raise MigrataError(f"forget_data_migration({name!r}) was called outside a migration run")
    bind = op.get_bind()
    exists = bind.exec_driver_sql(f"SELECT to_regclass('{pending.TABLE}') IS NOT NULL").scalar()
    if exists:
        bind.exec_driver_sql(f"DELETE FROM {pending.TABLE} WHERE name = %(name)s", {"name": name})


def run_pending(
    repository_uri: str,
    *,
    chunk_size: int | None = None,
    names: Sequence[str] = (),
    on_progress: ProgressCallback | None = None,
    max_rows_per_second: float | None = None,
    max_replication_lag_s: float | None = None,
    pause: Pause | None = None,
) -> list[Report]:
    """Run the recorded pending (or interrupted, or failed) data migrations; each resumes where it stopped.

    `max_rows_per_second` caps the rate; `max_replication_lag_s` pauses between chunks while a standby
    lags further behind (`pause` takes any other signal). Every value is checked before anything is
    written: a bad one is a ConfigError and no record changes.
    """
    from python_ops.migrations.lock import migration_lock

    chunk = params.parse("chunk_size", chunk_size) if chunk_size is not None else _defaults()[1]
    rate = (
        params.parse("max_rows_per_second", max_rows_per_second) if max_rows_per_second is not None else None
    )
    lag = (
        params.parse("max_replication_lag_s", max_replication_lag_s)
        if max_replication_lag_s is not None
        else None
    )
    dsn = resolve_uri(repository_uri)
    with connect(dsn, autocommit=True) as conn:
        todo = pending.load(conn, open_only=True)
    unknown = set(names) - {p.name for p in todo}
    if unknown:
        raise ConfigError(
            f"no pending data migration named {', '.join(sorted(unknown))}",
            hint="list them with `migrata migrate status`",
        )
    todo = [item for item in todo if not names or item.name in names]
    run_fns = {item.name: pending.resolve(item.run_path) for item in todo}  # all, before any is marked
    reports = []
    with contextlib.ExitStack() as stack:
        if lag is not None and pause is None:
            signal_conn = stack.enter_context(
                connect(dsn, autocommit=True, application_name="migrata-throttle")
            )
            pause = Pause(replication_lag(signal_conn), lag)
        paced = on_progress
        if rate is not None or pause is not None:
            paced = Throttle(on_progress, max_rows_per_second=rate, pause=pause)
        for item in todo:
            # one runner per data migration at a time; schema migrations may proceed meanwhile
            with migration_lock(dsn, key=f"pending:{item.name}"):
                with connect(dsn, autocommit=True) as conn:
                    pending.mark_running(conn, item.name)
                reports.append(
                    _run_one(dsn, item.name, run_fns[item.name], chunk_size=chunk, on_progress=paced)
                )
    return reports
