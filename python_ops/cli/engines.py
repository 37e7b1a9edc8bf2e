"""Own `migrata engines up | down | status`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from python_ops.cli.context import state
from python_ops.cli.output import out, print_json, print_table

if TYPE_CHECKING:
    from python_ops.engines.control import EnginesStatus

app = typer.Typer(
    help="Start, stop and describe the embedded engines (Postgres server, chDB).", no_args_is_help=True
)


def _show(ctx: typer.Context, status: EnginesStatus) -> None:
    data = status.as_dict()
    if state(ctx).json:
        print_json(data)
        return
    pg, ch = data["postgres"], data["clickhouse"]
    assert isinstance(pg, dict) and isinstance(ch, dict)
    running = {True: "running", False: "stopped", None: "external"}[pg["running"]]
    print_table(
        "engines",
        ["engine", "mode", "state", "where", "detail"],
        [
            [
                "postgres",
                pg["mode"],
                running,
                pg["target"],
                f"pid {pg['pid']}, data {pg['data_dir']}, PostgreSQL {pg['version']}"
                if pg["pid"]
                else pg["data_dir"],
            ],
            [
                "clickhouse",
                ch["mode"],
                "in-process" if ch["mode"].startswith("chdb") else "external",
                ch["target"],
                "",
            ],
        ],
    )


@app.command(epilog="Example: migrata engines up")
def up(ctx: typer.Context) -> None:
    """Start the embedded Postgres (idempotent) and prepare ClickHouse; they stay up until `engines down`."""
    from python_ops.engines import control

    _show(ctx, control.up(state(ctx).settings))


@app.command(epilog="Example: migrata engines down")
def down(ctx: typer.Context) -> None:
    """Stop the embedded Postgres if it runs (idempotent)."""
    from python_ops.engines import control

    was_running = control.down(state(ctx).settings)
    out.print("postgres stopped" if was_running else "postgres was not running")


@app.command(epilog="Example: migrata --json engines status")
def status(ctx: typer.Context) -> None:
    """Say where each engine is and whether it is running."""
    from python_ops.engines import control

    _show(ctx, control.status(state(ctx).settings))
