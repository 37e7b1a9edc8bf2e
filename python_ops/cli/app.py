"""Own the root `migrata` app: global options, settings loading and the single error handler."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.markup import escape

from python_ops import __version__
from python_ops.cli.output import err
from python_ops.errors import MigrataError
from python_ops.settings import MigrataSettings, load_settings

app = typer.Typer(
    name="migrata",
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
    app.command(epilog="Example: migrata demo")(demo.demo)


_register()


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def main() -> None:
    """Run the CLI; print one red line plus a hint for a `MigrataError`, with its exit code."""
    debug = "--debug" in sys.argv
    try:
        app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except MigrataError as exc:
        if debug:
            raise
        err.print(f"[red]error:[/red] {escape(exc.message)}")
        if exc.hint:
            err.print(f"[dim]hint: {escape(exc.hint)}[/dim]")
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("[red]aborted[/red]")
        sys.exit(130)
    except Exception as exc:  # click's usage errors carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if debug:
            raise
        err.print(f"[red]error:[/red] {escape(type(exc).__name__)}: {escape(first_line(exc))}")
        err.print("[dim]hint: run again with --debug for the traceback[/dim]")
        sys.exit(1)
