"""The `archive` Alembic tree: upgrade, downgrade to base, upgrade again; the seed's watermark DDL."""

from __future__ import annotations

import psycopg

from python_ops import migrations

TABLES = {
    "datasets",
    "dataset_access_audit",
    "lifecycle_audit_log",
    "lifecycle_job_runs",
    "migration_watermarks",
}


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows} & TABLES


def test_archive_tree_round_trip(empty_dsn: str) -> None:
    migrations.migrate(empty_dsn, "archive")
    assert _tables(empty_dsn) == TABLES
    with psycopg.connect(empty_dsn) as conn:
        columns = conn.execute(
            "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_name = 'migration_watermarks' ORDER BY ordinal_position"
        ).fetchall()
        pk = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'migration_watermarks'::regclass AND contype IN ('p', 'f') "
            "ORDER BY contype"
        ).fetchall()
        indexed = conn.execute(
            "SELECT indexdef FROM pg_indexes "
            "WHERE tablename = 'lifecycle_audit_log' AND indexdef LIKE '%created_at%'"
        ).fetchall()
    assert columns == [
        ("dataset_id", "text", "NO", None),
        ("table_name", "text", "NO", None),
        ("watermark_timestamp", "timestamp with time zone", "NO", None),
        ("updated_at", "timestamp with time zone", "NO", "now()"),
    ]
    assert {r[0] for r in pk} == {
        "FOREIGN KEY (dataset_id) REFERENCES datasets(id) ON DELETE CASCADE",
        "PRIMARY KEY (dataset_id, table_name)",
    }
    assert indexed
    migrations.downgrade(empty_dsn, "archive@base")
    assert _tables(empty_dsn) == set()
    migrations.migrate(empty_dsn, "archive")
    assert migrations.current(empty_dsn)["archive"] == "archive_0001"
