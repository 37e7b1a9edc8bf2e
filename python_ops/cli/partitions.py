"""Own `migrata partitions …`: declare RANGE tables managed, run maintenance, show partition health.

Commands are thin: parse options, call `python_ops.partitions`, print. `manage` and `unmanage` are each
other's inverse; `maintain` is what the daily Dagster schedule and `migrata_run_maintenance()` do.
"""

from __future__ import annotations

import datetime as dt

import typer
from rich.markup import escape

from python_ops.cli.context import state
from python_ops.cli.output import out, print_json, print_report, print_table, progress

app = typer.Typer(
    help="Time-based RANGE partition maintenance: premake, retention, DEFAULT-partition rows, health.",
    no_args_is_help=True,
)


def _conn(ctx: typer.Context):  # type: ignore[no-untyped-def]
    from python_ops.db import connect
    from python_ops.engines.control import postgres_dsn

    return connect(postgres_dsn(state(ctx).settings), autocommit=True)


def _fmt_retention(value: dt.timedelta | None) -> str:
    return "keep all" if value is None else f"{value.days} days"


@app.command(
    epilog="Example: migrata partitions manage lineage_events --interval month --premake 4 "
    "--retention '12 months' --retention-mode detach"
)
def manage(
    ctx: typer.Context,
    table: str = typer.Argument(
        ..., help="RANGE-partitioned table (schema.table for a schema other than public)."
    ),
    interval: str = typer.Option(None, "--interval", help="month, week or day (default: settings)."),
    premake: int = typer.Option(None, "--premake", help="Partitions kept ready ahead (default: settings)."),
    retention: str = typer.Option(
        None, "--retention", help="Keep this much, e.g. '12 months' (default: all)."
    ),
    retention_mode: str = typer.Option("detach", "--retention-mode", help="drop, or detach and keep."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the policy and what maintenance would do."),
) -> None:
    """Declare a RANGE-partitioned table managed (or change its policy)."""
    from python_ops import partitions

    s = state(ctx)
    cfg = s.settings.partitions
    with _conn(ctx) as conn:
        if dry_run:
            partitions.ranges.require_range_table(conn, table)
            partitions.ranges.check_interval(interval or cfg.interval)
            out.print(
                escape(
                    f"would manage {table}: {interval or cfg.interval}, premake {premake or cfg.premake}, "
                    f"retention {retention or 'keep all'} ({retention_mode}); nothing written"
                )
            )
            return
        managed = partitions.manage(
            conn,
            table,
            interval=interval or cfg.interval,
            premake=cfg.premake if premake is None else premake,
            retention=retention,
            retention_mode=retention_mode,
        )
    if s.json:
        print_json(managed.__dict__)
        return
    out.print(
        escape(
            f"{managed.parent_table} managed: {managed.partition_interval}, premake {managed.premake}, "
            f"retention {_fmt_retention(managed.retention)} ({managed.retention_mode}); "
            f"run `migrata partitions maintain` to apply"
        )
    )


@app.command(epilog="Example: migrata partitions unmanage lineage_events")
def unmanage(
    ctx: typer.Context,
    table: str = typer.Argument(..., help="A managed table."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be removed; change nothing."),
) -> None:
    """Stop managing a table; its partitions stay exactly as they are."""
    from python_ops import partitions

    s = state(ctx)
    with _conn(ctx) as conn:
        current = partitions.maintenance.get_managed(conn, table)
        if not dry_run:
            partitions.unmanage(conn, table)
    verb = "would stop" if dry_run else "stopped"
    if s.json:
        print_json({"table": current.parent_table, "unmanaged": not dry_run})
        return
    out.print(escape(f"{verb} managing {current.parent_table}; its partitions are left as they are"))


@app.command(epilog="Example: migrata partitions maintain --dry-run")
def maintain(
    ctx: typer.Context,
    tables: list[str] = typer.Argument(None, help="Managed tables (default: all)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and its SQL; change nothing."),
) -> None:
    """Create partitions ahead and retire those past retention, on every managed table."""
    from python_ops import partitions

    s = state(ctx)
    with _conn(ctx) as conn, progress(s.quiet) as on_progress:
        report = partitions.maintain(
            conn,
            tables or None,
            dry_run=dry_run,
            lock_timeout_ms=s.settings.partitions.lock_timeout_ms,
            on_progress=on_progress,
        )
    print_report(report, as_json=s.json, show_sql=dry_run)


@app.command(epilog="Example: migrata partitions status --partitions")
def status(
    ctx: typer.Context,
    tables: list[str] = typer.Argument(None, help="Managed tables (default: all)."),
    show_partitions: bool = typer.Option(False, "--partitions", help="Also list every partition with rows."),
) -> None:
    """Show partition health: partitions, rows, skew, DEFAULT-partition rows, missing future partitions."""
    from python_ops import partitions
    from python_ops.partitions.models import HEALTH_COLUMNS

    s = state(ctx)
    with _conn(ctx) as conn:
        health = partitions.table_health(conn, tables or None)
    if s.json:
        print_json([h.as_dict() for h in health])
    else:
        print_table("partition health", HEALTH_COLUMNS, [h.summary_row() for h in health])
        if show_partitions:
            for h in health:
                print_table(
                    h.table,
                    ["partition", "from", "to", "rows"],
                    [[p.name, p.lo or "DEFAULT", p.hi or "", p.rows] for p in h.partitions],
                )
        bad = [h.table for h in health if not h.future_ok or not h.default_empty]
        out.print(
            escape(
                f"{len(health)} managed tables, {len(bad)} need attention"
                + (f": {', '.join(bad)}" if bad else "")
            )
        )
    if any(not h.future_ok or not h.default_empty for h in health):
        raise typer.Exit(1)
