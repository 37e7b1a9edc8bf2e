"""Scan, repair, verify and restore against the real embedded Postgres and real parquet files."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest

from migrata_samples.parquet_store import Generated, generate_store, parquet_bytes
from python_ops.engines.context import Engines
from python_ops.errors import PreconditionError
from python_ops.parquet_repair import repair, restore, scan, verify
from python_ops.parquet_repair.models import EntryClass, StoreConfig
from python_ops.parquet_repair.storage import Storage
from tests.python_ops.parquet_repair.conftest import STORE, decodes, entries


def test_scan_classifies_each_kind_of_damage(
    conn: psycopg.Connection,
    storage: Storage,
    damaged: Generated,
    engines: Engines,
) -> None:
    report = scan(engines, STORE, storage)
    counts = report.details["counts"]
    bad_files = len(damaged.of("zero-length") + damaged.of("not-parquet") + damaged.of("directory"))
    assert counts[EntryClass.LEGACY] == len(damaged.of("legacy")) + bad_files
    assert counts[EntryClass.CORRUPT] == len(damaged.of("corrupt")) + len(damaged.of("truncated"))
    assert counts[EntryClass.FILE_MISSING] == len(damaged.of("missing"))
    assert sum(counts.values()) == 40
    assert report.status == "failed"
    assert {e["file_path"] for e in report.details["examples"][EntryClass.FILE_MISSING]} <= set(
        damaged.of("missing")
    )


def test_dry_run_writes_nothing(
    conn: psycopg.Connection, storage: Storage, damaged: Generated, engines: Engines
) -> None:
    before = entries(conn)
    report = repair(engines, STORE, storage, dry_run=True)
    assert report.status == "dry-run"
    assert report.plan.total == 8 + 4 + 4 + 4 + 3  # every undecodable entry, missing files included
    assert "unnest" in report.plan.sql()
    assert entries(conn) == before
    assert conn.execute("SELECT count(*) FROM migration_backups").fetchone()[0] == 0  # type: ignore[index]
    assert conn.execute("SELECT count(*) FROM migrata_checkpoints").fetchone()[0] == 0  # type: ignore[index]


def test_repair_fixes_what_storage_can_and_reports_the_rest(
    conn: psycopg.Connection,
    storage: Storage,
    damaged: Generated,
    tmp_path: Path,
    engines: Engines,
) -> None:
    before = entries(conn)
    report_file = tmp_path / "issues.json"
    report = repair(engines, STORE, storage, batch_size=5, workers=4, report_file=report_file)
    unrepairable = set(damaged.of("missing") + damaged.of("zero-length"))
    unrepairable |= set(damaged.of("not-parquet") + damaged.of("directory"))
    repairable = set(damaged.of("legacy") + damaged.of("corrupt") + damaged.of("truncated"))

    assert report.details["migrated"] == len(repairable) == 16
    assert report.details["errors"] == len(unrepairable) == 7
    assert report.status == "failed"  # exit code says it: 7 entries still need attention
    failed = {c.name for c in report.failed_checks}
    assert failed == {"all affected entries decode now"}

    after = entries(conn)
    assert set(after) == set(before)  # no entry lost
    assert all(decodes(after[p]) for p in repairable)
    assert all(after[p] == before[p] for p in unrepairable)  # failures are left exactly as they were
    issues = {i["file_path"]: i["kind"] for i in json.loads(report_file.read_text())}
    assert issues == {
        **dict.fromkeys(damaged.of("missing"), "file-missing"),
        **dict.fromkeys(damaged.of("zero-length"), "not-parquet"),
        **dict.fromkeys(damaged.of("not-parquet"), "not-parquet"),
        **dict.fromkeys(damaged.of("directory"), "file-unreadable"),
    }

    backup = report.details["backup_table"]
    row = conn.execute(
        "SELECT row_count, source_table, status FROM migration_backups WHERE backup_table = %s", (backup,)
    ).fetchone()
    assert row is not None and row[0] == 23 and row[1].endswith("partition_metadata")
    saved = {r[0]: bytes(r[1]) for r in conn.execute(f'SELECT file_path, metadata FROM "{backup}"')}
    assert saved == {p: before[p] for p in repairable | unrepairable}


def test_repair_then_verify_then_restore(
    conn: psycopg.Connection,
    storage: Storage,
    repairable: Generated,
    engines: Engines,
) -> None:
    before = entries(conn)
    assert scan(engines, STORE, storage).status == "failed"
    report = repair(engines, STORE, storage, batch_size=4)
    assert report.status == "ok" and report.details["migrated"] == 12 and report.details["errors"] == 0
    assert report.details["footer_reads"] == 12
    assert scan(engines, STORE, storage).status == "ok"
    checked = verify(engines, STORE, storage)
    assert checked.ok and checked.details["checked"] == 30
    # repaired entries equal the untouched originals the generator cached: the same footer bytes
    again = repair(engines, STORE, storage)
    assert again.status == "nothing-to-do"

    undone = restore(engines, STORE, report.details["backup_table"])
    assert undone.ok and undone.units_done == 12
    assert entries(conn) == before


def test_only_legacy_leaves_corrupt_entries(
    conn: psycopg.Connection,
    storage: Storage,
    repairable: Generated,
    engines: Engines,
) -> None:
    before = entries(conn)
    report = repair(engines, STORE, storage, only_legacy=True)
    assert report.details["migrated"] == len(repairable.of("legacy"))
    after = entries(conn)
    for path in repairable.of("corrupt") + repairable.of("truncated"):
        assert after[path] == before[path]


def test_verify_catches_an_entry_that_describes_another_file(
    conn: psycopg.Connection,
    storage: Storage,
    repairable: Generated,
    engines: Engines,
) -> None:
    repair(engines, STORE, storage)
    path = repairable.paths[0]
    storage.write(path, parquet_bytes(pa.table({"x": [1, 2, 3]}), 10))  # file replaced behind the cache
    report = verify(engines, STORE, storage)
    assert not report.ok
    assert [i["file_path"] for i in report.details["issues"]] == [path]
    assert {c.name for c in report.failed_checks} == {"num_rows and schema equal the file's"}


def test_legacy_entry_of_a_replaced_file_is_not_rewritten(
    conn: psycopg.Connection,
    storage: Storage,
    repairable: Generated,
    engines: Engines,
) -> None:
    path = repairable.of("legacy")[0]
    before = entries(conn)[path]
    storage.write(path, parquet_bytes(pa.table({"other": ["a"] * 7}), 10))
    report = repair(engines, STORE, storage)
    assert report.details["errors_schema-mismatch"] == 1
    assert entries(conn)[path] == before


def test_configured_table_and_columns(conn: psycopg.Connection, storage: Storage, engines: Engines) -> None:
    conn.execute(
        "CREATE TABLE footer_cache "
        "(path text PRIMARY KEY, footer bytea NOT NULL, file_size bigint, num_rows bigint)"
    )
    custom = StoreConfig("footer_cache", "path", "footer", None)
    generated = generate_store(conn, custom, storage, 6, max_rows=100)
    from migrata_samples.parquet_store import damage_store

    damage_store(conn, custom, storage, generated, 0.5, mix={"legacy": 1.0})
    report = repair(engines, custom, storage)
    assert report.status == "ok" and report.details["migrated"] == 3
    with pytest.raises(PreconditionError, match="no column"):
        scan(engines, StoreConfig("footer_cache", "path", "footer", "updated_at"))
    with pytest.raises(PreconditionError, match="does not exist"):
        scan(engines, StoreConfig("nope"))


def test_a_missing_storage_root_is_a_precondition_not_every_file_missing(
    conn: psycopg.Connection, storage: Storage, repairable: Generated, tmp_path: Path, engines: Engines
) -> None:
    """Issue 17 item 7: repair backed up and registered the entries, then failed once per file."""
    before = entries(conn)
    gone = Storage.from_url(str(tmp_path / "not-mounted"))
    with pytest.raises(
        PreconditionError, match=r"parquet storage is not reachable: root .*not-mounted does not"
    ):
        repair(engines, STORE, gone)
    with pytest.raises(PreconditionError, match="not reachable"):
        repair(engines, STORE, gone, dry_run=True)
    with pytest.raises(PreconditionError, match="not reachable"):
        verify(engines, STORE, gone)
    assert entries(conn) == before
    assert conn.execute("SELECT count(*) FROM migration_backups").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM parquet_repair_issues").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM migrata_checkpoints").fetchone() == (0,)

    scanned = scan(engines, STORE, gone)
    assert scanned.status == "failed"
    reach = next(c for c in scanned.checks if c.name == "storage reachable")
    assert not reach.ok and "does not exist" in str(reach.actual)
    counts = scanned.details["counts"]
    assert counts[EntryClass.FILE_MISSING] == 0  # classified by the cached bytes alone
    assert counts[EntryClass.LEGACY] + counts[EntryClass.CORRUPT] == 12


def test_repair_and_restore_hold_the_tables_lock(
    conn: psycopg.Connection, storage: Storage, repairable: Generated, engines: Engines
) -> None:
    from python_ops.locks import operation_lock

    before = entries(conn)
    with operation_lock(engines, "parquet_repair", "partition_metadata"):
        with pytest.raises(
            PreconditionError, match=r"parquet_repair of partition_metadata is already running"
        ):
            repair(engines, STORE, storage)
        assert repair(engines, STORE, storage, dry_run=True).status == "dry-run"  # reads only: no lock
    assert entries(conn) == before
    report = repair(engines, STORE, storage)
    with (
        operation_lock(engines, "parquet_repair", "partition_metadata"),
        pytest.raises(PreconditionError, match="already running"),
    ):
        restore(engines, STORE, report.details["backup_table"])
    assert restore(engines, STORE, report.details["backup_table"]).ok
    assert entries(conn) == before


def test_restore_runs_the_reverse_of_the_repairs_rewrite_step(
    storage: Storage, repairable: Generated, engines: Engines
) -> None:
    from python_ops.parquet_repair.plan import rewrite_step

    backup = repair(engines, STORE, storage).details["backup_table"]
    dry = restore(engines, STORE, backup, dry_run=True)
    step = rewrite_step(STORE, backup)
    assert dry.plan.steps == [step.reverse()]
    assert dry.plan.steps[0].sql == step.reverse_sql and f'"{backup}"' in dry.plan.sql()
