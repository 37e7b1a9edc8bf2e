"""Own the root `migrata` app: global options, settings loading and the single error handler."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from python_ops import __version__
from python_ops.cli import archive, backups, dbt, engines, lineage, migrate, parquet, partitions, repartition
from python_ops.cli.context import AppState
from python_ops.cli.output import err
from python_ops.errors import MigrataError


class MigrataGroup(TyperGroup):
    """The root group; its `invoke` is the CLI's single error handler.

    A `MigrataError` becomes one red line plus a hint and the error's exit code (1 failure,
    2 usage/precondition); anything unexpected becomes one line and exit 1 (`--debug` shows the traceback).
    """

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # usage errors keep click's own message
            raise
        except MigrataError as exc:
            if _debug(ctx):
                raise
            _print_error(exc)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("[red]interrupted[/red]")
            raise typer.Exit(130) from None
        except Exception as exc:
            if _debug(ctx):
                raise
            # a statement cancelled outside the runner (which names its operation): name the command.
            # Imported here: psycopg stays out of the start-up of commands that never load it.
            from python_ops.db import cancelled

            words = [a for a in sys.argv[1:] if not a.startswith("-")][:2]
            known = cancelled(exc, " ".join(["migrata", *words]))
            if known is not None:
                _print_error(known)
                raise typer.Exit(known.exit_code) from None
            err.print(f"[red]error:[/red] {escape(type(exc).__name__)}: {escape(first_line(exc))}")
            err.print("[dim]hint: run again with --debug for the traceback[/dim]")
            raise typer.Exit(1) from None


def _print_error(exc: MigrataError) -> None:
    err.print(f"[red]error:[/red] {escape(exc.message)}")
    if exc.hint:
        err.print(f"[dim]hint: {escape(exc.hint)}[/dim]")


def _debug(ctx: typer.Context) -> bool:
    return (isinstance(ctx.obj, AppState) and ctx.obj.debug) or "--debug" in sys.argv


app = typer.Typer(
    name="migrata",
    cls=MigrataGroup,
    help="Migrate and maintain a Postgres-backed metadata store safely: lineage, archive, parquet repair, "
    "partitions, migrations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"migrata {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    json_output: bool = typer.Option(False, "--json", help="Print results as JSON on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    home: Path | None = typer.Option(
        None, "--home", help="Data directory of the embedded engines (MIGRATA_HOME)."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """The global flags; settings load on a command's first use of them (never for `--help`)."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr)
    ctx.obj = AppState(json_output, quiet, debug, home)


# Sub-apps import only typer, rich and the CLI's own modules at the top: a capability is imported
# by the command that uses it, so `--help` and light verbs start fast.
app.add_typer(engines.app, name="engines")
app.add_typer(migrate.app, name="migrate")
app.add_typer(lineage.app, name="lineage")
app.add_typer(archive.app, name="archive")
app.add_typer(parquet.app, name="parquet")
app.add_typer(partitions.app, name="partitions")
app.add_typer(repartition.app, name="repartition")
app.add_typer(backups.app, name="backups")
app.registered_commands += dbt.app.registered_commands  # `migrata dbt ARGS…`: dbt's own arguments


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def main() -> None:
    """Entry point of the `migrata` console script."""
    app()
