"""create_backup and the backup manager verbs over migration_backups."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from python_ops.backups import (
    backup_status,
    cleanup_backups,
    create_backup,
    extend_backup,
    list_backups,
    verify_backup,
)
from python_ops.engines.context import Engines
from python_ops.errors import PreconditionError


@pytest.fixture
def engines(dsn: str) -> Engines:
    return Engines.from_dsn(dsn)


@pytest.fixture
def items(conn: psycopg.Connection) -> str:
    conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, kind text, body jsonb)")
    conn.execute(
        "INSERT INTO items SELECT i, CASE WHEN i % 3 = 0 THEN 'a' ELSE 'b' END, "
        "jsonb_build_object('i', i) FROM generate_series(1, 1000) i"
    )
    return "items"


def test_create_backup_copies_verifies_and_registers(
    conn: psycopg.Connection, items: str, engines: Engines
) -> None:
    record = create_backup(conn, items, revision="test_0001")
    assert record.backup_table.startswith("items_backup_")
    assert record.row_count == 1000
    assert record.status == "verified" and record.verified_at is not None
    copied = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(record.backup_table)))
    assert copied.fetchone() == (1000,)
    assert [b.backup_table for b in list_backups(engines)] == [record.backup_table]
    # a second backup within the same second gets a distinct name
    again = create_backup(conn, items, revision="test_0001")
    assert again.backup_table != record.backup_table


def test_create_backup_with_where(conn: psycopg.Connection, items: str) -> None:
    record = create_backup(conn, items, revision="r", where=sql.SQL("kind = %s"), params=("a",))
    assert record.row_count == 333


def test_verify_detects_a_changed_backup(conn: psycopg.Connection, items: str, engines: Engines) -> None:
    record = create_backup(conn, items, revision="r")
    assert verify_backup(engines, record.backup_table).ok
    conn.execute(sql.SQL("UPDATE {} SET kind = 'z' WHERE id = 5").format(sql.Identifier(record.backup_table)))
    report = verify_backup(engines, record.backup_table)
    assert not report.ok
    assert [c.name for c in report.failed_checks] == ["checksum"]
    assert list_backups(engines)[0].status == "failed"


def test_extend_and_cleanup_only_expired_verified(
    conn: psycopg.Connection, items: str, engines: Engines
) -> None:
    keep = create_backup(conn, items, revision="r", retention_days=7)
    expired = create_backup(conn, items, revision="r", retention_days=0)
    unverified = create_backup(conn, items, revision="r", retention_days=0)
    conn.execute(
        "UPDATE migration_backups SET expires_at = now() - interval '1 hour' WHERE backup_table IN (%s, %s)",
        (expired.backup_table, unverified.backup_table),
    )
    conn.execute(
        "UPDATE migration_backups SET status = 'created', verified_at = NULL WHERE backup_table = %s",
        (unverified.backup_table,),
    )
    assert backup_status(engines)["expired"] == 2

    dry = cleanup_backups(engines, dry_run=True)
    assert dry.status == "dry-run" and dry.plan.total == 1
    assert conn.execute("SELECT to_regclass(%s)", (expired.backup_table,)).fetchone()[0] is not None

    done = cleanup_backups(engines)
    assert done.ok and done.details["dropped"] == [expired.backup_table]
    assert conn.execute("SELECT to_regclass(%s)", (expired.backup_table,)).fetchone()[0] is None
    assert conn.execute("SELECT to_regclass(%s)", (unverified.backup_table,)).fetchone()[0] is not None
    assert {b.backup_table for b in list_backups(engines)} == {keep.backup_table, unverified.backup_table}

    extended = extend_backup(engines, keep.backup_table, 14)
    assert extended.expires_at is not None and keep.expires_at is not None
    assert (extended.expires_at - keep.expires_at).days == 14
    with pytest.raises(PreconditionError, match="already dropped"):
        extend_backup(engines, expired.backup_table, 1)
    with pytest.raises(PreconditionError, match="not registered"):
        verify_backup(engines, "nope_backup")
    with pytest.raises(PreconditionError, match="does not exist"):
        create_backup(conn, "nope", revision="r")


def test_cleanup_holds_its_lock_and_verify_never_revives_a_dropped_backup(
    conn: psycopg.Connection, items: str, engines: Engines
) -> None:
    from python_ops.locks import operation_lock

    record = create_backup(conn, items, revision="r", retention_days=0)
    conn.execute("UPDATE migration_backups SET expires_at = now() - interval '1 hour'")
    with operation_lock(engines, "backups cleanup", "migration_backups"):
        with pytest.raises(
            PreconditionError, match=r"backups cleanup of migration_backups is already running \(pid"
        ):
            cleanup_backups(engines)
        assert cleanup_backups(engines, dry_run=True).plan.total == 1  # a dry run reads only
    assert conn.execute("SELECT to_regclass(%s)", (record.backup_table,)).fetchone()[0] is not None
    assert cleanup_backups(engines).details["dropped"] == [record.backup_table]
    # a verify that read the record just before the cleanup dropped it must not mark it 'failed'
    conn.execute("UPDATE migration_backups SET status = 'verified' WHERE id = %s", (record.id,))
    conn.execute(sql.SQL("CREATE TABLE {} (id int)").format(sql.Identifier(record.backup_table)))
    conn.execute("UPDATE migration_backups SET status = 'dropped' WHERE id = %s", (record.id,))
    with pytest.raises(PreconditionError, match="was dropped"):
        verify_backup(engines, record.backup_table)
    assert list_backups(engines, include_dropped=True)[0].status == "dropped"
