"""One archive run end to end on the real engines, both transports; dry run; late rows; status."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from migrata_samples import archive_rows as sample
from python_ops import archive
from python_ops.engines import control
from python_ops.settings import MigrataSettings
from tests.python_ops.archive.conftest import CUTOFF, NOW, TABLES, assert_consistent, ch_ids


def _with(settings: MigrataSettings, **archive_values: object) -> MigrataSettings:
    return settings.model_copy(update={"archive": settings.archive.model_copy(update=archive_values)})


@pytest.mark.parametrize("transport", ["pull", "push"])
def test_run_archives_verifies_advances_and_cleans_up(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]], transport: str
) -> None:
    cfg = _with(settings, transport=transport)
    aged = {
        t: {r[0] for r in conn.execute(f"SELECT id FROM {t} WHERE {_time(t)} <= %s", (CUTOFF,)).fetchall()}
        for t in TABLES
    }
    reports = archive.run(cfg, now=NOW)

    assert all(r.ok for r in reports), [r.summary() for r in reports]
    copies = [r for r in reports if r.operation.startswith("archive_copy")]
    assert len(copies) == 6 and all(len(r.checks) == 3 and all(c.ok for c in r.checks) for r in copies)
    for table in TABLES:
        assert ch_ids(cfg, table) == aged[table]  # exactly the aged rows, each once
        wm = {r[0] for r in conn.execute("SELECT watermark_timestamp FROM migration_watermarks "
                                         "WHERE table_name = %s", (table,)).fetchall()}  # fmt: skip
        assert wm == {CUTOFF}
        # cleaned: nothing left older than watermark - 24 h; the grace window stays in Postgres
        left = conn.execute(f"SELECT min({_time(table)}) FROM {table}").fetchone()[0]  # type: ignore[index]
        assert left >= CUTOFF - timedelta(hours=24)
        in_grace = conn.execute(
            f"SELECT count(*) FROM {table} WHERE {_time(table)} <= %s", (CUTOFF,)
        ).fetchone()[0]  # type: ignore[index]
        assert in_grace > 0
    assert_consistent(conn, cfg, seeded)

    events = conn.execute(
        "SELECT payload FROM lifecycle_audit_log WHERE event_type = 'postgres_migration'"
    ).fetchall()
    assert len(events) == 6
    assert {"table", "recordsMigrated", "bytes", "watermark"} <= set(events[0][0])
    assert sum(e[0]["recordsMigrated"] for e in events) == sum(len(v) for v in aged.values())

    with control.clickhouse(cfg) as ch:
        by_table = dict(ch.query("SELECT __source_table, count() FROM migrated_data GROUP BY 1").result_rows)
        assert by_table == {t: len(aged[t]) for t in TABLES}
        key = ch.query("SELECT __partition_key, __dataset_slug FROM migrated_data LIMIT 1").result_rows[0]
        assert key[0].startswith(key[1] + "/2026")

    again = archive.run(cfg, now=NOW)  # nothing new: no copy, no delete, still verified
    assert {r.status for r in again} == {"nothing-to-do"}
    assert all(c.ok for r in again for c in r.checks)


def _time(table: str) -> str:
    return "accessed_at" if table == "dataset_access_audit" else "created_at"


def _snapshot(conn: psycopg.Connection, settings: MigrataSettings) -> tuple[object, ...]:
    counts = tuple(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES)  # type: ignore[index]
    wms = conn.execute("SELECT * FROM migration_watermarks ORDER BY 1, 2").fetchall()
    checkpoints = conn.execute(
        "SELECT operation, status, units FROM migrata_checkpoints ORDER BY 1"
    ).fetchall()
    with control.clickhouse(settings) as ch:
        tables = ch.query("SELECT name, total_rows FROM system.tables WHERE database = currentDatabase() "
                          "ORDER BY name").result_rows  # fmt: skip
    return counts, wms, checkpoints, tables


def test_dry_run_writes_nothing_anywhere(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]]
) -> None:
    before = _snapshot(conn, settings)
    reports = archive.run(settings, dry_run=True, now=NOW)
    assert {r.status for r in reports} == {"dry-run"}
    copy = next(r for r in reports if r.operation == "archive_copy:lifecycle_audit_log:ds-1")
    assert copy.plan.total > 0 and "postgresql(" in copy.plan.sql() and "password" not in copy.plan.sql()
    assert _snapshot(conn, settings) == before

    archive.run(settings, now=NOW, table="lifecycle_audit_log")
    after_run = _snapshot(conn, settings)
    cleanup = archive.run_cleanup(settings, dry_run=True)
    assert {r.status for r in cleanup} == {"dry-run"}
    assert _snapshot(conn, settings) == after_run


def test_late_rows_are_archived_and_never_deleted_unarchived(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]]
) -> None:
    table = "lifecycle_audit_log"
    archive.run(settings, table=table, now=NOW)
    # late rows: timestamps far below the watermark (and below watermark - grace), inserted afterwards
    sample.generate(conn, rows=40, days=25, datasets=2, now=NOW - timedelta(days=8), tag="late",
                    tables=(table,))  # fmt: skip
    late = {r[0] for r in conn.execute(f"SELECT id FROM {table} WHERE id LIKE 'lal-late-%%'").fetchall()}
    assert len(late) == 40

    cleaned = archive.run_cleanup(settings, table=table)  # cleanup alone must keep them: not in ClickHouse
    assert all(r.ok for r in cleaned)
    assert sum(int(r.details.get("kept_not_archived", 0)) for r in cleaned) > 0
    assert late <= {r[0] for r in conn.execute(f"SELECT id FROM {table}").fetchall()}
    assert not late & ch_ids(settings, table)

    reports = archive.run(settings, table=table, now=NOW)  # the sweep archives them, then cleanup may go
    assert all(r.ok for r in reports)
    assert sum(int(r.details.get("late_rows_copied", 0)) for r in reports) == 40
    assert late <= ch_ids(settings, table)
    assert_consistent(conn, settings, seeded | {table: seeded[table] | late})


def test_status_reports_watermarks_lag_pending_and_metrics(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]]
) -> None:
    before = archive.status(settings, now=NOW)
    assert all(t.watermark is None and t.pending_archive > 0 for t in before.tables)
    archive.run(settings, now=NOW)
    after = archive.status(settings, now=NOW)
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
    assert archive.run(_with(settings, enabled=False), now=NOW) == []


def test_new_table_is_one_config_entry(settings: MigrataSettings, conn: psycopg.Connection) -> None:
    conn.execute(
        "CREATE TABLE widget_events (event_id uuid PRIMARY KEY, "
        "dataset_id text NOT NULL REFERENCES datasets(id), "
        "happened_at timestamptz NOT NULL, body jsonb, score int, tags int[])"
    )
    sample.ensure_datasets(conn, 1)
    conn.execute(
        "INSERT INTO widget_events SELECT gen_random_uuid(), 'ds-1', %s - g * interval '1 hour', "
        "jsonb_build_object('g', g), CASE WHEN g %% 2 = 0 THEN g END, ARRAY[g, NULL] "
        "FROM generate_series(1, 400) g",
        (NOW,),
    )
    from python_ops.settings import ArchiveTable

    entry = ArchiveTable(name="widget_events", id_column="event_id", time_column="happened_at",
                         payload_column="body")  # fmt: skip
    for transport in ("push", "pull"):
        cfg = _with(settings, tables=[*settings.archive.tables, entry], transport=transport)
        reports = archive.run(
            cfg, table="widget_events", now=NOW + timedelta(hours=50 if transport == "pull" else 0)
        )
        assert all(r.ok for r in reports), [r.summary() for r in reports]
    with control.clickhouse(settings) as ch:
        assert (
            ch.command("SELECT count() FROM widget_events FINAL") == 400 - (168 - 50) + 1
        )  # hours 118…400 are older than the cutoff
        row = ch.query(
            "SELECT tags, score FROM widget_events FINAL ORDER BY happened_at LIMIT 1"
        ).result_rows[0]
        assert row[0][1] is None and isinstance(row[0][0], int)


def test_restore_undoes_run_and_the_next_run_archives_again(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]]
) -> None:
    table = "lifecycle_job_runs"
    archive.run(settings, table=table, now=NOW)
    since = NOW - timedelta(days=20)
    in_pg = {r[0] for r in conn.execute(f"SELECT id FROM {table}").fetchall()}
    dry = archive.restore(settings, table=table, since=since, dry_run=True)
    assert {r.status for r in dry} == {"dry-run"} and sum(r.plan.total for r in dry) > 0
    assert {r[0] for r in conn.execute(f"SELECT id FROM {table}").fetchall()} == in_pg

    reports = archive.restore(settings, table=table, since=since)
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

    again = archive.run(
        settings, table=table, now=NOW
    )  # the range is archived (re-delivered) and cleaned again
    assert all(r.ok for r in again)
    assert_consistent(conn, settings, seeded)
