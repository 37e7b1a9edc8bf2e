"""The archive's dbt side: the models alone build the ClickHouse tables, dbt runs only when a table or
its compiled SQL is missing, a table that drifted from its model is refused, `dbt build` sweeps late
rows into the tables the run fills, the gate is the dbt test, and the Postgres password stays out of
SQL, logs, reports, dbt's artifacts and the cache."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from python_ops.archive import archive_models
from python_ops.archive.apply import specs
from python_ops.archive.compiled import ArchiveModels
from python_ops.dbt_project import artifacts_dir, run_dbt
from python_ops.engines import control
from python_ops.engines.context import Engines
from python_ops.errors import PreconditionError
from python_ops.settings import MigrataSettings
from tests.python_ops.archive.conftest import NOW, TABLES, ch_ids, run

PASSWORD = "Arch1ve-S3cret-pw"
ARCHIVE = Path(__file__).resolve().parents[3] / "python_ops" / "archive"


def test_no_python_defines_an_archived_table() -> None:
    # the only CREATE in the package is the push transport's session-scoped staging table
    for path in ARCHIVE.glob("*.py"):
        text = path.read_text()
        assert not re.search(r"CREATE\s+(OR\s+REPLACE\s+)?(TABLE|VIEW)", text, re.I), path


class CountingDbt:
    """migrata's dbt runner, counting its invocations."""

    def __init__(self, settings: MigrataSettings) -> None:
        self.settings, self.calls = settings, []

    def __call__(self, args: list[str]):  # type: ignore[no-untyped-def]
        self.calls.append(args[0])
        return run_dbt(args, self.settings, capture=True)


def test_dbt_runs_only_for_a_missing_table_or_compiled_model(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]]
) -> None:
    engines = Engines.from_settings(settings)
    dbt = CountingDbt(settings)
    models = ArchiveModels(dbt, artifacts_dir(settings) / "archive_sql_test")
    all_specs = specs(conn, settings.archive)
    for cache in models.cache_dir.glob("*.json"):
        cache.unlink()

    prepared = models.prepare(engines, all_specs)  # a fresh store: dbt builds the tables and the view
    assert dbt.calls == ["run"] and len(prepared.steps) == 1
    with control.clickhouse(settings) as ch:
        built = {
            r[0]
            for r in ch.query("SELECT name FROM system.tables WHERE database = currentDatabase()").result_rows
        }
    assert {*TABLES, "migrated_data"} <= built
    assert len(list(models.cache_dir.glob("*.json"))) == len(TABLES)

    again = models.prepare(engines, all_specs)  # everything there: no dbt at all
    assert dbt.calls == ["run"] and again.steps == [] and again.tables == prepared.tables
    compiled = again.tables["lifecycle_audit_log"]
    insert = compiled.insert("`staged`", "ds-9-slug")
    assert insert.startswith(
        "INSERT INTO `lifecycle_audit_log` (`id`, `dataset_id`,"
    ) and "FROM `staged`" in insert.replace("from", "FROM")
    assert "'ds-9-slug'" in insert and "null(" not in insert

    with control.clickhouse(settings) as ch:
        ch.command("DROP TABLE lifecycle_job_runs")
    models.prepare(engines, all_specs)  # dbt builds the missing table again
    assert dbt.calls == ["run", "run"]

    fresh = ArchiveModels(dbt, artifacts_dir(settings) / "archive_sql_test_2")
    fresh.prepare(engines, all_specs)  # tables there, no compiled SQL: dbt compiles, builds nothing
    assert dbt.calls == ["run", "run", "compile"]

    with control.clickhouse(settings) as ch:
        ch.command("ALTER TABLE lifecycle_job_runs DROP COLUMN error")
    with pytest.raises(PreconditionError, match="lifecycle_job_runs has no column error") as drift:
        models.prepare(engines, all_specs)
    assert "ALTER TABLE `lifecycle_job_runs` ADD COLUMN `error` Nullable(String)" in (drift.value.hint or "")


def test_dbt_build_sweeps_late_rows_the_gate_guards_and_the_password_stays_hidden(
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
        dry = run(by_run, dry_run=True, now=NOW, cleanup=True)
        reports = run(by_run, now=NOW, cleanup=True)
        assert all(r.ok for r in reports)
        models, engines = archive_models(by_run), Engines.from_settings(by_run)

        def gate(tables: list[str] | None = None) -> tuple[bool, str]:
            return models.gate(engines, tables)

        assert gate() == (True, "every row in Postgres at or below its watermark is archived")

        table = "lifecycle_audit_log"  # a late row at or below the watermark, not archived yet
        conn.execute(
            "INSERT INTO lifecycle_audit_log (id, dataset_id, event_type, created_at) "
            "VALUES ('late-1', 'ds-1', 'compaction', %s)",
            (NOW - timedelta(days=10),),
        )
        passed, detail = gate([table])
        assert not passed and detail.startswith("1 rows")
        assert gate(["lifecycle_job_runs"])[0]  # the gate of another table is unaffected

        args = [
            "--target",
            "clickhouse",
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ]
        built = run_dbt(["build", *args], by_run, capture=True)  # the models' incremental sweep
        assert "Completed successfully" in built.stdout
        assert "late-1" in ch_ids(by_run, table) and gate() == (True, gate()[1])

        texts = [json.dumps([r.as_dict() for r in dry + reports]), caplog.text, built.stdout]
        texts += [r.plan.sql() for r in dry]
        files = [*tmp_path.rglob("*"), *artifacts_dir(by_run).rglob("*")]
        texts += [
            p.read_text(errors="ignore") for p in files if p.is_file() and p.stat().st_size < 50_000_000
        ]
        assert not [t[:200] for t in texts if PASSWORD in t]
        assert (tmp_path / "target" / "manifest.json").exists()
    finally:
        control.configure_clickhouse(settings)
        conn.execute("DROP OWNED BY archiver")
        conn.execute("DROP ROLE archiver")
