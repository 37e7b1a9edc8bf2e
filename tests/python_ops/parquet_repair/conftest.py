"""Fixtures for the parquet repair tests: a local object store and a cache filled with real footers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from migrata_samples.parquet_store import Generated, damage_store, generate_store
from python_ops.engines.context import Engines
from python_ops.parquet_repair import footer as ft
from python_ops.parquet_repair.models import StoreConfig
from python_ops.parquet_repair.storage import Storage

STORE = StoreConfig()


class CountingStorage(Storage):
    """Storage that counts footer reads and can fail the Nth read (a crash in the middle of a batch)."""

    def __init__(self, base: Storage, *, delay_s: float = 0.0, fail_on: int | None = None) -> None:
        super().__init__(base.fs, base.root, base.url)
        self.delay_s = delay_s
        self.fail_on = fail_on
        self.reads = 0

    def read_footer(self, path: str) -> bytes:
        with self._lock:
            self.reads += 1
            n = self.reads
        if self.fail_on is not None and n >= self.fail_on:
            raise RuntimeError("simulated crash while reading footers")
        if self.delay_s:
            time.sleep(self.delay_s)
        return super().read_footer(path)


@pytest.fixture
def engines(dsn: str) -> Engines:
    return Engines.from_dsn(dsn)


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    (tmp_path / "objects").mkdir()
    return Storage.from_url(str(tmp_path / "objects"))


@pytest.fixture
def damaged(conn: psycopg.Connection, storage: Storage) -> Generated:
    """40 files; 20 damaged: 8 legacy, 4 corrupt, 4 truncated, 4 missing; 3 bad files (legacy cache)."""
    generated = generate_store(conn, STORE, storage, 40, max_rows=400)
    return damage_store(
        conn,
        STORE,
        storage,
        generated,
        0.5,
        mix={"legacy": 0.4, "corrupt": 0.2, "truncated": 0.2, "missing": 0.2},
        bad_files=("zero-length", "not-parquet", "directory"),
    )


@pytest.fixture
def repairable(conn: psycopg.Connection, storage: Storage) -> Generated:
    """30 files; 12 damaged, all repairable from storage (legacy, corrupt, truncated)."""
    generated = generate_store(conn, STORE, storage, 30, max_rows=300)
    return damage_store(
        conn, STORE, storage, generated, 0.4, mix={"legacy": 0.5, "corrupt": 0.25, "truncated": 0.25}
    )


def entries(conn: psycopg.Connection) -> dict[str, bytes]:
    return {r[0]: bytes(r[1]) for r in conn.execute("SELECT file_path, metadata FROM partition_metadata")}


def decodes(raw: bytes) -> bool:
    try:
        ft.decode(raw)
        return True
    except OSError:
        return False


@pytest.fixture
def snapshot(conn: psycopg.Connection) -> Iterator[dict[str, bytes]]:
    yield entries(conn)
