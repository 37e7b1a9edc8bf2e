"""The dbt-clickhouse models build the same tables as the archive run, stay green, and keep the
Postgres password out of SQL, logs, reports and dbt's manifest."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from python_ops import archive
from python_ops.dbt_project import run_dbt
from python_ops.engines import control
from python_ops.settings import MigrataSettings
from tests.python_ops.archive.conftest import NOW, TABLES

PASSWORD = "Arch1ve-S3cret-pw"


def _shape(settings: MigrataSettings) -> dict[str, tuple[object, ...]]:
    with control.clickhouse(settings) as ch:
        out = {}
        for table in TABLES:
            cols = ch.query(
                "SELECT name, type FROM system.columns "
                "WHERE database = currentDatabase() AND table = {t:String} "
                "ORDER BY position",
                parameters={"t": table},
            ).result_rows
            keys = ch.query(
                "SELECT engine, partition_key, sorting_key FROM system.tables "
                "WHERE database = currentDatabase() AND name = {t:String}",
                parameters={"t": table},
            ).result_rows
            out[table] = (tuple(cols), tuple(keys))
        return out


def test_dbt_models_match_the_run_and_hide_the_password(
    settings: MigrataSettings,
    conn: psycopg.Connection,
    seeded: dict[str, set[str]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = conn.info.dbname
    conn.execute(sql.SQL("CREATE ROLE archiver LOGIN PASSWORD {}").format(sql.Literal(PASSWORD)))
    conn.execute(sql.SQL("GRANT ALL ON DATABASE {} TO archiver").format(sql.Identifier(db)))
    conn.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO archiver")
    try:
        dsn = f"postgresql://archiver:{PASSWORD}@127.0.0.1:{conn.info.port}/{db}"
        by_run = settings.model_copy(update={"postgres": settings.postgres.model_copy(update={"dsn": dsn})})
        control.configure_clickhouse(by_run)
        caplog.set_level(logging.DEBUG)
        dry = archive.run(by_run, dry_run=True, now=NOW)
        reports = archive.run(by_run, now=NOW)
        assert all(r.ok for r in reports)
        texts = [json.dumps([r.as_dict() for r in dry + reports]), caplog.text, *(r.plan.sql() for r in dry)]
        assert not [t for t in texts if PASSWORD in t]

        # dbt builds the same tables in a fresh ClickHouse database from the watermarks the run set
        by_dbt = by_run.model_copy(
            update={
                "clickhouse": by_run.clickhouse.model_copy(
                    update={"database": settings.clickhouse.database + "_dbt"}
                )
            }
        )
        args = [
            "--target",
            "clickhouse",
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ]
        built = run_dbt(["build", *args], by_dbt, capture=True)
        assert "Completed successfully" in built.stdout
        assert _shape(by_dbt) == _shape(by_run)
        with control.clickhouse(by_dbt) as ch:
            in_grace = ch.command("SELECT count() FROM lifecycle_audit_log FINAL")
            view = ch.command("SELECT count() FROM migrated_data")
        left = conn.execute(
            "SELECT count(*) FROM lifecycle_audit_log l "
            "JOIN migration_watermarks w ON w.dataset_id = l.dataset_id "
            "AND w.table_name = 'lifecycle_audit_log' WHERE l.created_at <= w.watermark_timestamp"
        ).fetchone()[0]  # type: ignore[index]
        assert in_grace == left > 0 and view > in_grace

        leaked = [
            str(p) for p in tmp_path.rglob("*") if p.is_file() and PASSWORD in p.read_text(errors="ignore")
        ]
        assert not leaked and PASSWORD not in built.stdout
        assert (tmp_path / "target" / "manifest.json").exists()
    finally:
        control.configure_clickhouse(settings)
        with control.clickhouse(settings) as ch:
            ch.command(f"DROP DATABASE IF EXISTS `{settings.clickhouse.database}_dbt`")
        conn.execute("DROP OWNED BY archiver")
        conn.execute("DROP ROLE archiver")
