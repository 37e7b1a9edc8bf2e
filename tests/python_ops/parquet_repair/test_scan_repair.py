"""Scan, repair, verify and restore against the real embedded Postgres and real parquet files."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest

from migrata_samples.parquet_store import Generated, generate_store, parquet_bytes
from python_ops.errors import PreconditionError
from python_ops.parquet_repair import repair, restore, scan, verify
from python_ops.parquet_repair.models import EntryClass, StoreConfig
from python_ops.parquet_repair.storage import Storage
from tests.python_ops.parquet_repair.conftest import STORE, decodes, entries


def test_scan_classifies_each_kind_of_damage(
    conn: psycopg.Connection, storage: Storage, damaged: Generated
) -> None:
    report = scan(conn, STORE, storage)
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


def test_dry_run_writes_nothing(conn: psycopg.Connection, storage: Storage, damaged: Generated) -> None:
    before = entries(conn)
    report = repair(conn, STORE, storage, dry_run=True)
    assert report.status == "dry-run"
    assert report.plan.total == 8 + 4 + 4 + 4 + 3  # every undecodable entry, missing files included
    assert "unnest" in report.plan.sql()
    assert entries(conn) == before
    assert conn.execute("SELECT count(*) FROM migration_backups").fetchone()[0] == 0  # type: ignore[index]
    assert conn.execute("SELECT count(*) FROM migrata_checkpoints").fetchone()[0] == 0  # type: ignore[index]


def test_repair_fixes_what_storage_can_and_reports_the_rest(
    conn: psycopg.Connection, storage: Storage, damaged: Generated, tmp_path: Path
) -> None:
    before = entries(conn)
    report_file = tmp_path / "issues.json"
    report = repair(conn, STORE, storage, batch_size=5, workers=4, report_file=report_file)
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
    conn: psycopg.Connection, storage: Storage, repairable: Generated
) -> None:
    before = entries(conn)
    assert scan(conn, STORE, storage).status == "failed"
    report = repair(conn, STORE, storage, batch_size=4)
    assert report.status == "ok" and report.details["migrated"] == 12 and report.details["errors"] == 0
    assert report.details["footer_reads"] == 12
    assert scan(conn, STORE, storage).status == "ok"
    checked = verify(conn, STORE, storage)
    assert checked.ok and checked.details["checked"] == 30
    # repaired entries equal the untouched originals the generator cached: the same footer bytes
    again = repair(conn, STORE, storage)
    assert again.status == "nothing-to-do"

    undone = restore(conn, STORE, report.details["backup_table"])
    assert undone.ok and undone.units_done == 12
    assert entries(conn) == before


def test_only_legacy_leaves_corrupt_entries(
    conn: psycopg.Connection, storage: Storage, repairable: Generated
) -> None:
    before = entries(conn)
    report = repair(conn, STORE, storage, only_legacy=True)
    assert report.details["migrated"] == len(repairable.of("legacy"))
    after = entries(conn)
    for path in repairable.of("corrupt") + repairable.of("truncated"):
        assert after[path] == before[path]


def test_verify_catches_an_entry_that_describes_another_file(
    conn: psycopg.Connection, storage: Storage, repairable: Generated
) -> None:
    repair(conn, STORE, storage)
    path = repairable.paths[0]
    storage.write(path, parquet_bytes(pa.table({"x": [1, 2, 3]}), 10))  # file replaced behind the cache
    report = verify(conn, STORE, storage)
    assert not report.ok
    assert [i["file_path"] for i in report.details["issues"]] == [path]
    assert {c.name for c in report.failed_checks} == {"num_rows and schema equal the file's"}


def test_legacy_entry_of_a_replaced_file_is_not_rewritten(
    conn: psycopg.Connection, storage: Storage, repairable: Generated
) -> None:
    path = repairable.of("legacy")[0]
    before = entries(conn)[path]
    storage.write(path, parquet_bytes(pa.table({"other": ["a"] * 7}), 10))
    report = repair(conn, STORE, storage)
    assert report.details["errors_schema-mismatch"] == 1
    assert entries(conn)[path] == before


def test_configured_table_and_columns(conn: psycopg.Connection, storage: Storage) -> None:
    conn.execute(
        "CREATE TABLE footer_cache "
        "(path text PRIMARY KEY, footer bytea NOT NULL, file_size bigint, num_rows bigint)"
    )
    custom = StoreConfig("footer_cache", "path", "footer", None)
    generated = generate_store(conn, custom, storage, 6, max_rows=100)
    from migrata_samples.parquet_store import damage_store

    damage_store(conn, custom, storage, generated, 0.5, mix={"legacy": 1.0})
    report = repair(conn, custom, storage)
    assert report.status == "ok" and report.details["migrated"] == 3
    with pytest.raises(PreconditionError, match="no column"):
        scan(conn, StoreConfig("footer_cache", "path", "footer", "updated_at"))
    with pytest.raises(PreconditionError, match="does not exist"):
        scan(conn, StoreConfig("nope"))
