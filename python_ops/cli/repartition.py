"""Own `migrata repartition …`: safe online repartitioning into LIST partitions, its rollback and status.

`run` and `rollback` are each other's inverse. A stopped `run` continues when rerun with the same
options; progress goes to stderr, the report to stdout. Both hold the table's operation lock: a second
one on the same table exits 2 at once naming the holder, or waits with `--wait`.
"""

from __future__ import annotations

import typer

from python_ops.cli.context import state
from python_ops.cli.output import print_json, print_report, print_table, progress

app = typer.Typer(
    help="Repartition a live table into N LIST partitions by a stable hash of a column: online copy, "
    "verification, atomic swap (the original kept as the registered backup), rollback.",
    no_args_is_help=True,
)

WAIT = typer.Option(False, "--wait", help="Wait for a run already holding this table instead of exiting 2.")


@app.command(epilog="Example: migrata repartition run chunks --by collection_id --list-partitions 100")
def run(
    ctx: typer.Context,
    table: str = typer.Argument(..., help="Plain table with a primary key (schema.table outside public)."),
    by: str = typer.Option(..., "--by", help="Column whose stable hash picks the partition."),
    list_partitions: int | None = typer.Option(
        None,
        "--list-partitions",
        min=2,
        max=1000,
        help="Partition count, 2 to 1000 (default: MIGRATA_PARTITIONS__LIST_PARTITIONS, 100).",
    ),
    batch_size: int | None = typer.Option(
        None,
        "--batch-size",
        min=1,
        help="Rows per copy batch, at least 1 (default: MIGRATA_PARTITIONS__BATCH_SIZE, 10000).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Run the pre-check, print the plan and SQL; change nothing."
    ),
    wait: bool = WAIT,
) -> None:
    """Repartition a table online: copy with captured writes, verify, swap; the original is the backup."""
    from python_ops import partitions

    s = state(ctx)
    cfg = s.settings.partitions
    with progress(s.quiet) as on_progress:
        report = partitions.repartition(
            s.engines,
            table,
            by,
            cfg.list_partitions if list_partitions is None else list_partitions,
            batch_size=cfg.batch_size if batch_size is None else batch_size,
            dry_run=dry_run,
            lock_timeout_ms=cfg.lock_timeout_ms,
            retention_days=cfg.backup_retention_days,
            free_bytes=cfg.assume_free_bytes,
            wait=wait,
            on_progress=on_progress,
        )
    print_report(report, as_json=s.json, show_sql=dry_run)
    if report.ok:
        from python_ops.cli.reporters import report_operation

        report_operation(
            "repartition", settings=s.settings, engines=s.engines, result=report, dry_run=dry_run
        )


@app.command(epilog="Example: migrata repartition rollback chunks")
def rollback(
    ctx: typer.Context,
    table: str = typer.Argument(..., help="A table being or already repartitioned."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be undone; change nothing."),
    wait: bool = WAIT,
) -> None:
    """Undo a repartitioning at any step; after the swap, bring the original back with later writes."""
    from python_ops import partitions

    s = state(ctx)
    report = partitions.rollback(
        s.engines, table, lock_timeout_ms=s.settings.partitions.lock_timeout_ms, dry_run=dry_run, wait=wait
    )
    print_report(report, as_json=s.json, show_sql=dry_run)


@app.command(epilog="Example: migrata repartition status")
def status(ctx: typer.Context) -> None:
    """List recorded repartitionings with their step, backup, retired table and swap lock time."""
    from python_ops import partitions

    s = state(ctx)
    rows = partitions.runs(s.engines)
    if s.json:
        print_json(rows)
        return
    columns = [
        "table_name",
        "column_name",
        "partitions",
        "step",
        "backup_table",
        "retired_table",
        "source_rows",
        "lock_ms",
    ]
    print_table("repartitionings", columns, [[r[c] for c in columns] for r in rows])
