"""Own the migrations part of the demo: the `migrata migrate status` table (the demo already migrated)."""

from __future__ import annotations

from migrata_samples.demo.section import Section
from python_ops.engines.control import postgres_dsn
from python_ops.migrations.status_report import status
from python_ops.settings import MigrataSettings


def prepare(settings: MigrataSettings) -> None:
    """Nothing to seed: the demo has migrated every component to head before this runs."""


def report(settings: MigrataSettings) -> Section:
    """Each component's current revision, head and pending count, as `migrata migrate status` prints it."""
    result = status(postgres_dsn(settings))
    rows: list[list[object]] = [
        [c.component, c.current or "-", c.head or "-", c.pending, c.state] for c in result.components
    ]
    for d in result.data_migrations:
        rows.append(
            [f"data: {d['name']}", d["revision"], d["status"], d["estimated"], f"{d['rows_done']} rows done"]
        )
    return Section(
        "migrations (`migrata migrate status`)",
        ["component", "current", "head", "pending", "state"],
        rows,
        result.summary(),
    )
