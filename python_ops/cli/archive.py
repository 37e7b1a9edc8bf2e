"""Own `migrata archive …`: archive aged Postgres rows to ClickHouse, clean up, restore, show status.

Commands are thin: parse options, call `python_ops.archive` with the engines, the archive settings and
(for `run`) the tables' dbt models, print reports. Deleting from Postgres is irreversible: `cleanup`
and `run --cleanup` ask for `--yes` (a configured `cleanup_after_run` is the consent of a scheduled run).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

from python_ops.cli.context import state
from python_ops.cli.output import out, print_json, print_table, progress

if TYPE_CHECKING:
    from python_ops.runner import Report

app = typer.Typer(
    help="Archive aged Postgres rows to ClickHouse with watermarks and verified cleanup.",
    no_args_is_help=True,
)

DATASET = typer.Option(None, "--dataset-id", help="Only this dataset (default: every active dataset).")
TABLE = typer.Option(None, "--table", help="Only this archived table (default: every configured table).")
DRY_RUN = typer.Option(False, "--dry-run", help="Print the plan and its SQL; write nothing anywhere.")
WAIT = typer.Option(False, "--wait", help="Wait for a run of the same table and dataset (or chDB) to finish.")
YES = typer.Option(False, "--yes", help="Confirm deleting archived rows from Postgres (irreversible).")


def _print_reports(reports: list[Report], *, as_json: bool, dry_run: bool) -> None:
    if as_json:
        print_json([r.as_dict() for r in reports])
    else:
        if dry_run:
            for r in reports:
                if r.plan.total:
                    sys.stdout.write(f"-- {r.plan.description}\n{r.plan.sql()}\n\n")
        print_table(
            "archive",
            ["operation", "status", "planned", "done", "batches", "checks", "details", "seconds"],
            [
                [
                    r.operation,
                    r.status,
                    r.plan.total,
                    r.units_done,
                    r.batches,
                    f"{sum(c.ok for c in r.checks)}/{len(r.checks)}",
                    ", ".join(f"{k}={v}" for k, v in r.details.items() if k != "watermark"),
                    f"{r.elapsed_s:.2f}",
                ]
                for r in reports
            ],
        )
        failed = [c for r in reports for c in r.failed_checks]
        for check in failed:
            out.print(
                f"check failed: {check.name}: expected {check.expected}, found {check.actual} {check.detail}"
            )
        if dry_run:
            planned = sum(r.plan.total for r in reports)
            out.print(f"dry run: {len(reports)} operations would process {planned} rows; nothing written")
        else:
            copied = sum(r.units_done for r in reports if r.operation.startswith("archive_copy"))
            deleted = sum(r.units_done for r in reports if r.operation.startswith("archive_cleanup"))
            restored = sum(r.units_done for r in reports if r.operation.startswith("archive_restore"))
            out.print(
                f"{len(reports)} operations: {copied} rows archived, {deleted} deleted from Postgres"
                + (f", {restored} restored" if restored else "")
                + f", {sum(not r.ok for r in reports)} failed"
            )
    if any(not r.ok for r in reports):
        raise typer.Exit(1)


@app.command(epilog="Example: migrata archive run --table lifecycle_audit_log --dry-run")
def run(
    ctx: typer.Context,
    dataset_id: str | None = DATASET,
    table: str | None = TABLE,
    dry_run: bool = DRY_RUN,
    cleanup: bool | None = typer.Option(
        None,
        "--cleanup/--no-cleanup",
        help="Also delete archived rows past the grace period from Postgres (needs --yes); "
        "default: MIGRATA_ARCHIVE__CLEANUP_AFTER_RUN (off).",
        show_default=False,
    ),
    yes: bool = YES,
    wait: bool = WAIT,
) -> None:
    """Archive rows older than max_age_hours to ClickHouse, verify, advance watermarks (and clean up)."""
    from python_ops import archive
    from python_ops.cli.output import confirm_irreversible

    st = state(ctx)
    if cleanup and not dry_run:
        confirm_irreversible("archive run --cleanup deletes archived rows from Postgres", yes=yes)
    with progress(st.quiet or st.json) as on_progress:
        reports = archive.run(
            st.engines, st.settings.archive, models=archive.archive_models(st.settings),
            dataset_id=dataset_id, table=table, dry_run=dry_run, cleanup=cleanup, wait=wait,
            on_progress=on_progress,
        )  # fmt: skip
    if not st.settings.archive.enabled:
        out.print("archive is disabled (MIGRATA_ARCHIVE__ENABLED=false): nothing done")
        return
    _print_reports(reports, as_json=st.json, dry_run=dry_run)
    from python_ops.cli.reporters import report_operation

    report_operation("archive_run", settings=st.settings, engines=st.engines, result=reports, dry_run=dry_run)


@app.command(epilog="Example: migrata archive cleanup --dry-run; migrata archive cleanup --yes")
def cleanup(
    ctx: typer.Context,
    dataset_id: str | None = DATASET,
    table: str | None = TABLE,
    dry_run: bool = DRY_RUN,
    yes: bool = YES,
    wait: bool = WAIT,
) -> None:
    """Delete Postgres rows older than watermark - grace period that ClickHouse holds (irreversible)."""
    from python_ops import archive
    from python_ops.cli.output import confirm_irreversible

    st = state(ctx)
    if not dry_run:
        confirm_irreversible("archive cleanup deletes archived rows from Postgres", yes=yes)
    with progress(st.quiet or st.json) as on_progress:
        reports = archive.run_cleanup(
            st.engines, st.settings.archive, dataset_id=dataset_id, table=table, dry_run=dry_run, wait=wait,
            on_progress=on_progress,
        )  # fmt: skip
    _print_reports(reports, as_json=st.json, dry_run=dry_run)


@app.command(epilog="Example: migrata --json archive status")
def status(ctx: typer.Context) -> None:
    """Show watermarks, lag, rows pending archive and cleanup, and run metrics."""
    from python_ops import archive

    st = state(ctx)
    result = archive.status(st.engines, st.settings.archive)
    if st.json:
        print_json(result.as_dict())
        return
    print_table(
        "archive watermarks",
        ["dataset", "table", "watermark", "lag h", "pending archive", "in grace", "pending cleanup",
         "archived"],
        [
            [t.dataset_slug, t.table, t.watermark or "-", t.lag_hours if t.lag_hours is not None else "-",
             t.pending_archive, t.in_grace_period, t.pending_cleanup, t.archived]
            for t in result.tables
        ],
    )  # fmt: skip
    print_table(
        "archive metrics",
        ["operation", "runs", "rows", "bytes", "partitions"],
        [[m.operation, m.runs, m.rows, m.bytes, m.partitions] for m in result.metrics],
    )
    pending = sum(t.pending_archive for t in result.tables)
    out.print(f"{len(result.tables)} (dataset, table) pairs, {pending} rows pending archive")


@app.command(
    epilog="Example: migrata archive restore --table lifecycle_audit_log --since 2026-10-01T00:00:00Z"
)
def restore(
    ctx: typer.Context,
    table: str = typer.Option(..., "--table", help="Archived table to restore."),
    since: datetime = typer.Option(
        ...,
        "--since",
        formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
        help="Restore rows with time >= this (UTC unless an offset is given).",
    ),
    dataset_id: str | None = DATASET,
    dry_run: bool = DRY_RUN,
    wait: bool = WAIT,
) -> None:
    """Copy archived rows back into Postgres and move the watermark back (the inverse of `run`)."""
    from python_ops import archive

    st = state(ctx)
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    with progress(st.quiet or st.json) as on_progress:
        reports = archive.restore(
            st.engines,
            st.settings.archive,
            table=table,
            since=since,
            dataset_id=dataset_id,
            dry_run=dry_run,
            wait=wait,
            on_progress=on_progress,
        )
    _print_reports(reports, as_json=st.json, dry_run=dry_run)
