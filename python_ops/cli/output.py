"""Own what the CLI prints: progress on stderr, results on stdout (Rich table or JSON), exit codes.

Exit codes: 0 ok, 1 a step or check failed, 2 usage or precondition error.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from python_ops.errors import PreconditionError

if TYPE_CHECKING:
    from python_ops.runner import ProgressCallback, Report


# Off a terminal Rich would wrap at 80 columns; results and messages read better unwrapped.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=not sys.stderr.isatty())


class _StderrLogger:
    def info(self, message: str) -> None:
        err.print(escape(message))


@contextlib.contextmanager
def progress(quiet: bool = False) -> Iterator[ProgressCallback]:
    """Yield a progress callback: a transient Rich bar on a TTY, periodic lines off one, none if quiet."""
    from python_ops.runner import LogProgress
    from python_ops.runner import Progress as ProgressEvent

    if quiet:
        yield lambda _event: None
        return
    if not err.is_terminal:
        yield LogProgress(_StderrLogger(), every_s=5.0)
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[pace]}"),  # rate and ETA when the runner knows them
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(event: ProgressEvent) -> None:
            key = event.operation
            if key not in tasks:
                tasks[key] = bar.add_task(escape(key), total=event.total or None, pace="")
            bar.update(
                tasks[key],
                completed=event.done,
                total=event.total or None,
                description=escape(f"{key} {event.phase}"),
                pace=escape(event.pace() or event.message if event.phase == "run" else ""),
            )

        yield update


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=escape(title), title_justify="left")
    for column in columns:
        table.add_column(escape(column))
    for row in rows:
        table.add_row(*(escape("" if v is None else str(v)) for v in row))
    out.print(table)


def print_report(report: Report, *, as_json: bool = False, show_sql: bool = False) -> None:
    """Print a runner report and exit 1 if it failed."""
    if as_json:
        print_json(report.as_dict())
    else:
        if show_sql and report.status == "dry-run":
            sql = report.plan.sql()
            if sql:
                sys.stdout.write(sql + "\n")
        if report.checks:
            print_table(
                f"{report.operation} checks",
                ["check", "ok", "expected", "actual", "detail"],
                [[c.name, "yes" if c.ok else "NO", c.expected, c.actual, c.detail] for c in report.checks],
            )
        out.print(escape(report.summary()))
    if not report.ok:
        raise typer.Exit(1)


def confirm_irreversible(what: str, *, yes: bool) -> None:
    """Let an irreversible verb go on: with `--yes`, or when a user at a terminal says yes.

    Off a terminal (scripts, CI) there is no one to ask: without `--yes` the verb stops (exit 2)
    before it changes anything.
    """
    if yes:
        return
    if sys.stdin.isatty() and err.is_terminal:
        if typer.confirm(f"{what}; this cannot be undone. Go on?", default=False, err=True):
            return
        raise PreconditionError(f"not confirmed: {what}", hint="nothing was changed")
    raise PreconditionError(f"{what} cannot be undone", hint="pass --yes to confirm")
