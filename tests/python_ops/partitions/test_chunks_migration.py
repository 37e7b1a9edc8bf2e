"""The `chunks` tree: chunks_0002 repartitions the seed's table into 100 LIST partitions; its downgrade
restores the original, verified."""

from __future__ import annotations

import psycopg
from psycopg import sql

from python_ops import migrations
from python_ops import pgcatalog as catalog
from python_ops.engines.context import Engines
from python_ops.partitions import partition_key

COLS = ["id", "collection_id", "content", "metadata", "created_at"]


def _kind(conn: psycopg.Connection) -> str:
    return conn.execute("SELECT relkind FROM pg_class WHERE oid = 'chunks'::regclass").fetchone()[0]


def test_upgrade_repartitions_downgrade_restores(dsn: str, conn: psycopg.Connection) -> None:
    assert _kind(conn) == "p"  # the template at heads holds the empty, partitioned structure
    migrations.downgrade(dsn, "chunks@-1")
    assert _kind(conn) == "r"
    conn.execute("INSERT INTO collections (name) SELECT 'c' || i FROM generate_series(1, 40) i")
    conn.execute(
        "INSERT INTO chunks (collection_id, content, metadata) SELECT c.id, repeat('t', 50), "
        "jsonb_build_object('i', i) FROM collections c, generate_series(1, 60) i"
    )
    before = catalog.fingerprint(conn, sql.Identifier("chunks"), COLS)

    migrations.migrate(dsn, "chunks", chunk_size="700")
    assert _kind(conn) == "p"
    assert catalog.fingerprint(conn, sql.Identifier("chunks"), COLS) == before
    parts = conn.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'chunks'::regclass").fetchone()
    assert parts == (100,)
    backup = conn.execute(
        "SELECT backup_table, row_count, status FROM migration_backups "
        "WHERE migration_revision = 'chunks_0002'"
    ).fetchone()
    assert backup is not None and backup[1:] == (2400, "verified")
    cid, key = conn.execute("SELECT collection_id, partition_key FROM chunks LIMIT 1").fetchone()
    assert key == partition_key(Engines.from_dsn(dsn), cid, 100)
    assert conn.execute("SELECT count(DISTINCT collection_id) FROM chunks").fetchone() == (40,)

    migrations.downgrade(dsn, "chunks@-1")
    assert _kind(conn) == "r"
    assert catalog.fingerprint(conn, sql.Identifier("chunks"), COLS) == before
    migrations.migrate(dsn, "heads")
    assert _kind(conn) == "p"
