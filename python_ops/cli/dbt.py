"""Own `migrata dbt …`: the dbt CLI on migrata's own dbt project, with migrata's settings.

The project ships inside the package, so `dbt` alone would not find it from an arbitrary directory;
this verb passes the project and profiles directories, the target's artifact directory under
MIGRATA_HOME and the connection settings derived from MIGRATA_*, then dbt's own arguments as given.
"""

from __future__ import annotations

import typer

from python_ops.cli.context import state

app = typer.Typer(help="Run dbt on migrata's dbt project (lineage on Postgres, archive on ClickHouse).")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    epilog="Example: migrata dbt build --target clickhouse",
)
def dbt(ctx: typer.Context) -> None:
    """Run `dbt ARGS…` in migrata's dbt project; exit with dbt's exit code."""
    import os
    import subprocess

    from python_ops.dbt_project import artifacts_dir, dbt_command, dbt_env

    settings = state(ctx).settings
    args = list(ctx.args) or ["--help"]
    artifacts_dir(settings).mkdir(parents=True, exist_ok=True)
    code = subprocess.run(
        dbt_command(args, settings), env=os.environ | dbt_env(settings), check=False
    ).returncode
    raise typer.Exit(code)
