"""Online repartitioning: swap and rollback round trip, concurrent writes, kill-and-rerun at each step,
and every bad input failing with one PreconditionError before anything changes."""

from __future__ import annotations

import random
import threading
import time

import psycopg
import pytest
from psycopg import sql

from python_ops import pgcatalog as catalog
from python_ops.errors import PreconditionError
from python_ops.partitions import partition_key, repartition, rollback, runs

COLS = ["id", "g", "body", "n", "created_at"]
ROWS = 3000


def _fp(conn: psycopg.Connection, table: str) -> tuple[int, str]:
    return catalog.fingerprint(conn, sql.Identifier(table), COLS)


def _tables(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT relname FROM pg_class WHERE relname LIKE 'items%' AND relkind IN ('r', 'p')"
    ).fetchall()
    return {r[0] for r in rows}


@pytest.fixture
def items(conn: psycopg.Connection) -> str:
    conn.execute("CREATE TABLE grp (id int PRIMARY KEY)")
    conn.execute("INSERT INTO grp SELECT generate_series(0, 49)")
    conn.execute(
        "CREATE TABLE items (id bigserial PRIMARY KEY, g int NOT NULL REFERENCES grp (id), "
        "partition_key int, body text, n int CHECK (n >= 0), created_at timestamptz NOT NULL DEFAULT now())"
    )
    conn.execute("CREATE INDEX items_g_idx ON items (g, created_at)")
    conn.execute(
        "INSERT INTO items (g, body, n) SELECT i %% 50, md5(i::text), i FROM generate_series(1, %s) i",
        (ROWS,),
    )
    return "items"


def test_repartition_swaps_and_rollback_restores(conn: psycopg.Connection, items: str) -> None:
    before = _fp(conn, items)
    report = repartition(conn, items, "g", 8, batch_size=700)
    assert report.ok, report.checks
    assert {c.name for c in report.checks} >= {
        "row_count",
        "checksum",
        "every g intact",
        "rows in their partition",
    }
    assert report.batches == 5 and report.units_done == ROWS
    retired, backup = report.details["retired_table"], report.details["backup_table"]
    assert conn.execute("SELECT relkind FROM pg_class WHERE oid = 'items'::regclass").fetchone() == ("p",)
    assert _fp(conn, items) == before == _fp(conn, retired) == _fp(conn, backup)
    parts = conn.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'items'::regclass").fetchone()
    assert parts == (8,)
    keys = conn.execute("SELECT DISTINCT g, partition_key FROM items").fetchall()
    assert all(k == partition_key(g, 8) for g, k in keys)
    # indexes, constraints and the sequence came along and kept their names
    idx = {
        r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'items'").fetchall()
    }
    assert idx == {"items_pkey", "items_g_idx"}
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("INSERT INTO items (g, body, n, partition_key) VALUES (99, 'x', 1, 0)")
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO items (g, body, n, partition_key) VALUES (1, 'x', -1, %s)", (partition_key(1, 8),)
        )
    conn.execute(
        "INSERT INTO items (g, body, n, partition_key) VALUES (1, 'after', 1, %s)", (partition_key(1, 8),)
    )
    (last_id,) = conn.execute("SELECT max(id) FROM items").fetchone()
    assert last_id == ROWS + 3  # the two failed inserts above used sequence values too
    # a second run reports the table as done instead of failing
    assert repartition(conn, items, "g", 8).status == "nothing-to-do"

    undo = rollback(conn, items)
    assert undo.ok
    assert conn.execute("SELECT relkind FROM pg_class WHERE oid = 'items'::regclass").fetchone() == ("r",)
    assert _fp(conn, items)[0] == ROWS + 1  # the write made after the swap came back too
    conn.execute("DELETE FROM items WHERE body = 'after'")
    assert _fp(conn, items) == before
    assert _tables(conn) == {"items", backup}
    conn.execute("INSERT INTO items (g, body, n) VALUES (1, 'again', 1)")  # sequence still owned and moving
    assert conn.execute("SELECT max(id) FROM items").fetchone() == (last_id + 1,)
    assert [r["step"] for r in runs(conn) if r["table_name"] == "public.items"] == ["rolled_back"]


def _writer(dsn: str, stop: threading.Event, counts: dict[str, int]) -> None:
    """Insert, update and delete rows (mirrored into `shadow` in the same transaction) until stopped."""
    rnd = random.Random(7)
    with psycopg.connect(dsn, autocommit=False, prepare_threshold=None) as w:
        while not stop.is_set():
            op = rnd.random()
            g = rnd.randrange(50)
            if op < 0.5:
                row = w.execute(
                    "INSERT INTO items (g, body, n, partition_key) VALUES (%s, 'new', 1, %s) "
                    "RETURNING id, created_at",
                    (g, partition_key(g, 8)),
                ).fetchone()
                w.execute("INSERT INTO shadow VALUES (%s, %s, 'new', 1, %s)", (row[0], g, row[1]))
            elif op < 0.85:
                i = rnd.randrange(1, ROWS)
                w.execute("UPDATE items SET body = 'changed', n = n + 1 WHERE id = %s", (i,))
                w.execute("UPDATE shadow SET body = 'changed', n = n + 1 WHERE id = %s", (i,))
            else:
                i = rnd.randrange(1, ROWS)
                w.execute("DELETE FROM items WHERE id = %s", (i,))
                w.execute("DELETE FROM shadow WHERE id = %s", (i,))
            w.commit()
            counts[(op < 0.5 and "insert") or (op < 0.85 and "update") or "delete"] += 1
            time.sleep(0.001)


def test_concurrent_writes_during_the_copy_are_not_lost(
    conn: psycopg.Connection, items: str, dsn: str
) -> None:
    conn.execute("CREATE TABLE shadow AS SELECT id, g, body, n, created_at FROM items")
    stop, counts = threading.Event(), {"insert": 0, "update": 0, "delete": 0}
    writer = threading.Thread(target=_writer, args=(dsn, stop, counts))
    slow_batches = []

    def hook(step: str) -> None:  # keep the copy running long enough for the writer to interleave
        if step == "copy":
            slow_batches.append(step)
            time.sleep(0.15)

    writer.start()
    try:
        report = repartition(conn, items, "g", 8, batch_size=300, hook=hook)
        time.sleep(0.3)  # writes after the swap go to the partitioned table
    finally:
        stop.set()
        writer.join()
    assert report.ok, report.checks
    assert counts["insert"] > 20 and counts["update"] > 10 and counts["delete"] > 2
    assert len(slow_batches) >= 10
    assert report.details["swap_lock_ms"] < 1000
    assert _fp(conn, items) == catalog.fingerprint(conn, sql.Identifier("shadow"), COLS)


STEPS = ["precheck", "backup", "create", "capture", "copy", "indexes", "verify", "swap"]


class Killed(Exception):
    pass


def _kill_at(step: str):  # type: ignore[no-untyped-def]
    def hook(at: str) -> None:
        if at == step:
            raise Killed(step)

    return hook


@pytest.mark.parametrize("step", STEPS)
def test_killed_at_each_step_a_rerun_finishes(conn: psycopg.Connection, items: str, step: str) -> None:
    before = _fp(conn, items)
    with pytest.raises(Killed):
        repartition(conn, items, "g", 8, batch_size=1000, hook=_kill_at(step))
    assert _fp(conn, items) == before  # the original is untouched whatever step died
    conn.execute("UPDATE items SET body = 'during' WHERE id = 5")  # a write between the kill and the rerun
    report = repartition(conn, items, "g", 8, batch_size=1000)
    assert report.ok, report.checks
    expected = conn.execute(
        sql.SQL("SELECT {} FROM {} WHERE id = 5").format(
            sql.Identifier("body"), sql.Identifier(report.details["retired_table"])
        )
    ).fetchone()
    assert expected == ("during",)
    assert _fp(conn, items) == _fp(conn, report.details["retired_table"])
    backups = conn.execute(
        "SELECT count(*) FROM migration_backups WHERE source_table = 'public.items'"
    ).fetchone()
    assert backups == (1,)  # the rerun reused the verified backup


@pytest.mark.parametrize("step", ["backup", "copy", "swap"])
def test_killed_run_rolls_back_cleanly(conn: psycopg.Connection, items: str, step: str) -> None:
    before = _fp(conn, items)
    with pytest.raises(Killed):
        repartition(conn, items, "g", 8, batch_size=1000, hook=_kill_at(step))
    report = rollback(conn, items)
    assert report.ok
    assert _fp(conn, items) == before
    leftovers = _tables(conn) - {"items"}
    assert all("_backup_" in t for t in leftovers)
    trig = conn.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'items'::regclass AND NOT tgisinternal"
    )
    assert trig.fetchone() == (0,)
    conn.execute("TRUNCATE items CASCADE")  # not blocked any more


def test_bad_input_fails_before_anything_changes(conn: psycopg.Connection, items: str) -> None:
    conn.execute("CREATE TABLE nokey (id int, g int)")
    conn.execute("CREATE TABLE already (id int, g int) PARTITION BY LIST (g)")
    cases = [
        (dict(table="nope", column="g", partitions=8), "does not exist"),
        (dict(table=items, column="nope", partitions=8), "column nope does not exist"),
        (dict(table=items, column="g", partitions=1), "too small"),
        (dict(table="already", column="g", partitions=8), "already partitioned"),
        (dict(table="nokey", column="g", partitions=8), "no primary key"),
    ]
    for kwargs, message in cases:
        with pytest.raises(PreconditionError, match=message):
            repartition(conn, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(PreconditionError, match="not enough disk"):
        repartition(conn, items, "g", 8, free_bytes=1024)
    conn.execute("CREATE TABLE child (id int PRIMARY KEY, item_id bigint REFERENCES items (id))")
    with pytest.raises(PreconditionError, match="referenced by foreign keys"):
        repartition(conn, items, "g", 8)
    assert _tables(conn) == {"items"}
    assert runs(conn) == [r for r in runs(conn) if r["table_name"] != "public.items"]
    assert conn.execute("SELECT count(*) FROM migration_backups").fetchone() == (0,)


def test_dry_run_changes_nothing(conn: psycopg.Connection, items: str) -> None:
    report = repartition(conn, items, "g", 8, dry_run=True)
    assert report.status == "dry-run" and "LOCK TABLE" in report.plan.sql()
    assert _tables(conn) == {"items"}
