"""Killed mid-repair and rerun: the rerun finishes the rest, no entry is half-updated, the backup holds."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import psycopg

from migrata_samples.parquet_store import Generated
from python_ops.engines.context import Engines
from python_ops.parquet_repair import repair
from python_ops.parquet_repair.storage import Storage
from python_ops.runner import checkpoints
from tests.python_ops.parquet_repair.conftest import STORE, CountingStorage, decodes, entries

OP = "parquet_repair:partition_metadata"


def _repaired(conn: psycopg.Connection, generated: Generated) -> list[str]:
    now = entries(conn)
    damaged = generated.of("legacy") + generated.of("corrupt") + generated.of("truncated")
    return sorted(p for p in damaged if decodes(now[p]))


def test_crash_inside_a_batch_rolls_it_back_and_rerun_finishes(
    conn: psycopg.Connection,
    storage: Storage,
    repairable: Generated,
    engines: Engines,
) -> None:
    before = entries(conn)
    crashing = CountingStorage(storage, fail_on=10)  # batches of 4: two commit, the third dies mid-way
    try:
        repair(engines, STORE, crashing, batch_size=4, workers=1)
        raise AssertionError("the simulated crash did not happen")
    except RuntimeError:
        pass
    targets = sorted(repairable.of("legacy") + repairable.of("corrupt") + repairable.of("truncated"))
    assert _repaired(conn, repairable) == targets[:8]  # whole batches only
    saved = checkpoints.load(conn, OP)
    assert saved is not None and saved.status == "running" and saved.units == 8
    backup = saved.position["backup"]

    report = repair(engines, STORE, storage, batch_size=4, workers=1)
    assert report.status == "ok"
    assert report.resumed_from == {"after": targets[7], "backup": backup}
    assert report.details["migrated"] == 4 and report.details["backup_table"] == backup
    assert _repaired(conn, repairable) == targets
    assert set(entries(conn)) == set(before)
    assert conn.execute("SELECT count(*) FROM migration_backups").fetchone()[0] == 1  # type: ignore[index]
    saved_rows = {r[0]: bytes(r[1]) for r in conn.execute(f'SELECT file_path, metadata FROM "{backup}"')}
    assert saved_rows == {p: before[p] for p in targets}


def test_sigkill_after_two_batches_then_rerun(
    conn: psycopg.Connection,
    dsn: str,
    storage: Storage,
    repairable: Generated,
    engines: Engines,
) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from python_ops.engines.context import Engines
        from python_ops.parquet_repair import repair, Storage, StoreConfig

        def die_after_two(event):
            if event.phase == "run" and event.batch == 2:
                os.kill(os.getpid(), signal.SIGKILL)

        repair(Engines.from_dsn({dsn!r}), StoreConfig(), Storage.from_url({storage.root!r}), batch_size=3,
               workers=2, on_progress=die_after_two)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd(), capture_output=True, timeout=120)
    assert result.returncode == -9, result.stderr.decode()[-2000:]
    assert len(_repaired(conn, repairable)) == 6
    report = repair(engines, STORE, storage, batch_size=3)
    assert report.status == "ok" and report.resumed_from is not None
    assert report.details["migrated"] == 6
    assert len(_repaired(conn, repairable)) == 12


def test_killed_between_the_backup_and_the_first_batch_the_rerun_makes_no_second_backup(
    conn: psycopg.Connection, dsn: str, storage: Storage, repairable: Generated
) -> None:
    """Issue 17 item 9: the backup is made in the first batch's transaction, so a kill right after it
    (here: at the first footer read) leaves no backup behind, and the rerun makes exactly one."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from python_ops.engines.context import Engines
        from python_ops.parquet_repair import repair, Storage, StoreConfig

        class DiesAtFirstRead(Storage):
            def read_footer(self, path):
                os.kill(os.getpid(), signal.SIGKILL)

        base = Storage.from_url({storage.root!r})
        repair(Engines.from_dsn({dsn!r}), StoreConfig(), DiesAtFirstRead(base.fs, base.root, base.url),
               batch_size=4, workers=1)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd(), capture_output=True, timeout=120)
    assert result.returncode == -9, result.stderr.decode()[-2000:]
    backup_tables = "SELECT count(*) FROM pg_class WHERE relname LIKE 'partition_metadata_backup_%'"
    assert conn.execute(backup_tables).fetchone() == (0,)
    report = repair(Engines.from_dsn(dsn), STORE, storage, batch_size=4)
    assert report.status == "ok" and report.details["migrated"] == 12
    assert conn.execute("SELECT count(*) FROM migration_backups").fetchone() == (1,)
    assert conn.execute(backup_tables).fetchone() == (1,)
