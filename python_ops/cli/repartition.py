"""Own `migrata repartition …`: safe online repartitioning into LIST partitions, its rollback and status.

`run` and `rollback` are each other's inverse. A stopped `run` continues when rerun with the same
options; progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

import typer

from python_ops.cli.context import state
from python_ops.cli.output import print_json, print_report, print_table, progress

app = typer.Typer(
    help="Repartition a live table into N LIST partitions by a stable hash of a column: backup, online "
    "copy, verification, atomic swap, rollback.",
    no_args_is_help=True,
)


@app.command(epilog="Example: migrata repartition run chunks --by collection_id --list-partitions 100")
def run(
    ctx: typer.Context,
    table: str = typer.Argument(..., help="Plain table with a primary key (schema.table outside public)."),
    by: str = typer.Option(..., "--by", help="Column whose stable hash picks the partition."),
    list_partitions: int = typer.Option(
        None, "--list-partitions", help="Partition count (default: settings, 100)."
    ),
    batch_size: int = typer.Option(
        None, "--batch-size", help="Rows per copy batch (default: settings, 10000)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Run the pre-check, print the plan and SQL; change nothing."
    ),
) -> None:
    """Repartition a table online: backup, copy with captured writes, verify, swap."""
    from python_ops import partitions
    from python_ops.db import connect
    from python_ops.engines.control import postgres_dsn

    s = state(ctx)
    cfg = s.settings.partitions
    with connect(postgres_dsn(s.settings), autocommit=True) as conn, progress(s.quiet) as on_progress:
        report = partitions.repartition(
            conn,
            table,
            by,
            list_partitions or cfg.list_partitions,
            batch_size=batch_size or cfg.batch_size,
            dry_run=dry_run,
            lock_timeout_ms=cfg.lock_timeout_ms,
            retention_days=cfg.backup_retention_days,
            free_bytes=cfg.assume_free_bytes,
            on_progress=on_progress,
        )
    print_report(report, as_json=s.json, show_sql=dry_run)


@app.command(epilog="Example: migrata repartition rollback chunks")
def rollback(
    ctx: typer.Context,
    table: str = typer.Argument(..., help="A table being or already repartitioned."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be undone; change nothing."),
) -> None:
    """Undo a repartitioning at any step; after the swap, bring the original back with later writes."""
    from python_ops import partitions
    from python_ops.db import connect
    from python_ops.engines.control import postgres_dsn

    s = state(ctx)
    with connect(postgres_dsn(s.settings), autocommit=True) as conn:
        report = partitions.rollback(
            conn, table, lock_timeout_ms=s.settings.partitions.lock_timeout_ms, dry_run=dry_run
        )
    print_report(report, as_json=s.json, show_sql=dry_run)


@app.command(epilog="Example: migrata repartition status")
def status(ctx: typer.Context) -> None:
    """List recorded repartitionings with their step, backup, retired table and swap lock time."""
    from python_ops import partitions
    from python_ops.db import connect
    from python_ops.engines.control import postgres_dsn

    s = state(ctx)
    with connect(postgres_dsn(s.settings), autocommit=True) as conn:
        rows = partitions.runs(conn)
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
