"""Lazy repair: load_metadata repairs an undecodable entry once, even with many concurrent callers."""

from __future__ import annotations

import threading

import psycopg
import pytest

from migrata_samples.parquet_store import Generated
from python_ops.engines.context import Engines
from python_ops.errors import MigrataError
from python_ops.parquet_repair import MetadataLoader, load_metadata
from python_ops.parquet_repair.storage import Storage
from tests.python_ops.parquet_repair.conftest import STORE, CountingStorage, decodes, entries


def test_concurrent_callers_share_one_storage_read(
    conn: psycopg.Connection,
    dsn: str,
    storage: Storage,
    damaged: Generated,
    engines: Engines,
) -> None:
    counting = CountingStorage(storage, delay_s=0.3)  # a slow store keeps all callers in flight
    loader = MetadataLoader(engines, counting, STORE)
    path = damaged.of("legacy")[0]
    callers = 8
    barrier = threading.Barrier(callers)
    results: list[int] = []
    errors: list[BaseException] = []

    def call() -> None:
        barrier.wait()
        try:
            results.append(loader.load(path).num_rows)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    expected = conn.execute(
        "SELECT num_rows FROM partition_metadata WHERE file_path = %s", (path,)
    ).fetchone()
    assert results == [expected[0]] * callers  # type: ignore[index]
    assert counting.reads == 1 and loader.repairs == 1
    assert decodes(entries(conn)[path])
    loader.load(path)  # now served from the repaired cache
    assert counting.reads == 1


def test_healthy_entry_never_touches_storage(
    dsn: str, storage: Storage, damaged: Generated, engines: Engines
) -> None:
    counting = CountingStorage(storage)
    healthy = next(p for p in damaged.paths if not any(p in v for v in damaged.damaged.values()))
    assert load_metadata(engines, healthy, storage=counting, store=STORE).num_rows > 0
    assert counting.reads == 0


def test_missing_file_raises_and_leaves_the_entry(
    conn: psycopg.Connection,
    dsn: str,
    storage: Storage,
    damaged: Generated,
    engines: Engines,
) -> None:
    path = damaged.of("missing")[0]
    before = entries(conn)[path]
    with pytest.raises(MigrataError, match="file-missing"):
        MetadataLoader(engines, storage, STORE).load(path)
    assert entries(conn)[path] == before
