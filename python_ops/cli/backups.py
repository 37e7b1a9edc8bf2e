"""Own `migrata backups …`: the backup manager over `migration_backups` (seed 002).

`list` and `status` read; `verify` re-checks a backup's count and checksum; `extend` pushes its expiry;
`cleanup` drops only backups that are both expired and verified (`--dry-run` first).
"""

from __future__ import annotations

import typer
from rich.markup import escape

from python_ops.cli.context import state
from python_ops.cli.output import out, print_json, print_report, print_table

app = typer.Typer(
    help="Verified table backups made before risky migrations: list, verify, extend, clean up.",
    no_args_is_help=True,
)


def _conn(ctx: typer.Context):  # type: ignore[no-untyped-def]
    from python_ops.db import connect
    from python_ops.engines.control import postgres_dsn

    return connect(postgres_dsn(state(ctx).settings), autocommit=True)


@app.command(name="list", epilog="Example: migrata backups list --all")
def list_(
    ctx: typer.Context,
    source: str = typer.Option(None, "--source", help="Only backups of this table."),
    include_dropped: bool = typer.Option(False, "--all", help="Include dropped backups."),
) -> None:
    """List registered backups, newest first."""
    from python_ops import backups
    from python_ops.backups import ROW_COLUMNS

    s = state(ctx)
    with _conn(ctx) as conn:
        records = backups.list_backups(conn, source_table=source, include_dropped=include_dropped)
    if s.json:
        print_json([r.__dict__ for r in records])
        return
    print_table("backups", ROW_COLUMNS, [r.as_row() for r in records])


@app.command(epilog="Example: migrata backups status")
def status(ctx: typer.Context) -> None:
    """Summarize the registry: kept, verified, expired, expiring soon, bytes held."""
    from python_ops import backups

    s = state(ctx)
    with _conn(ctx) as conn:
        summary = backups.backup_status(conn)
    if s.json:
        print_json(summary)
        return
    print_table("backup status", list(summary), [list(summary.values())])


@app.command(epilog="Example: migrata backups verify chunks_backup_20250811_120000")
def verify(ctx: typer.Context, table: str = typer.Argument(..., help="Backup table name.")) -> None:
    """Recount and re-checksum a backup against what was recorded when it was made."""
    from python_ops import backups

    s = state(ctx)
    with _conn(ctx) as conn:
        report = backups.verify_backup(conn, table)
    print_report(report, as_json=s.json)


@app.command(epilog="Example: migrata backups extend chunks_backup_20250811_120000 --days 14")
def extend(
    ctx: typer.Context,
    table: str = typer.Argument(..., help="Backup table name."),
    days: int = typer.Option(..., "--days", help="Days to add to its expiry."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the current expiry; change nothing."),
) -> None:
    """Keep a backup longer: push its expiry by N days."""
    from python_ops import backups

    s = state(ctx)
    with _conn(ctx) as conn:
        record = backups.get_backup(conn, table) if dry_run else backups.extend_backup(conn, table, days)
    if s.json:
        print_json(record.__dict__)
        return
    verb = f"would extend by {days} days from" if dry_run else "now expires"
    out.print(escape(f"{record.backup_table} {verb} {record.expires_at:%Y-%m-%d %H:%M:%S}"))


@app.command(epilog="Example: migrata backups cleanup --dry-run")
def cleanup(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be dropped; drop nothing."),
) -> None:
    """Drop backups that are expired and verified; unverified ones are kept and listed."""
    from python_ops import backups

    s = state(ctx)
    with _conn(ctx) as conn:
        report = backups.cleanup_backups(conn, dry_run=dry_run)
    print_report(report, as_json=s.json, show_sql=dry_run)
