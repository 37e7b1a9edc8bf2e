"""Own `migrata partitions …`: declare RANGE tables managed, run maintenance, show partition health.

Commands are thin: parse options, call `python_ops.partitions`, print. `manage` and `unmanage` are each
other's inverse; `maintain` is what the daily Dagster schedule and `migrata_run_maintenance()` do, and
`--dry-run` prints the very statements it executes. Retention that drops partitions is irreversible
and needs `--yes`.
"""

from __future__ import annotations

import datetime as dt

import typer
from rich.markup import escape

from python_ops.cli.context import state
from python_ops.cli.output import confirm_irreversible, out, print_json, print_report, print_table, progress

app = typer.Typer(
    help="Time-based RANGE partition maintenance: premake, retention, DEFAULT-partition rows, health.",
    no_args_is_help=True,
)

WAIT = typer.Option(False, "--wait", help="Wait for a run already holding a table instead of exiting 2.")


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
    interval: str | None = typer.Option(
        None, "--interval", help="month, week or day (default: MIGRATA_PARTITIONS__INTERVAL, month)."
    ),
    premake: int | None = typer.Option(
        None,
        "--premake",
        min=0,
        max=1000,
        help="Partitions kept ready ahead, 0 or more (default: MIGRATA_PARTITIONS__PREMAKE, 4).",
    ),
    retention: str = typer.Option(
        None, "--retention", help="Keep this much, e.g. '12 months' (default: all)."
    ),
    retention_mode: str = typer.Option(
        "detach", "--retention-mode", help="drop (irreversible), or detach and keep."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the policy and what maintenance would do."),
    wait: bool = WAIT,
) -> None:
    """Declare a RANGE-partitioned table managed (or change its policy)."""
    from python_ops import partitions

    s = state(ctx)
    cfg = s.settings.partitions
    chosen_interval = cfg.interval if interval is None else interval
    chosen_premake = cfg.premake if premake is None else premake
    if dry_run:
        from python_ops.partitions.maintenance import check_retention_mode
        from python_ops.partitions.ranges import check_interval, require_range_table

        check_interval(chosen_interval)
        check_retention_mode(retention_mode)
        with s.engines.connect(autocommit=True) as conn:
            require_range_table(conn, table)
        out.print(
            escape(
                f"would manage {table}: {chosen_interval}, premake {chosen_premake}, "
                f"retention {retention or 'keep all'} ({retention_mode}); nothing written"
            )
        )
        return
    managed = partitions.manage(
        s.engines,
        table,
        interval=chosen_interval,
        premake=chosen_premake,
        retention=retention,
        retention_mode=retention_mode,
        wait=wait,
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
    wait: bool = WAIT,
) -> None:
    """Stop managing a table; its partitions stay exactly as they are."""
    from python_ops import partitions

    s = state(ctx)
    current = partitions.unmanage(s.engines, table, dry_run=dry_run, wait=wait)
    verb = "would stop" if dry_run else "stopped"
    if s.json:
        print_json({"table": current.parent_table, "unmanaged": not dry_run})
        return
    out.print(escape(f"{verb} managing {current.parent_table}; its partitions are left as they are"))


@app.command(epilog="Example: migrata partitions maintain --dry-run && migrata partitions maintain --yes")
def maintain(
    ctx: typer.Context,
    tables: list[str] = typer.Argument(None, help="Managed tables (default: all)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the statements the run would execute; change nothing."
    ),
    yes: bool = typer.Option(
        False, "--yes", help="Confirm that retention in drop mode drops partitions (irreversible)."
    ),
    wait: bool = WAIT,
) -> None:
    """Create partitions ahead and retire those past retention, on every managed table."""
    from python_ops import partitions

    s = state(ctx)
    allow_drop = yes or dry_run
    if not allow_drop:
        preview = partitions.maintain(s.engines, tables or None, dry_run=True)
        drops: list[str] = preview.plan.details.get("drops", [])
        if drops:
            shown = ", ".join(drops[:5]) + (", …" if len(drops) > 5 else "")
            confirm_irreversible(f"retention drops {len(drops)} partitions ({shown})", yes=False)
            allow_drop = True
    with progress(s.quiet) as on_progress:
        report = partitions.maintain(
            s.engines,
            tables or None,
            dry_run=dry_run,
            lock_timeout_ms=s.settings.partitions.lock_timeout_ms,
            allow_drop=allow_drop,
            wait=wait,
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
    health = partitions.table_health(s.engines, tables or None)
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
