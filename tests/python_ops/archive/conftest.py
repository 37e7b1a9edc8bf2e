"""Fixtures of the archive tests: a small aged timestore dataset, the invariants every run keeps, and the
verbs called as the CLI calls them (engines, the archive settings, the tables' dbt models)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from migrata_samples import archive_rows as sample
from python_ops import archive
from python_ops.archive.status import ArchiveStatus
from python_ops.engines import control
from python_ops.engines.context import Engines
from python_ops.runner import Report
from python_ops.settings import MigrataSettings

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TABLES = ("dataset_access_audit", "lifecycle_audit_log", "lifecycle_job_runs")
CUTOFF = NOW - timedelta(hours=168)
ROWS = 1500  # per table, over 30 days: ~1150 older than the 7-day max age


def with_archive(settings: MigrataSettings, **values: object) -> MigrataSettings:
    """`settings` with some archive settings changed."""
    return settings.model_copy(update={"archive": settings.archive.model_copy(update=values)})


def run(settings: MigrataSettings, **kwargs: Any) -> list[Report]:
    """`archive.run` as the CLI calls it for these settings."""
    models = archive.archive_models(settings)
    return archive.run(Engines.from_settings(settings), settings.archive, models=models, **kwargs)


def cleanup(settings: MigrataSettings, **kwargs: Any) -> list[Report]:
    return archive.run_cleanup(Engines.from_settings(settings), settings.archive, **kwargs)


def restore(settings: MigrataSettings, **kwargs: Any) -> list[Report]:
    return archive.restore(Engines.from_settings(settings), settings.archive, **kwargs)


def status(settings: MigrataSettings, **kwargs: Any) -> ArchiveStatus:
    return archive.status(Engines.from_settings(settings), settings.archive, **kwargs)


@pytest.fixture
def seeded(conn: psycopg.Connection) -> dict[str, set[str]]:
    """Two datasets with ROWS rows per table; returns every generated id per table."""
    sample.generate(conn, rows=ROWS, days=30, datasets=2, now=NOW)
    return all_ids(conn)


def all_ids(conn: psycopg.Connection) -> dict[str, set[str]]:
    return {t: {r[0] for r in conn.execute(f"SELECT id FROM {t}").fetchall()} for t in TABLES}


def ch_ids(settings: MigrataSettings, table: str) -> set[str]:
    with control.clickhouse(settings) as ch:
        if not ch.command(f"EXISTS TABLE {table}"):
            return set()
        return {r[0] for r in ch.query(f"SELECT id FROM {table} FINAL").result_rows}


def assert_consistent(
    conn: psycopg.Connection,
    settings: MigrataSettings,
    expected: dict[str, set[str]],
    *,
    settled: bool = True,
    cutoff: datetime = CUTOFF,
) -> None:
    """No row lost from Postgres + ClickHouse, no duplicate visible, no watermark past the cutoff.

    `settled`: a run finished without faults, so everything aged is archived and Postgres holds no
    archived row below watermark - grace.
    """
    with control.clickhouse(settings) as ch:
        for table in TABLES:
            pg = {r[0] for r in conn.execute(f"SELECT id FROM {table}").fetchall()}
            exists = ch.command(f"EXISTS TABLE {table}")
            archived: set[str] = set()
            if exists:
                rows = ch.query(f"SELECT id FROM {table} FINAL").result_rows
                archived = {r[0] for r in rows}
                assert len(rows) == len(archived), f"duplicate visible in {table}"
            assert expected[table] <= pg | archived, f"rows lost from {table}"
            wms = conn.execute(
                "SELECT dataset_id, watermark_timestamp FROM migration_watermarks WHERE table_name = %s",
                (table,),
            ).fetchall()
            for dataset_id, wm in wms:
                assert wm <= cutoff, f"watermark past the cutoff for {dataset_id}/{table}"
                below = {
                    r[0]
                    for r in conn.execute(
                        f"SELECT id FROM {table} WHERE dataset_id = %s AND "
                        f"{'accessed_at' if table == 'dataset_access_audit' else 'created_at'} <= %s",
                        (dataset_id, wm),
                    ).fetchall()
                }
                if settled:
                    assert below <= archived, f"rows at or below the watermark not archived in {table}"
        if settled and ch.command("EXISTS TABLE migrated_data"):
            total = ch.command("SELECT count() FROM migrated_data")
            distinct = ch.command("SELECT uniqExact(__source_table, id) FROM migrated_data")
            assert total == distinct
