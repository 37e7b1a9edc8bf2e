"""Own `migrata backups …`: the backup manager over `migration_backups` (seed 002).

`list` and `status` read; `verify` re-checks a backup's count and checksum; `extend` pushes its expiry;
`cleanup` drops only backups that are both expired and verified — irreversible, so it asks for `--yes`
(`--dry-run` first shows the exact statements).
"""

from __future__ import annotations

import typer
from rich.markup import escape

from python_ops.cli.context import state
from python_ops.cli.output import confirm_irreversible, out, print_json, print_report, print_table

app = typer.Typer(
    help="Verified table backups made before risky migrations: list, verify, extend, clean up.",
    no_args_is_help=True,
)


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
    records = backups.list_backups(s.engines, source_table=source, include_dropped=include_dropped)
    if s.json:
        print_json([r.__dict__ for r in records])
        return
    print_table("backups", ROW_COLUMNS, [r.as_row() for r in records])


@app.command(epilog="Example: migrata backups status")
def status(ctx: typer.Context) -> None:
    """Summarize the registry: kept, verified, expired, expiring soon, bytes held."""
    from python_ops import backups

    s = state(ctx)
    summary = backups.backup_status(s.engines)
    if s.json:
        print_json(summary)
        return
    print_table("backup status", list(summary), [list(summary.values())])


@app.command(epilog="Example: migrata backups verify chunks_backup_20250811_120000")
def verify(ctx: typer.Context, table: str = typer.Argument(..., help="Backup table name.")) -> None:
    """Recount and re-checksum a backup against what was recorded when it was made."""
    from python_ops import backups

    s = state(ctx)
    print_report(backups.verify_backup(s.engines, table), as_json=s.json)


@app.command(epilog="Example: migrata backups extend chunks_backup_20250811_120000 --days 14")
def extend(
    ctx: typer.Context,
    table: str = typer.Argument(..., help="Backup table name."),
    days: int = typer.Option(..., "--days", min=1, max=36_500, help="Days to add to its expiry, 1 or more."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the current expiry; change nothing."),
) -> None:
    """Keep a backup longer: push its expiry by N days."""
    from python_ops import backups

    s = state(ctx)
    if dry_run:
        record = backups.get_backup(s.engines, table)
    else:
        record = backups.extend_backup(s.engines, table, days)
    if s.json:
        print_json(record.__dict__)
        return
    verb = f"would extend by {days} days from" if dry_run else "now expires"
    out.print(escape(f"{record.backup_table} {verb} {record.expires_at:%Y-%m-%d %H:%M:%S}"))


@app.command(epilog="Example: migrata backups cleanup --dry-run && migrata backups cleanup --yes")
def cleanup(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be dropped; drop nothing."),
    yes: bool = typer.Option(False, "--yes", help="Confirm dropping the backups (irreversible)."),
    wait: bool = typer.Option(
        False, "--wait", help="Wait for a cleanup already running instead of exiting 2."
    ),
) -> None:
    """Drop backups that are expired and verified; unverified ones are kept and listed."""
    from python_ops import backups

    s = state(ctx)
    if not dry_run and not yes:
        preview = backups.cleanup_backups(s.engines, dry_run=True)
        if preview.plan.total:
            names: list[str] = preview.plan.details["to_drop"]
            shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
            confirm_irreversible(f"cleanup drops {preview.plan.total} backups ({shown})", yes=False)
    report = backups.cleanup_backups(s.engines, dry_run=dry_run, wait=wait)
    print_report(report, as_json=s.json, show_sql=dry_run)
