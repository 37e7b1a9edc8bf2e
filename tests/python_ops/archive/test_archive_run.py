"""One archive run end to end on the real engines, both transports; cleanup only when asked; the dry run
is the SQL the run executes; late rows; status; adding a table with one settings entry; restore."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from migrata_samples import archive_rows as sample
from python_ops.archive import archive_models, state
from python_ops.archive.apply import specs
from python_ops.archive.copy import ArchiveCopy, reads_whole_table
from python_ops.archive.transport import pull
from python_ops.dbt_project import run_dbt
from python_ops.engines import control
from python_ops.engines.context import Engines
from python_ops.runner import execute
from python_ops.settings import ArchiveSettings, ArchiveTable, MigrataSettings
from tests.python_ops.archive.conftest import (
    CUTOFF,
    NOW,
    TABLES,
    assert_consistent,
    ch_ids,
    cleanup,
    restore,
    run,
    status,
    with_archive,
)


def _time(table: str) -> str:
    return "accessed_at" if table == "dataset_access_audit" else "created_at"


def _counts(conn: psycopg.Connection) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # type: ignore[index]


@pytest.mark.parametrize("transport", ["pull", "push"])
def test_run_archives_and_verifies_and_deletes_only_when_asked(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]], transport: str
) -> None:
    cfg = with_archive(settings, transport=transport)
    aged = {
        t: {r[0] for r in conn.execute(f"SELECT id FROM {t} WHERE {_time(t)} <= %s", (CUTOFF,)).fetchall()}
        for t in TABLES
    }
    before = _counts(conn)
    reports = run(cfg, now=NOW)

    assert all(r.ok for r in reports), [r.summary() for r in reports]
    assert {r.operation.split(":")[0] for r in reports} == {"archive_copy"}  # no cleanup unless asked
    assert all(len(r.checks) == 3 and all(c.ok for c in r.checks) for r in reports) and len(reports) == 6
    assert {r.units_done for r in reports} == {r.plan.total for r in reports}
    events = conn.execute(
        "SELECT payload FROM lifecycle_audit_log WHERE event_type = 'postgres_migration'"
    ).fetchall()
    assert _counts(conn) == {t: n + (6 if t == "lifecycle_audit_log" else 0) for t, n in before.items()}
    for table in TABLES:
        assert ch_ids(cfg, table) == aged[table]  # exactly the aged rows, each once
        wm = {r[0] for r in conn.execute("SELECT watermark_timestamp FROM migration_watermarks "
                                         "WHERE table_name = %s", (table,)).fetchall()}  # fmt: skip
        assert wm == {CUTOFF}
    assert len(events) == 6
    assert {"table", "recordsMigrated", "bytes", "watermark"} <= set(events[0][0])
    assert sum(e[0]["recordsMigrated"] for e in events) == sum(len(v) for v in aged.values())
    with control.clickhouse(cfg) as ch:
        by_table = dict(ch.query("SELECT __source_table, count() FROM migrated_data GROUP BY 1").result_rows)
        assert by_table == {t: len(aged[t]) for t in TABLES}
        key = ch.query("SELECT __partition_key, __dataset_slug FROM migrated_data LIMIT 1").result_rows[0]
        assert key[0].startswith(key[1] + "/2026")

    again = run(cfg, now=NOW, cleanup=True)  # nothing new to copy; cleanup asked for this time
    copies = [r for r in again if r.operation.startswith("archive_copy")]
    deletes = [r for r in again if r.operation.startswith("archive_cleanup")]
    assert {r.status for r in copies} == {"nothing-to-do"} and all(c.ok for r in copies for c in r.checks)
    assert len(deletes) == 6 and all(r.ok for r in deletes) and sum(r.units_done for r in deletes) > 0
    for table in TABLES:  # nothing left older than watermark - 24 h; the grace window stays in Postgres
        left = conn.execute(f"SELECT min({_time(table)}) FROM {table}").fetchone()[0]  # type: ignore[index]
        assert left >= CUTOFF - timedelta(hours=24)
        in_grace = conn.execute(
            f"SELECT count(*) FROM {table} WHERE {_time(table)} <= %s", (CUTOFF,)
        ).fetchone()[0]  # type: ignore[index]
        assert in_grace > 0
    assert_consistent(conn, cfg, seeded)


def test_cleanup_after_run_is_a_setting(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]]
) -> None:
    table = "lifecycle_job_runs"
    before = _counts(conn)[table]
    reports = run(with_archive(settings, cleanup_after_run=True), table=table, now=NOW)
    deleted = sum(r.units_done for r in reports if r.operation.startswith("archive_cleanup"))
    assert all(r.ok for r in reports) and deleted > 0
    assert _counts(conn)[table] == before - deleted
    assert_consistent(conn, settings, seeded)


class Recording:
    """The real ClickHouse client, noting each statement it runs (to compare with what a dry run printed)."""

    def __init__(self, client: Any) -> None:
        self._client, self.statements = client, []

    def command(self, cmd: str, *args: Any, **kwargs: Any) -> Any:
        self.statements.append(cmd)
        return self._client.command(cmd, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.mark.parametrize("transport", ["pull", "push"])
def test_dry_run_prints_exactly_the_sql_the_run_executes(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]], transport: str
) -> None:
    table = "lifecycle_audit_log"
    cfg = with_archive(settings, transport=transport, copy_batch_rows=200)
    engines = Engines.from_settings(cfg)
    prepared = archive_models(cfg).prepare(engines, specs(conn, cfg.archive))
    (spec,) = specs(conn, cfg.archive, table)
    (dataset,) = state.datasets(conn, "ds-1")
    with engines.clickhouse() as ch:
        recording = Recording(ch)

        def copy(client: Any) -> ArchiveCopy:
            return ArchiveCopy(ch=client, spec=spec, compiled=prepared.tables[table], dataset=dataset,
                               config=cfg.archive, collection=engines.pg_collection, now=NOW)  # fmt: skip

        dry = execute(copy(ch), conn, dry_run=True)
        report = execute(copy(recording), conn)
    assert dry.status == "dry-run" and report.ok and report.batches > 2
    slices = [s.sql for s in dry.plan.steps if s.description.startswith("copy slice")]
    assert len(slices) == report.batches
    inserts = [s for s in recording.statements if s.startswith("INSERT INTO")]
    if transport == "pull":
        assert inserts == slices  # each slice's INSERT, to the letter
    else:  # the staging table, then per slice the model's INSERT over it and a reset: all printed
        assert len(set(inserts)) == 1 and all(inserts[0] in s for s in slices)
        assert {s for s in recording.statements if s.startswith(("CREATE", "TRUNCATE"))} <= {
            line.rstrip(";") for s in slices for line in s.splitlines()
        }
        assert all(s.count("COPY (SELECT") == 1 for s in slices)
    assert "password" not in dry.plan.sql()


def test_slices_narrow_where_postgres_would_scan_the_whole_table_for_each(
    settings: MigrataSettings, conn: psycopg.Connection
) -> None:
    table = "lifecycle_audit_log"
    sample.generate(conn, rows=1500, days=30, datasets=1, now=NOW, tables=(table,))
    conn.execute(f"VACUUM ANALYZE {table}")  # the statistics a real store has
    aged = {r[0] for r in conn.execute(f"SELECT id FROM {table} WHERE created_at <= %s", (CUTOFF,))}
    cfg = with_archive(settings, copy_batch_rows=len(aged) // 2 + 1)  # two slices of half the range each
    engines = Engines.from_settings(cfg)
    prepared = archive_models(cfg).prepare(engines, specs(conn, cfg.archive))
    (spec,) = specs(conn, cfg.archive, table)
    (dataset,) = state.datasets(conn, "ds-1")

    def copy(client: Any) -> ArchiveCopy:
        return ArchiveCopy(ch=client, spec=spec, compiled=prepared.tables[table], dataset=dataset,
                           config=cfg.archive, collection=engines.pg_collection, now=NOW)  # fmt: skip

    def first_slice(plan: Any) -> tuple[Any, Any]:
        start = datetime.fromisoformat(plan.details["start"])
        return start, start + timedelta(microseconds=plan.details["width_us"])

    with engines.clickhouse() as ch:
        # Postgres' plan for a slice of half the range scans the whole table; for a quarter, the index
        half = execute(copy(ch), conn, dry_run=True).plan
        start = datetime.fromisoformat(half.details["start"])
        assert reads_whole_table(conn, spec, dataset.id, start, start + (CUTOFF - start) / 2)
        assert half.details["slices"] == 4
        assert "in 4 slices, not 2: Postgres would scan the whole table for each of 2" in half.description
        assert not reads_whole_table(conn, spec, dataset.id, *first_slice(half))
        assert sum(s.description.startswith("copy slice") for s in half.steps) == 4

        # where no narrower slice is read from the index either (a small table), the configured slices
        conn.execute("SET enable_indexscan = off")
        conn.execute("SET enable_bitmapscan = off")
        assert execute(copy(ch), conn, dry_run=True).plan.details["slices"] == 2
        conn.execute("RESET enable_indexscan")
        conn.execute("RESET enable_bitmapscan")

        report = execute(copy(ch), conn)
    assert report.ok and report.batches == 4 and report.units_done == len(aged)
    assert ch_ids(cfg, table) == aged


def _snapshot(conn: psycopg.Connection, settings: MigrataSettings) -> tuple[object, ...]:
    wms = conn.execute("SELECT * FROM migration_watermarks ORDER BY 1, 2").fetchall()
    checkpoints = conn.execute(
        "SELECT operation, status, units FROM migrata_checkpoints ORDER BY 1"
    ).fetchall()
    with control.clickhouse(settings) as ch:
        tables = ch.query("SELECT name, total_rows FROM system.tables WHERE database = currentDatabase() "
                          "ORDER BY name").result_rows  # fmt: skip
    return _counts(conn), wms, checkpoints, tables


def test_dry_run_writes_nothing_anywhere(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]]
) -> None:
    before = _snapshot(conn, settings)
    reports = run(settings, dry_run=True, now=NOW, cleanup=True)
    assert {r.status for r in reports} == {"dry-run"}
    copy = next(r for r in reports if r.operation == "archive_copy:lifecycle_audit_log:ds-1")
    assert copy.plan.total > 0 and "postgresql(" in copy.plan.sql() and "password" not in copy.plan.sql()
    first = reports[0].plan.sql()  # dbt would build the missing tables first: said once, not run
    assert "-- dbt run" in first and "-- dbt run" not in copy.plan.sql()
    assert _snapshot(conn, settings) == before  # no table created, no row copied, no watermark

    run(settings, now=NOW, table="lifecycle_audit_log")
    after_run = _snapshot(conn, settings)
    dry_cleanup = cleanup(settings, dry_run=True)
    assert {r.status for r in dry_cleanup} == {"dry-run"}
    assert "DELETE FROM" in dry_cleanup[0].plan.sql()
    assert _snapshot(conn, settings) == after_run


def test_late_rows_are_archived_and_never_deleted_unarchived(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]]
) -> None:
    table = "lifecycle_audit_log"
    run(settings, table=table, now=NOW, cleanup=True)
    # late rows: timestamps far below the watermark (and below watermark - grace), inserted afterwards
    sample.generate(conn, rows=40, days=25, datasets=2, now=NOW - timedelta(days=8), tag="late",
                    tables=(table,))  # fmt: skip
    late = {r[0] for r in conn.execute(f"SELECT id FROM {table} WHERE id LIKE 'lal-late-%%'").fetchall()}
    assert len(late) == 40

    cleaned = cleanup(settings, table=table)  # cleanup alone must keep them: not in ClickHouse
    assert all(r.ok for r in cleaned)
    assert sum(int(r.details.get("kept_not_archived", 0)) for r in cleaned) > 0
    assert late <= {r[0] for r in conn.execute(f"SELECT id FROM {table}").fetchall()}
    assert not late & ch_ids(settings, table)

    reports = run(settings, table=table, now=NOW, cleanup=True)  # the sweep archives them, then cleanup
    assert all(r.ok for r in reports)
    assert sum(int(r.details.get("late_rows_copied", 0)) for r in reports) == 40
    assert late <= ch_ids(settings, table)
    assert_consistent(conn, settings, seeded | {table: seeded[table] | late})


def test_status_reports_watermarks_lag_pending_and_metrics(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]]
) -> None:
    before = status(settings, now=NOW)
    assert all(t.watermark is None and t.pending_archive > 0 for t in before.tables)
    run(settings, now=NOW, cleanup=True)
    after = status(settings, now=NOW)
    assert len(after.tables) == 6
    assert all(t.pending_archive == 0 and t.pending_cleanup == 0 and t.lag_hours == 168 for t in after.tables)
    assert all(t.archived > 0 and t.in_grace_period > 0 for t in after.tables)
    metrics = {m.operation: m for m in after.metrics}
    copy = metrics["postgres_migration"]
    assert copy.runs == 6 and copy.rows == sum(t.archived for t in after.tables)
    assert copy.bytes > 0 and copy.partitions >= 6
    assert metrics["postgres_migration_cleanup"].rows > 0
    meta = after.as_metadata()
    assert meta["postgres_migration_runs"] == 6 and meta["pending_archive"] == 0


def test_disabled_archive_does_nothing(settings: MigrataSettings, seeded: dict[str, set[str]]) -> None:
    assert run(with_archive(settings, enabled=False), now=NOW) == []


def test_adding_a_table_is_one_settings_entry(settings: MigrataSettings, conn: psycopg.Connection) -> None:
    """No file is written by hand: the entry gives the table its dbt model, view branch, gate and asset."""
    conn.execute(
        "CREATE TABLE widget_events (event_id uuid PRIMARY KEY, "
        "dataset_id text NOT NULL REFERENCES datasets(id), "
        "happened_at timestamptz NOT NULL, body jsonb, score int, tags int[], flags bool[], note text)"
    )
    sample.ensure_datasets(conn, 1)
    conn.execute(
        "INSERT INTO widget_events SELECT gen_random_uuid(), 'ds-1', %s - g * interval '1 hour', "
        "jsonb_build_object('g', g), CASE WHEN g %% 2 = 0 THEN g END, ARRAY[g, NULL], ARRAY[g %% 2 = 0], "
        "CASE WHEN g %% 3 = 0 THEN 'it''s \\ a \"note\"' END FROM generate_series(1, 400) g",
        (NOW,),
    )
    entry = ArchiveTable(name="widget_events", id_column="event_id", time_column="happened_at",
                         payload_column="body")  # fmt: skip
    cfg = with_archive(settings, tables=[*settings.archive.tables, entry])  # the one entry

    for transport, hours in (("push", 0), ("pull", 50)):  # push archives hours 168…400, pull 118…167
        reports = run(
            with_archive(cfg, transport=transport), table="widget_events", now=NOW + timedelta(hours=hours)
        )
        assert all(r.ok for r in reports) and sum(r.units_done for r in reports) > 0, [
            r.summary() for r in reports
        ]
    columns = "event_id, tags, score, flags, note, body"
    archived = conn.execute(
        f"SELECT {columns}::text FROM widget_events WHERE happened_at <= %s",
        (NOW - timedelta(hours=118),),
    ).fetchall()
    with control.clickhouse(cfg) as ch:
        copied = ch.query(f"SELECT {columns} FROM widget_events FINAL").result_rows
    assert len(archived) == 400 - (168 - 50) + 1
    # arrays, NULLs, quotes and backslashes: as in Postgres, through push and pull alike
    assert sorted(map(tuple, copied), key=str) == sorted(map(tuple, archived), key=str)

    # dbt sees the table too: its generated model sweeps a late row, the view and the gate cover it
    conn.execute(
        "INSERT INTO widget_events VALUES (gen_random_uuid(), 'ds-1', %s, '{}', 1, '{}', '{}', NULL)",
        (NOW - timedelta(days=30),),
    )
    built = run_dbt(
        ["build", "--target", "clickhouse", "--select", "widget_events", "migrated_data",
         "assert_archive_agrees_up_to_watermark"],
        cfg,
        capture=True,
    )  # fmt: skip
    assert "ERROR=0" in built.stdout and "widget_events" in built.stdout
    with control.clickhouse(cfg) as ch:
        assert ch.command("SELECT count() FROM widget_events FINAL") == 400 - (168 - 50) + 2
        assert ch.command("SELECT count() FROM migrated_data WHERE __source_table = 'widget_events'") == 284
    rows = {t.table for t in status(cfg, now=NOW).tables}
    assert "widget_events" in rows

    from dagster import AssetKey

    from dagster_defs.archive import _table_asset

    asset = _table_asset("widget_events")
    assert (
        asset.key == AssetKey("archive_widget_events") and AssetKey("widget_events") in asset.dependency_keys
    )


def test_restore_undoes_run_and_the_next_run_archives_again(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]]
) -> None:
    table = "lifecycle_job_runs"
    run(settings, table=table, now=NOW, cleanup=True)
    since = NOW - timedelta(days=20)
    in_pg = {r[0] for r in conn.execute(f"SELECT id FROM {table}").fetchall()}
    dry = restore(settings, table=table, since=since, dry_run=True)
    assert {r.status for r in dry} == {"dry-run"} and sum(r.plan.total for r in dry) > 0
    assert {r[0] for r in conn.execute(f"SELECT id FROM {table}").fetchall()} == in_pg

    reports = restore(settings, table=table, since=since)
    assert all(r.ok for r in reports), [r.summary() for r in reports]
    back = {r[0] for r in conn.execute(f"SELECT id FROM {table} WHERE created_at >= %s", (since,)).fetchall()}
    assert back == {i for i in seeded[table] if i in back} and len(back) > len(in_pg)
    wm = {r[0] for r in conn.execute("SELECT watermark_timestamp FROM migration_watermarks "
                                     "WHERE table_name = %s", (table,)).fetchall()}  # fmt: skip
    assert wm == {since}
    restored_row = conn.execute(
        f"SELECT operations, metadata FROM {table} ORDER BY created_at LIMIT 1"
    ).fetchone()
    assert restored_row is not None and restored_row[0] == ["compaction", "retention"]

    again = run(settings, table=table, now=NOW, cleanup=True)  # re-delivered, verified, cleaned again
    assert all(r.ok for r in again)
    assert_consistent(conn, settings, seeded)


@pytest.mark.parametrize("block_rows", [100, 1_000_000])
def test_pull_block_rows_reaches_the_copy(
    settings: MigrataSettings, seeded: dict[str, set[str]], block_rows: int
) -> None:
    """The block cap (what bounds chDB's memory in this process) is applied by the copy's INSERT:
    every block ClickHouse writes is one new part per partition, so small blocks leave many parts."""
    table = "lifecycle_audit_log"
    cfg = with_archive(settings, pull_block_rows=block_rows)
    reports = run(cfg, table=table, now=NOW)
    assert all(r.ok for r in reports), [r.summary() for r in reports]
    copied = sum(int(r.details.get("records_migrated", 0)) for r in reports)
    with control.clickhouse(cfg) as ch:
        # inserted parts (level 0), merged away or not: system.parts lists inactive ones too
        written, partitions = ch.query(
            "SELECT countIf(level = 0), uniqExact(partition_id) FROM system.parts "
            "WHERE database = currentDatabase() AND table = {t:String}",
            parameters={"t": table},
        ).result_rows[0]
    assert copied > 1000
    if block_rows == 100:
        assert written >= copied // 100  # at most 100 rows in any block
    else:
        assert written <= 2 * partitions  # one block per slice and partition (two datasets' slices)


@pytest.mark.parametrize("threads", [1, 3])
def test_pull_insert_streams_reach_the_insert(
    settings: MigrataSettings, clickhouse: Any, threads: int
) -> None:
    """The pull INSERT runs with the configured insert streams and block caps (what each holds in this
    process's memory with chDB): the statement itself records the settings it ran under."""
    cfg = with_archive(settings, pull_insert_threads=threads, pull_block_rows=1000, pull_block_bytes=2**20)
    clickhouse.command("CREATE TABLE pull_probe (threads UInt64, block UInt64) ENGINE = Memory")
    pull(
        clickhouse,
        "INSERT INTO pull_probe SELECT getSetting('max_insert_threads'), getSetting('max_block_size')",
        table="pull_probe",
        block_rows=cfg.archive.pull_block_rows,
        block_bytes=cfg.archive.pull_block_bytes,
        insert_threads=cfg.archive.pull_insert_threads,
    )
    assert clickhouse.query("SELECT threads, block FROM pull_probe").result_rows == [(threads, 1000)]


def test_pull_insert_streams_default_to_one(settings: MigrataSettings) -> None:
    """One insert stream by default (chDB's memory in the migrata process); 0 is refused, not a default."""
    assert settings.archive.pull_insert_threads == 1
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        ArchiveSettings(pull_insert_threads=0)
