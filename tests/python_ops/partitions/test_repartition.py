"""Online repartitioning: swap and rollback round trip, concurrent writes, kill-and-rerun at each step,
and every bad input failing with one PreconditionError before anything changes."""

from __future__ import annotations

import os
import random
import threading
import time

import psycopg
import pytest
from psycopg import sql

from python_ops import pgcatalog as catalog
from python_ops.engines.context import Engines
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


def test_repartition_swaps_and_rollback_restores(
    conn: psycopg.Connection, items: str, engines: Engines
) -> None:
    before = _fp(conn, items)
    report = repartition(engines, items, "g", 8, batch_size=700)
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
    assert _fp(conn, items) == before == _fp(conn, retired)
    # no separate copy: the retired original is the registered backup, verified, with its fingerprint
    assert backup == retired and not [t for t in _tables(conn) if "_backup_" in t]
    registered = conn.execute(
        "SELECT status, row_count, checksum, checksum_columns, expires_at > now() + interval '6 days' "
        "FROM migration_backups WHERE backup_table = %s",
        (retired,),
    ).fetchone()
    copy_cols = ["id", "g", "body", "n", "created_at"]
    assert registered == (
        "verified",
        ROWS,
        catalog.fingerprint(conn, sql.Identifier(retired), copy_cols)[1],
        copy_cols,
        True,
    )
    assert ("retired original registered as the backup", True) in [(c.name, c.ok) for c in report.checks]
    parts = conn.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'items'::regclass").fetchone()
    assert parts == (8,)
    keys = conn.execute("SELECT DISTINCT g, partition_key FROM items").fetchall()
    assert all(k == partition_key(engines, g, 8) for g, k in keys)
    # indexes, constraints and the sequence came along and kept their names
    idx = {
        r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'items'").fetchall()
    }
    assert idx == {"items_pkey", "items_g_idx"}
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("INSERT INTO items (g, body, n, partition_key) VALUES (99, 'x', 1, 0)")
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO items (g, body, n, partition_key) VALUES (1, 'x', -1, %s)",
            (partition_key(engines, 1, 8),),
        )
    conn.execute(
        "INSERT INTO items (g, body, n, partition_key) VALUES (1, 'after', 1, %s)",
        (partition_key(engines, 1, 8),),
    )
    (last_id,) = conn.execute("SELECT max(id) FROM items").fetchone()
    assert last_id == ROWS + 3  # the two failed inserts above used sequence values too
    # a second run reports the table as done instead of failing
    assert repartition(engines, items, "g", 8).status == "nothing-to-do"

    undo = rollback(engines, items)
    assert undo.ok
    assert conn.execute("SELECT relkind FROM pg_class WHERE oid = 'items'::regclass").fetchone() == ("r",)
    assert _fp(conn, items)[0] == ROWS + 1  # the write made after the swap came back too
    conn.execute("DELETE FROM items WHERE body = 'after'")
    assert _fp(conn, items) == before
    assert _tables(conn) == {"items"}  # the retired original is the live table again
    released = "SELECT status, note LIKE '%%restored as public.items by rollback' FROM migration_backups"
    assert conn.execute(released).fetchall() == [("dropped", True)]
    conn.execute("INSERT INTO items (g, body, n) VALUES (1, 'again', 1)")  # sequence still owned and moving
    assert conn.execute("SELECT max(id) FROM items").fetchone() == (last_id + 1,)
    assert [r["step"] for r in runs(engines) if r["table_name"] == "public.items"] == ["rolled_back"]


def _writer(dsn: str, stop: threading.Event, counts: dict[str, int]) -> None:
    """Insert, update and delete rows (mirrored into `shadow` in the same transaction) until stopped."""
    rnd = random.Random(7)
    with psycopg.connect(dsn, autocommit=False, prepare_threshold=None) as w:
        while not stop.is_set():
            op = rnd.random()
            g = rnd.randrange(50)
            if op < 0.5:
                row = w.execute(
                    "INSERT INTO items (g, body, n, partition_key) "
                    "VALUES (%s, 'new', 1, migrata_partition_key(%s::text, 8)) RETURNING id, created_at",
                    (g, g),
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
    conn: psycopg.Connection,
    items: str,
    dsn: str,
    engines: Engines,
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
        report = repartition(engines, items, "g", 8, batch_size=300, hook=hook)
        time.sleep(0.3)  # writes after the swap go to the partitioned table
    finally:
        stop.set()
        writer.join()
    assert report.ok, report.checks
    assert counts["insert"] > 20 and counts["update"] > 10 and counts["delete"] > 2
    assert len(slow_batches) >= 10
    assert report.details["swap_lock_ms"] < 1000
    assert _fp(conn, items) == catalog.fingerprint(conn, sql.Identifier("shadow"), COLS)
    # the retired original is the verified backup, its fingerprint taken at the verification (no write
    # after it) or by the scan after the swap (writes came between the verification and the swap lock)
    row = conn.execute("SELECT status, row_count, checksum FROM migration_backups").fetchone()
    assert row == ("verified", *_fp(conn, report.details["retired_table"]))


STEPS = ["precheck", "create", "capture", "copy", "indexes", "verify", "swap"]


class Killed(Exception):
    pass


def _kill_at(step: str):  # type: ignore[no-untyped-def]
    def hook(at: str) -> None:
        if at == step:
            raise Killed(step)

    return hook


@pytest.mark.parametrize("step", STEPS)
def test_killed_at_each_step_a_rerun_finishes(
    conn: psycopg.Connection, items: str, step: str, engines: Engines
) -> None:
    before = _fp(conn, items)
    with pytest.raises(Killed):
        repartition(engines, items, "g", 8, batch_size=1000, hook=_kill_at(step))
    assert _fp(conn, items) == before  # the original is untouched whatever step died
    conn.execute("UPDATE items SET body = 'during' WHERE id = 5")  # a write between the kill and the rerun
    report = repartition(engines, items, "g", 8, batch_size=1000)
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
    assert backups == (1,)  # one backup: the retired original, registered at the swap


@pytest.mark.parametrize(
    ("tamper", "failing"),
    [
        ("UPDATE items_intermediate SET body = 'changed' WHERE id = 9", {"checksum", "every g intact"}),
        ("DELETE FROM items_intermediate WHERE id = 11", {"row_count", "checksum", "every g intact"}),
        (
            "UPDATE items_intermediate SET partition_key = (partition_key + 1) % 8 WHERE id = 7",
            {"rows in their partition"},
        ),
    ],
)
def test_verification_catches_a_new_table_that_differs_and_nothing_is_swapped(
    conn: psycopg.Connection, items: str, engines: Engines, tamper: str, failing: set[str]
) -> None:
    before = _fp(conn, items)

    def hook(step: str) -> None:  # a change the capture cannot see: made to the new table itself
        if step == "verify":
            conn.execute(tamper)

    report = repartition(engines, items, "g", 8, batch_size=1000, hook=hook)
    assert report.status == "failed"
    assert {c.name for c in report.checks if not c.ok} == failing
    assert conn.execute("SELECT relkind FROM pg_class WHERE oid = 'items'::regclass").fetchone() == ("r",)
    assert _fp(conn, items) == before
    assert conn.execute("SELECT count(*) FROM migration_backups").fetchone() == (0,)


@pytest.mark.parametrize("step", ["create", "copy", "swap"])
def test_killed_run_rolls_back_cleanly(
    conn: psycopg.Connection, items: str, step: str, engines: Engines
) -> None:
    before = _fp(conn, items)
    with pytest.raises(Killed):
        repartition(engines, items, "g", 8, batch_size=1000, hook=_kill_at(step))
    report = rollback(engines, items)
    assert report.ok
    assert _fp(conn, items) == before
    assert _tables(conn) == {"items"}  # nothing left behind, and no backup copy was ever made
    assert conn.execute("SELECT count(*) FROM migration_backups").fetchone() == (0,)
    trig = conn.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'items'::regclass AND NOT tgisinternal"
    )
    assert trig.fetchone() == (0,)
    conn.execute("TRUNCATE items CASCADE")  # not blocked any more


def test_bad_input_fails_before_anything_changes(
    conn: psycopg.Connection, items: str, engines: Engines
) -> None:
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
            repartition(engines, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(PreconditionError, match="not enough disk"):
        repartition(engines, items, "g", 8, free_bytes=1024)
    conn.execute("CREATE TABLE child (id int PRIMARY KEY, item_id bigint REFERENCES items (id))")
    with pytest.raises(PreconditionError, match="referenced by foreign keys"):
        repartition(engines, items, "g", 8)
    assert _tables(conn) == {"items"}
    assert runs(engines) == [r for r in runs(engines) if r["table_name"] != "public.items"]
    assert conn.execute("SELECT count(*) FROM migration_backups").fetchone() == (0,)


def test_dry_run_changes_nothing(conn: psycopg.Connection, items: str, engines: Engines) -> None:
    report = repartition(engines, items, "g", 8, dry_run=True)
    assert report.status == "dry-run" and "LOCK TABLE" in report.plan.sql()
    assert _tables(conn) == {"items"}


def test_killed_after_the_swap_a_rerun_validates_the_foreign_keys(
    conn: psycopg.Connection, items: str, engines: Engines
) -> None:
    with pytest.raises(Killed):
        repartition(engines, items, "g", 8, batch_size=1000, hook=_kill_at("swapped"))
    fk = (
        "SELECT bool_and(convalidated) FROM pg_constraint "
        "WHERE conrelid = 'items'::regclass AND contype = 'f'"
    )
    assert conn.execute(fk).fetchone() == (False,)
    report = repartition(engines, items, "g", 8)
    assert report.status == "nothing-to-do"
    assert [(c.name, c.ok) for c in report.checks] == [("foreign keys validated", True)]
    assert conn.execute(fk).fetchone() == (True,)


def test_killed_before_the_retired_original_is_sealed_a_rerun_seals_it(
    conn: psycopg.Connection, items: str, engines: Engines
) -> None:
    with pytest.raises(Killed):
        repartition(engines, items, "g", 8, batch_size=1000, hook=_kill_at("seal"))
    (retired,) = conn.execute(
        "SELECT retired_table FROM repartition_runs WHERE table_name = 'public.items'"
    ).fetchone()
    # as a run whose last writes came after its verification leaves it: registered, not yet fingerprinted
    conn.execute("UPDATE migration_backups SET status = 'created', checksum = '', verified_at = NULL")
    report = repartition(engines, items, "g", 8)
    assert report.status == "nothing-to-do", report.checks
    assert ("retired original registered as the backup", True) in [(c.name, c.ok) for c in report.checks]
    row = conn.execute("SELECT status, row_count, checksum FROM migration_backups").fetchone()
    assert row == ("verified", *_fp(conn, retired))


def test_an_already_repartitioned_table_asked_for_another_layout_is_a_precondition_error(
    conn: psycopg.Connection, items: str, engines: Engines
) -> None:
    assert repartition(engines, items, "g", 8).ok
    for column, parts in (("nosuchcol", 8), ("n", 8), ("g", 16)):
        with pytest.raises(PreconditionError, match=r"already repartitioned by g into 8 LIST partitions"):
            repartition(engines, items, column, parts)
    assert repartition(engines, items, "g", 8).status == "nothing-to-do"


def _slow_copy(started: threading.Event):  # type: ignore[no-untyped-def]
    def hook(step: str) -> None:
        if step == "copy":
            started.set()
            time.sleep(0.3)

    return hook


def test_two_runs_of_one_table_at_once_the_second_fails_at_once_naming_the_first(
    conn: psycopg.Connection, items: str, engines: Engines
) -> None:
    started, results = threading.Event(), {}

    def first() -> None:
        results["first"] = repartition(engines, items, "g", 8, batch_size=500, hook=_slow_copy(started))

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert started.wait(30)
        t0 = time.monotonic()
        with pytest.raises(PreconditionError) as info:
            repartition(engines, items, "g", 8, batch_size=500)
        assert time.monotonic() - t0 < 2  # at once, not after the first finished
        assert f"repartition of public.items is already running (pid {os.getpid()} on " in info.value.message
        assert "started at" in info.value.message and "--wait" in (info.value.hint or "")
        with pytest.raises(PreconditionError, match="already running"):
            rollback(engines, items)  # the inverse holds the same lock
    finally:
        thread.join()
    assert results["first"].ok
    backups = conn.execute("SELECT count(*) FROM migration_backups").fetchone()
    assert backups == (1,)
    assert not {t for t in _tables(conn) if t.endswith(("_intermediate", "_delta"))}


def test_with_wait_the_second_run_waits_and_finds_the_work_done(
    conn: psycopg.Connection, items: str, engines: Engines
) -> None:
    started, results = threading.Event(), {}

    def run(name: str, **kwargs) -> None:  # type: ignore[no-untyped-def]
        results[name] = repartition(engines, items, "g", 8, batch_size=500, **kwargs)

    first = threading.Thread(target=run, args=("first",), kwargs={"hook": _slow_copy(started)})
    first.start()
    assert started.wait(30)
    second = threading.Thread(target=run, args=("second",), kwargs={"wait": True})
    second.start()
    first.join()
    second.join()
    assert results["first"].ok and results["second"].status == "nothing-to-do"
    assert conn.execute("SELECT count(*) FROM migration_backups").fetchone() == (1,)


def test_racing_runs_never_collide_in_the_catalog(
    conn: psycopg.Connection, items: str, engines: Engines
) -> None:
    """Issue 17: two runs started together died with UniqueViolation on pg_type in 7 of 9 trials."""

    def race(barrier: threading.Barrier, outcomes: list[str]) -> None:
        barrier.wait()
        try:
            outcomes.append(repartition(engines, items, "g", 8, batch_size=1000).status)
        except PreconditionError as exc:
            outcomes.append("refused: " + exc.message.split(" is already running")[0])

    for trial in range(3):
        if trial:
            assert rollback(engines, items).ok
        barrier, outcomes = threading.Barrier(2), []
        threads = [threading.Thread(target=race, args=(barrier, outcomes)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # one ran; the other was refused by the lock or came after and found it done
        assert sorted(outcomes) in (["ok", "refused: repartition of public.items"], ["nothing-to-do", "ok"])
    backups = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE status <> 'dropped') FROM migration_backups"
    ).fetchone()
    assert backups == (3, 1)  # one per successful run (two restored by rollback), never one from a collision
