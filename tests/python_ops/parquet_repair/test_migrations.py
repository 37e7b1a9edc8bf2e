"""The parquet tree: upgrade, downgrade, upgrade again; an existing store's table is never dropped."""

from __future__ import annotations

import psycopg

from python_ops import migrations


def _exists(dsn: str, table: str) -> bool:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]  # type: ignore[index]


def test_round_trip(empty_dsn: str) -> None:
    migrations.migrate(empty_dsn, "parquet")
    assert _exists(empty_dsn, "partition_metadata") and _exists(empty_dsn, "parquet_repair_issues")
    migrations.downgrade(empty_dsn, "parquet@base")
    assert not _exists(empty_dsn, "partition_metadata") and not _exists(empty_dsn, "parquet_repair_issues")
    migrations.migrate(empty_dsn, "parquet")
    assert migrations.current(empty_dsn)["parquet"] == "parquet_0001"


def test_existing_store_table_is_kept(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE partition_metadata (file_path text PRIMARY KEY, metadata bytea NOT NULL)")
        conn.execute("INSERT INTO partition_metadata VALUES ('a.parquet', '\\x00')")
    migrations.migrate(empty_dsn, "parquet")
    migrations.downgrade(empty_dsn, "parquet@base")
    assert _exists(empty_dsn, "partition_metadata")
