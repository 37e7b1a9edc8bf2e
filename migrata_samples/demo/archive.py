"""Own the archive part of the demo: aged audit data in, Dagster archives it, the status comes out."""

from __future__ import annotations

import time

from migrata_samples import archive_rows as sample
from migrata_samples.demo.section import Section
from python_ops.archive.status import status
from python_ops.engines.context import Engines
from python_ops.settings import MigrataSettings

DEMO_ROWS = 20_000  # per table, over 30 days: about three quarters are older than the 7-day max age


def prepare(settings: MigrataSettings) -> None:
    """Add a fresh batch of aged audit rows and job runs (unique ids, so a second demo adds more)."""
    with Engines.from_settings(settings).connect(autocommit=True) as conn:
        sample.generate(conn, rows=DEMO_ROWS, days=30, datasets=2, tag=f"demo{int(time.time())}")


def report(settings: MigrataSettings) -> Section:
    result = status(Engines.from_settings(settings), settings.archive)
    copies = next(m for m in result.metrics if m.operation == "postgres_migration")
    cleanups = next(m for m in result.metrics if m.operation == "postgres_migration_cleanup")
    return Section(
        "archive (Postgres → ClickHouse)",
        ["dataset", "table", "watermark", "lag h", "pending", "in grace", "pending cleanup", "archived"],
        [
            [
                t.dataset_slug,
                t.table,
                (t.watermark or "-")[:19],
                t.lag_hours,
                t.pending_archive,
                t.in_grace_period,
                t.pending_cleanup,
                t.archived,
            ]
            for t in result.tables
        ],
        f"{copies.runs} verified copies ({copies.rows} rows, {copies.bytes} bytes, "
        f"{copies.partitions} partitions), "
        f"{cleanups.rows} rows cleaned up from Postgres in {cleanups.runs} runs",
    )
