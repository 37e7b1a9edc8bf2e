"""Own the root `migrata` app: global options, settings loading and the single error handler."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from python_ops import __version__
from python_ops.cli.output import err
from python_ops.errors import MigrataError
from python_ops.settings import MigrataSettings, load_settings


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
            err.print(f"[red]error:[/red] {escape(exc.message)}")
            if exc.hint:
                err.print(f"[dim]hint: {escape(exc.hint)}[/dim]")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("[red]interrupted[/red]")
            raise typer.Exit(130) from None
        except Exception as exc:
            if _debug(ctx):
                raise
            err.print(f"[red]error:[/red] {escape(type(exc).__name__)}: {escape(first_line(exc))}")
            err.print("[dim]hint: run again with --debug for the traceback[/dim]")
            raise typer.Exit(1) from None


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


@dataclass
class AppState:
    """What every command gets from the root callback."""

    settings: MigrataSettings
    json: bool
    quiet: bool
    debug: bool


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
    """Load settings once; every command reads them from the context."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr)
    overrides = {"home": home} if home else {}
    ctx.obj = AppState(load_settings(**overrides), json_output, quiet, debug)


def state(ctx: typer.Context) -> AppState:
    obj = ctx.find_root().obj
    assert isinstance(obj, AppState)
    return obj


def _register() -> None:
    from python_ops.cli import demo, engines, migrate

    app.add_typer(engines.app, name="engines")
    app.add_typer(migrate.app, name="migrate")
    from python_ops.cli import lineage

    app.add_typer(lineage.app, name="lineage")
    from python_ops.cli import parquet

    app.add_typer(parquet.app, name="parquet")
    from python_ops.cli import archive

    app.add_typer(archive.app, name="archive")
    from python_ops.cli import backups, partitions, repartition

    app.add_typer(partitions.app, name="partitions")
    app.add_typer(repartition.app, name="repartition")
    app.add_typer(backups.app, name="backups")
    app.command(epilog="Example: migrata demo")(demo.demo)


_register()


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def main() -> None:
    """Entry point of the `migrata` console script."""
    app()
