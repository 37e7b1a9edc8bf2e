"""Reliability: faults at every phase, ClickHouse failing mid-run, rows arriving during a run, a resumed
run counting each row once, the per-(table, dataset) lock, and a `migrata archive run` process killed
at random points — then rerun: nothing lost, nothing doubled."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from migrata_samples import archive_rows as sample
from python_ops.archive import transport
from python_ops.db import cancelled
from python_ops.engines import control
from python_ops.engines.clickhouse import quote_ident
from python_ops.engines.context import Engines
from python_ops.errors import EngineError, PreconditionError
from python_ops.locks import operation_lock
from python_ops.settings import MigrataSettings
from tests.python_ops.archive.conftest import NOW, TABLES, all_ids, assert_consistent, run, with_archive

TABLE = "lifecycle_audit_log"


class Boom(RuntimeError):
    """The injected fault."""


class Fault:
    """A hook raising at the `nth` time the run reaches `phase`."""

    def __init__(self, phase: str, nth: int = 1) -> None:
        self.phase, self.nth, self.seen = phase, nth, 0

    def __call__(self, phase: str) -> None:
        if phase == self.phase:
            self.seen += 1
            if self.seen == self.nth:
                raise Boom(f"injected at {phase} #{self.nth}")


def _state(conn: psycopg.Connection) -> tuple[object, ...]:
    counts = tuple(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES)  # type: ignore[index]
    return counts, conn.execute("SELECT * FROM migration_watermarks ORDER BY 1, 2").fetchall()


@pytest.mark.parametrize("phase", ["copy", "verify", "watermark", "cleanup"])
def test_fault_at_each_phase_then_rerun(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]], phase: str
) -> None:
    cfg = with_archive(settings, copy_batch_rows=150, batch_size=100)  # several slices and delete batches
    before = _state(conn)
    with pytest.raises(Boom):
        run(
            cfg,
            table=TABLE,
            now=NOW,
            cleanup=True,
            hook=Fault(phase, nth=2 if phase in ("copy", "cleanup") else 1),
        )
    if phase != "cleanup":  # nothing verified yet: Postgres untouched, watermark unchanged
        assert _state(conn) == before
    else:  # verified and watermarked; one delete batch committed before the fault
        assert _state(conn)[1] != before[1]
    assert_consistent(conn, cfg, seeded, settled=False)

    reports = run(cfg, table=TABLE, now=NOW, cleanup=True)
    assert all(r.ok for r in reports), [r.summary() for r in reports]
    assert_consistent(conn, cfg, seeded)


def test_random_faults_repeatedly_both_transports(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]]
) -> None:
    rng = random.Random(4)
    now = NOW
    expected = seeded
    for i in range(6):
        cfg = with_archive(
            settings,
            transport=rng.choice(["pull", "push"]),
            copy_batch_rows=rng.choice([100, 400, 5000]),
            batch_size=rng.choice([50, 300]),
        )
        sample.generate(conn, rows=120, days=30, datasets=2, now=now, tag=f"r{i}", tables=(TABLE,))
        expected = all_ids(conn) | {t: expected[t] | all_ids(conn)[t] for t in TABLES}
        fault = Fault(rng.choice(["copy", "verify", "watermark", "cleanup"]), rng.choice([1, 2, 3]))
        with contextlib.suppress(Boom):
            run(cfg, table=TABLE, now=now, cleanup=True, hook=fault)
        assert_consistent(conn, cfg, expected, settled=False, cutoff=now - timedelta(hours=168))
        now += timedelta(hours=rng.choice([0, 5, 30]))
    reports = run(settings, table=TABLE, now=now, cleanup=True)
    assert all(r.ok for r in reports), [(r.summary(), r.failed_checks) for r in reports]
    assert_consistent(conn, settings, expected, cutoff=now - timedelta(hours=168))


def test_clickhouse_failing_mid_run_leaves_postgres_and_watermark(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]]
) -> None:
    cfg = with_archive(settings, copy_batch_rows=40)  # dataset 1 alone takes several slices
    run(cfg, table=TABLE, now=NOW - timedelta(days=5), cleanup=True)  # an existing watermark to keep
    before = _state(conn)

    def lose_postgres(phase: str) -> None:  # ClickHouse can no longer reach Postgres after slice 1
        if phase == "copy" and lose_postgres.calls == 1:  # type: ignore[attr-defined]
            with control.clickhouse(cfg) as ch:
                ch.command(f"DROP NAMED COLLECTION IF EXISTS {cfg.clickhouse.pg_collection}")
        lose_postgres.calls += 1  # type: ignore[attr-defined]

    lose_postgres.calls = 0  # type: ignore[attr-defined]
    with pytest.raises(EngineError, match="ClickHouse could not copy lifecycle_audit_log") as err:
        run(cfg, table=TABLE, now=NOW, cleanup=True, hook=lose_postgres)
    assert "TRANSPORT=push" in (err.value.hint or "")
    assert _state(conn) == before

    control.configure_clickhouse(cfg)
    assert all(r.ok for r in run(cfg, table=TABLE, now=NOW, cleanup=True))
    assert_consistent(conn, cfg, seeded)


def test_a_pull_read_cancelled_by_statement_timeout_names_the_setting_not_the_connection(
    settings: MigrataSettings, conn: psycopg.Connection
) -> None:
    # what a store with a statement_timeout for its applications' role does to a long slice's COPY
    conn.execute("CREATE VIEW slow_rows AS SELECT 1 AS x FROM pg_sleep(2)")
    conn.execute(
        sql.SQL("ALTER DATABASE {} SET statement_timeout = '300ms'").format(sql.Identifier(conn.info.dbname))
    )
    source = f"postgresql({quote_ident(settings.clickhouse.pg_collection)}, table='slow_rows')"
    with control.clickhouse(settings) as ch:
        ch.command("CREATE TABLE slow_copy (x UInt8) ENGINE = Memory")
        with pytest.raises(Exception) as raised:
            transport.pull(ch, f"INSERT INTO slow_copy SELECT x FROM {source}", table="slow_rows",
                           block_rows=1000, block_bytes=1 << 20, insert_threads=1)  # fmt: skip
    # not "ClickHouse could not copy … check that ClickHouse reaches Postgres": it did
    assert not isinstance(raised.value, EngineError), raised.value
    error = cancelled(raised.value, "archive_copy:slow_rows")
    assert error is not None, raised.value
    assert error.message.startswith("archive_copy:slow_rows: Postgres cancelled a statement after")
    assert "ALTER ROLE" in (error.hint or "") and "postgresql() reads" in (error.hint or "")


def test_rows_inserted_during_a_run_are_not_lost(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]], dsn: str
) -> None:
    run(settings, table=TABLE, now=NOW - timedelta(days=3), cleanup=True)

    seen: set[str] = set()

    def writer(phase: str) -> None:  # another client writes while the run copies and verifies
        if phase in ("copy", "verify") and phase not in seen:
            seen.add(phase)
            with psycopg.connect(dsn, autocommit=True) as other:
                for days, tag in ((0, "fresh"), (7.5, "inrange"), (12, "late")):
                    sample.generate(other, rows=10, days=1, datasets=2, now=NOW - timedelta(days=days),
                                    tag=f"{tag}-{phase}", tables=(TABLE,))  # fmt: skip

    first = run(settings, table=TABLE, now=NOW, cleanup=True, hook=writer)
    copy = next(r for r in first if r.operation.startswith("archive_copy"))
    assert not copy.ok  # rows landed in the range after the copy: verification says so, nothing advanced
    new = {
        f"lal-{tag}-{phase}-{g}"
        for tag in ("fresh", "inrange", "late")
        for phase in seen
        for g in range(1, 11)
    }
    assert len(new) == 60
    for _ in range(2):
        assert all(r.ok for r in run(settings, table=TABLE, now=NOW, cleanup=True))
    assert_consistent(conn, settings, seeded | {TABLE: seeded[TABLE] | new})


def test_a_resumed_run_counts_each_row_once(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]]
) -> None:
    """Issue 17 item 8: a slice that reached ClickHouse before its batch's commit was lost is copied again
    on resume; the report counts its rows once (it said 226,667 rows for a plan of 200,000)."""
    cfg = with_archive(settings, copy_batch_rows=150)
    name = f"archive_copy:{TABLE}:ds-1"

    def saved() -> tuple[object, ...]:
        row = conn.execute(
            "SELECT position, units, batches FROM migrata_checkpoints WHERE operation = %s", (name,)
        ).fetchone()
        assert row is not None
        return tuple(row)

    with pytest.raises(Boom):  # slice 1 committed
        run(cfg, table=TABLE, dataset_id="ds-1", now=NOW, hook=Fault("copy", nth=2))
    first = saved()
    with pytest.raises(Boom):  # resumed: slice 2 committed
        run(cfg, table=TABLE, dataset_id="ds-1", now=NOW, hook=Fault("copy", nth=2))
    assert saved() != first
    # the crash this stands for: slice 2 is in ClickHouse, but the commit of its batch was lost
    position, units, batches = first
    conn.execute(
        "UPDATE migrata_checkpoints SET position = %s, units = %s, batches = %s WHERE operation = %s",
        (Jsonb(position), units, batches, name),
    )
    (report,) = run(cfg, table=TABLE, dataset_id="ds-1", now=NOW)
    assert report.ok and report.resumed_from == position and report.batches > 3
    assert report.units_done == report.plan.total == report.details["records_migrated"]
    assert_consistent(conn, cfg, seeded, settled=False)


def test_a_second_run_of_the_same_table_and_dataset_fails_at_once_naming_the_holder(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]]
) -> None:
    engines = Engines.from_settings(settings)
    watermarks = "SELECT count(*) FROM migration_watermarks"
    before = conn.execute(watermarks).fetchone()
    with operation_lock(engines, "archive", f"{TABLE}/ds-1"):  # another run holds (lifecycle_audit_log, ds-1)
        held = rf"archive of {TABLE}/ds-1 is already running \(pid {os.getpid()} on "
        with pytest.raises(PreconditionError, match=held):
            run(settings, table=TABLE, now=NOW)
        assert conn.execute(watermarks).fetchone() == before  # nothing written
        other = run(settings, table=TABLE, dataset_id="ds-2", now=NOW)  # another pair runs side by side
        assert [r.status for r in other] == ["ok"]

    holding = threading.Event()

    def hold_for_a_while() -> None:
        with operation_lock(engines, "archive", f"{TABLE}/ds-1"):
            holding.set()
            time.sleep(1.5)

    thread = threading.Thread(target=hold_for_a_while)
    thread.start()
    assert holding.wait(10)
    started = time.monotonic()
    waited = run(settings, table=TABLE, dataset_id="ds-1", now=NOW, wait=True)  # waits for the holder
    thread.join()
    assert [r.status for r in waited] == ["ok"] and time.monotonic() - started >= 1.0
    assert_consistent(conn, settings, seeded)


def test_killed_cli_process_loses_nothing(
    settings_env: MigrataSettings, conn: psycopg.Connection, dsn: str
) -> None:
    now = datetime.now(UTC)
    sample.generate(conn, rows=4000, days=30, datasets=2, now=now)
    expected = all_ids(conn)
    env = os.environ | {
        "MIGRATA_ARCHIVE__COPY_BATCH_ROWS": "300",
        "MIGRATA_ARCHIVE__BATCH_SIZE": "200",
        "MIGRATA_ARCHIVE__TRANSPORT": "pull",
        "MIGRATA_ARCHIVE__CLEANUP_AFTER_RUN": "true",  # the trials kill cleanups too
    }
    cli = [str(Path(sys.executable).with_name("migrata")), "--quiet", "archive", "run"]
    rng = random.Random(7)
    killed = 0
    for i in range(4):
        env["MIGRATA_ARCHIVE__TRANSPORT"] = "push" if i % 2 else "pull"
        proc = subprocess.Popen(cli, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(1.2, 2.6))  # past start-up (≈1 s), somewhere inside the run
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
        assert_consistent(conn, settings_env, expected, settled=False, cutoff=now + timedelta(minutes=5))
        sample.generate(conn, rows=50, days=30, datasets=2, now=now, tag=f"k{i}")
        expected = {t: expected[t] | ids for t, ids in all_ids(conn).items()}
    assert killed >= 2
    final = subprocess.run(cli, env=env, capture_output=True, text=True, check=False)
    assert final.returncode == 0, final.stdout + final.stderr
    assert_consistent(conn, settings_env, expected, cutoff=datetime.now(UTC))
