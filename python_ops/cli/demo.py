"""Own `migrata demo`."""

from __future__ import annotations

import typer
from rich.markup import escape

from python_ops import demo as demo_ops
from python_ops.cli.app import state
from python_ops.cli.output import err, out, print_json, print_table


def demo(ctx: typer.Context) -> None:
    """Start the engines, apply migrations, materialize everything through Dagster, print a report."""
    app_state = state(ctx)
    sections = demo_ops.run(
        app_state.settings, say=lambda m: None if app_state.quiet else err.print(escape(m))
    )
    if app_state.json:
        print_json([s.__dict__ for s in sections])
        return
    for section in sections:
        print_table(section.title, section.columns, section.rows)
        if section.summary:
            out.print(escape(section.summary))
        out.print()
    out.print("demo finished; engines stopped (run `migrata engines up` to keep them running)")
