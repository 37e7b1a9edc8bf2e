"""Own lazy repair (seed 001, option 3): `load_metadata(file_path)` decodes the cached footer and,
when the current reader cannot, repairs that one entry from storage on the spot.

Concurrent callers for the same file share one repair (single-flight per key): the first becomes
the leader and reads the footer once; the others wait for its result. The entry is replaced only if
it still holds the bytes the leader saw (compare-and-set), so a concurrent batch repair is never
overwritten; a failed repair leaves the entry as it was and raises for every waiting caller.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING

import psycopg
import pyarrow.parquet as pq

from python_ops.errors import MigrataError, PreconditionError
from python_ops.parquet_repair import footer as ft
from python_ops.parquet_repair import store as st
from python_ops.parquet_repair.models import StoreConfig
from python_ops.parquet_repair.refetch import refetch
from python_ops.parquet_repair.storage import Storage

if TYPE_CHECKING:
    from python_ops.engines.context import Engines


class MetadataLoader:
    """Decoded footers by file path, repairing undecodable cache entries once, from storage."""

    def __init__(self, engines: Engines, storage: Storage, store: StoreConfig | None = None) -> None:
        self.engines = engines
        self.storage = storage
        self.store = store or StoreConfig()
        self.repairs = 0  # entries this loader rewrote
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[pq.FileMetaData]] = {}
        self._local = threading.local()

    def _conn(self) -> psycopg.Connection:
        # one autocommit connection per thread: callers run concurrently
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._local.conn = self.engines.connect(autocommit=True, application_name="migrata-lazy")
        return conn

    def load(self, file_path: str) -> pq.FileMetaData:
        """Return the decoded footer of `file_path`, repairing its cache entry first if needed."""
        raw = st.read_entry(self._conn(), self.store, file_path)
        if raw is None:
            raise PreconditionError(
                f"no cached footer for {file_path!r} in {self.store.table}",
                hint="check the path; entries are added by the writer that creates the file",
            )
        try:
            return ft.decode(raw)
        except ft.DECODE_ERRORS:
            return self._repair_once(file_path)

    def _repair_once(self, file_path: str) -> pq.FileMetaData:
        with self._lock:
            future = self._inflight.get(file_path)
            leader = future is None
            if future is None:
                future = self._inflight[file_path] = Future()
        if not leader:
            return future.result()
        try:
            meta = self._repair(file_path)
            future.set_result(meta)
            return meta
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._inflight.pop(file_path, None)

    def _repair(self, file_path: str) -> pq.FileMetaData:
        conn = self._conn()
        raw = st.read_entry(conn, self.store, file_path) or b""
        try:  # repaired by someone else between our read and becoming the leader
            return ft.decode(raw)
        except ft.DECODE_ERRORS:
            pass
        result = refetch(self.storage, file_path, raw)
        if result.footer is None:
            issue = result.issue
            raise MigrataError(
                f"cannot repair the cached footer of {file_path!r}: {issue.kind if issue else 'unknown'}",
                hint=f"{issue.detail if issue else ''}; the entry was left unchanged — "
                "run `migrata parquet scan` for the full picture",
            )
        if st.compare_and_set(conn, self.store, file_path, raw, result.footer):
            with self._lock:
                self.repairs += 1
        return ft.decode(result.footer)


_loaders: dict[tuple[str, str, StoreConfig], MetadataLoader] = {}
_loaders_lock = threading.Lock()


def loader_for(engines: Engines, storage: Storage, store: StoreConfig | None = None) -> MetadataLoader:
    """The shared loader for one (database, storage, table): single-flight spans all its callers."""
    key = (engines.postgres_dsn, storage.url, store or StoreConfig())
    with _loaders_lock:
        if key not in _loaders:
            _loaders[key] = MetadataLoader(engines, storage, store)
        return _loaders[key]


def load_metadata(
    engines: Engines, file_path: str, *, storage: Storage, store: StoreConfig | None = None
) -> pq.FileMetaData:
    """Decode the cached footer of `file_path`; repair it from storage once if the reader cannot."""
    return loader_for(engines, storage, store).load(file_path)
