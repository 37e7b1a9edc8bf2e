"""Own `migrata migrate …`: schema migrations, one Alembic tree per component."""

from __future__ import annotations

import typer

from python_ops import migrations
from python_ops.cli.app import state
from python_ops.cli.output import out, print_json, print_table
from python_ops.engines.control import postgres_dsn

app = typer.Typer(help="Versioned schema migrations, one Alembic tree per component.", no_args_is_help=True)


@app.command(epilog="Example: migrata migrate upgrade lineage")
def upgrade(
    ctx: typer.Context, target: str = typer.Argument("heads", help="heads, COMPONENT or COMPONENT@REV")
) -> None:
    """Upgrade components to TARGET (default: every component's head)."""
    dsn = postgres_dsn(state(ctx).settings)
    migrations.migrate(dsn, target)
    status(ctx)


@app.command(epilog="Example: migrata migrate status")
def status(ctx: typer.Context) -> None:
    """Show each component's current revision."""
    current = migrations.current(postgres_dsn(state(ctx).settings))
    if state(ctx).json:
        print_json(current)
        return
    print_table("migrations", ["component", "current"], [[k, v or "-"] for k, v in current.items()])
    out.print(f"{sum(v is not None for v in current.values())}/{len(current)} components installed")
