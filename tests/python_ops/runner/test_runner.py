"""The shared runner: batches commit with their checkpoint, a killed run resumes, dry runs write nothing."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from psycopg import sql

from python_ops.errors import MigrataError, PreconditionError
from python_ops.runner import Batch, Check, Operation, Plan, Step, checkpoints, execute


class CopyNumbers(Operation):
    """Copy rows of `src` into `dst` in id order, `size` at a time; optionally fail at one batch."""

    name = "test:copy-numbers"

    def __init__(self, size: int, fail_at_batch: int | None = None, slow_at_batch: int | None = None) -> None:
        self.size = size
        self.fail_at_batch = fail_at_batch
        self.slow_at_batch = slow_at_batch
        self.calls = 0

    def plan(self, conn: psycopg.Connection) -> Plan:
        total = conn.execute("SELECT count(*) FROM src WHERE id NOT IN (SELECT id FROM dst)").fetchone()[0]
        return Plan(
            self.name,
            "copy src to dst",
            total,
            steps=[
                Step(
                    "copy a batch",
                    "INSERT INTO dst SELECT * FROM src WHERE id > %s LIMIT n",
                    "DELETE FROM dst",
                )
            ],
        )

    def run_batch(self, conn: psycopg.Connection, position: Any, plan: Plan) -> Batch:
        self.calls += 1
        if self.fail_at_batch is not None and self.calls == self.fail_at_batch:
            conn.execute(
                "INSERT INTO dst SELECT id, v FROM src WHERE id > %s ORDER BY id LIMIT 1", (position or 0,)
            )
            raise RuntimeError("killed mid-batch")
        if self.calls == self.slow_at_batch:  # a batch longer than a statement_timeout
            conn.execute("INSERT INTO dst SELECT id, v FROM src WHERE id > %s LIMIT 1", (position or 0,))
            conn.execute("SELECT pg_sleep(2)")
        rows = conn.execute(
            "INSERT INTO dst SELECT id, v FROM src WHERE id > %s ORDER BY id LIMIT %s RETURNING id",
            (position or 0, self.size),
        ).fetchall()
        last = max((r[0] for r in rows), default=position)
        return Batch(len(rows), last, done=len(rows) < self.size, details={"copied": len(rows)})

    def verify(self, conn: psycopg.Connection, plan: Plan) -> list[Check]:
        src, dst = conn.execute("SELECT (SELECT sum(v) FROM src), (SELECT sum(v) FROM dst)").fetchone()
        return [Check("checksum", src == dst, src, dst)]


@pytest.fixture
def tables(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute("CREATE TABLE src (id int PRIMARY KEY, v bigint NOT NULL)")
    conn.execute("CREATE TABLE dst (id int PRIMARY KEY, v bigint NOT NULL)")
    conn.execute("INSERT INTO src SELECT g, g * 7 FROM generate_series(1, 1000) g")
    return conn


def test_runs_all_batches_and_verifies(tables: psycopg.Connection) -> None:
    events = []
    report = execute(CopyNumbers(size=300), tables, on_progress=events.append)
    assert report.status == "ok"
    assert report.units_done == 1000
    assert report.batches == 4
    assert tables.execute("SELECT count(*) FROM dst").fetchone()[0] == 1000
    assert [e.phase for e in events][-1] == "done"
    assert checkpoints.load(tables, "test:copy-numbers").status == "done"


def test_dry_run_writes_nothing(tables: psycopg.Connection) -> None:
    report = execute(CopyNumbers(size=300), tables, dry_run=True)
    assert report.status == "dry-run"
    assert report.plan.total == 1000
    assert "INSERT INTO dst" in report.plan.sql()
    assert tables.execute("SELECT count(*) FROM dst").fetchone()[0] == 0
    assert checkpoints.load(tables, "test:copy-numbers") is None


def test_killed_run_resumes_after_last_committed_batch(tables: psycopg.Connection) -> None:
    with pytest.raises(RuntimeError, match="killed"):
        execute(CopyNumbers(size=300, fail_at_batch=3), tables)
    # the failed batch rolled back with its checkpoint: exactly two batches are in
    assert tables.execute("SELECT count(*) FROM dst").fetchone()[0] == 600
    saved = checkpoints.load(tables, "test:copy-numbers")
    assert saved.status == "running" and saved.position == 600

    resumed = CopyNumbers(size=300)
    report = execute(resumed, tables)
    assert report.status == "ok"
    assert report.resumed_from == 600
    assert resumed.calls == 2  # batches 3 and 4 only
    assert report.units_done == 1000
    assert tables.execute("SELECT count(*), count(DISTINCT id) FROM dst").fetchone() == (1000, 1000)


def test_a_batch_cancelled_by_statement_timeout_names_the_setting_and_resumes(
    tables: psycopg.Connection,
) -> None:
    db = sql.Identifier(tables.info.dbname)
    tables.execute(sql.SQL("ALTER DATABASE {} SET statement_timeout = '300ms'").format(db))
    # a new session takes the setting
    with (
        psycopg.connect(tables.info.dsn, autocommit=True) as limited,
        pytest.raises(MigrataError) as cancelled,
    ):
        execute(CopyNumbers(size=300, slow_at_batch=2), limited)
    error = cancelled.value
    assert error.message.startswith(
        "test:copy-numbers: Postgres cancelled a statement after statement_timeout = 300ms"
    )
    role = tables.execute("SELECT current_user").fetchone()[0]
    assert f"ALTER ROLE {role} SET statement_timeout = 0" in (error.hint or "")
    # the cancelled batch rolled back with its checkpoint: the first batch alone is in
    assert tables.execute("SELECT count(*) FROM dst").fetchone()[0] == 300
    assert checkpoints.load(tables, "test:copy-numbers").position == 300

    tables.execute(sql.SQL("ALTER DATABASE {} RESET statement_timeout").format(db))
    with psycopg.connect(tables.info.dsn, autocommit=True) as unlimited:
        report = execute(CopyNumbers(size=300), unlimited)
    assert report.status == "ok" and report.resumed_from == 300
    assert tables.execute("SELECT count(*), count(DISTINCT id) FROM dst").fetchone() == (1000, 1000)


def test_a_batch_an_administrator_cancels_is_named_and_resumes(tables: psycopg.Connection) -> None:
    with psycopg.connect(tables.info.dsn, autocommit=True) as run_conn:
        pid = run_conn.info.backend_pid
        canceller = threading.Timer(0.5, lambda: tables.execute("SELECT pg_cancel_backend(%s)", (pid,)))
        canceller.start()
        try:
            with pytest.raises(MigrataError) as cancelled:
                execute(CopyNumbers(size=300, slow_at_batch=2), run_conn)
        finally:
            canceller.join()
    assert cancelled.value.message == (
        "test:copy-numbers: Postgres cancelled a statement (canceling statement due to user request)"
    )
    assert "a rerun resumes after the last committed batch" in (cancelled.value.hint or "")
    assert checkpoints.load(tables, "test:copy-numbers").position == 300
    assert tables.execute("SELECT count(*) FROM dst").fetchone()[0] == 300


def test_a_store_without_core_is_refused_before_any_batch(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as bare:  # `core` (migrata_checkpoints) not applied
        bare.execute("CREATE TABLE src (id int PRIMARY KEY, v bigint NOT NULL)")
        bare.execute("CREATE TABLE dst (id int PRIMARY KEY, v bigint NOT NULL)")
        bare.execute("INSERT INTO src SELECT g, g FROM generate_series(1, 10) g")
        op = CopyNumbers(size=5)
        with pytest.raises(PreconditionError, match="migrata_checkpoints does not exist") as refused:
            execute(op, bare)
        assert "migrata migrate upgrade core" in (refused.value.hint or "")
        assert op.calls == 0 and bare.execute("SELECT count(*) FROM dst").fetchone()[0] == 0


def test_failed_verification_reports_failure(tables: psycopg.Connection) -> None:
    execute(CopyNumbers(size=500), tables)
    tables.execute("UPDATE dst SET v = v + 1 WHERE id = 10")
    op = CopyNumbers(size=500)
    report = execute(op, tables)  # nothing left to copy, but verification still runs
    assert report.status == "failed"
    assert report.failed_checks[0].name == "checksum"


def test_step_reverse_and_irreversible() -> None:
    step = Step("make t", "CREATE TABLE t ()", "DROP TABLE t")
    assert step.reverse().sql == "DROP TABLE t"
    with pytest.raises(NotImplementedError, match="cannot be reversed"):
        Step("drop it", "DROP TABLE t").reverse()
