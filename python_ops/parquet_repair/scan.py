"""Own `scan`: classify every cached footer as ok / legacy-undecodable / corrupt / file-missing.

Runs on the shared runner in key-ordered pages. It is read-only and always a full pass (its
checkpoint is cleared first). Storage is listed once (not one request per entry) to find entries
whose file is gone; an unreachable storage is reported as a failed check, and entries are still
classified by their cached bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg

from python_ops.parquet_repair import store as st
from python_ops.parquet_repair.footer import classify
from python_ops.parquet_repair.models import ClassCounts, EntryClass, StoreConfig
from python_ops.parquet_repair.plan import scan_plan
from python_ops.parquet_repair.storage import Storage, StorageIssue
from python_ops.runner import Batch, Check, Operation, Plan, ProgressCallback, Report, checkpoints, execute

if TYPE_CHECKING:
    from python_ops.engines.context import Engines

DECODABLE_CHECK = "0 undecodable entries"


class ScanOperation(Operation):
    """Classify all entries; checks fail when any entry needs repair."""

    def __init__(
        self, store: StoreConfig, storage: Storage | None, *, check_files: bool = True, chunk: int = 5000
    ) -> None:
        self.name = f"parquet_scan:{store.table}"
        self.store = store
        self.storage = storage
        self.check_files = check_files and storage is not None
        self.chunk = chunk
        self.counts = ClassCounts()
        self.files: set[str] | None = None
        self.storage_error = ""
        self._query = st.entries_page_query(store)

    def plan(self, conn: psycopg.Connection) -> Plan:
        return scan_plan(self.name, self.store, st.check_store(conn, self.store), self.check_files)

    def _list_files(self) -> None:
        assert self.storage is not None
        try:
            self.files = set(self.storage.list_files())
        except StorageIssue as exc:
            self.files, self.storage_error = None, f"{exc.kind.value}: {exc.detail}"

    def run_batch(self, conn: psycopg.Connection, position: Any, plan: Plan) -> Batch:
        if position is None:
            self.counts = ClassCounts()
            if self.check_files:
                self._list_files()
        after = position["after"] if position else None
        rows = st.page(conn, self._query, after, self.chunk)
        for path, meta in rows:
            cls, detail = classify(meta)
            if self.files is not None and path not in self.files:
                detail, cls = f"cache is {cls.value}", EntryClass.FILE_MISSING
            self.counts.add(cls, path, detail)
        new_position = {"after": rows[-1][0]} if rows else position
        return Batch(len(rows), new_position, done=len(rows) < self.chunk)

    def verify(self, conn: psycopg.Connection, plan: Plan) -> list[Check]:
        undecodable = self.counts.undecodable
        checks = [
            Check(DECODABLE_CHECK, undecodable == 0, 0, undecodable, "legacy-undecodable + corrupt entries"),
        ]
        if self.check_files:
            missing = self.counts.counts[EntryClass.FILE_MISSING.value]
            checks.append(Check("0 entries whose file is missing", missing == 0, 0, missing))
            checks.append(
                Check("storage reachable", not self.storage_error, "listed", self.storage_error or "listed")
            )
        return checks

    def summary(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts.counts),
            "undecodable": self.counts.undecodable,
            "needs_repair": self.counts.counts[EntryClass.LEGACY.value]
            + self.counts.counts[EntryClass.CORRUPT.value],
            "examples": self.counts.examples,
            "files_checked": self.files is not None,
            "storage_error": self.storage_error,
        }


def scan(
    engines: Engines,
    store: StoreConfig,
    storage: Storage | None = None,
    *,
    check_files: bool = True,
    chunk: int = 5000,
    on_progress: ProgressCallback | None = None,
) -> Report:
    """Classify every entry of the footer cache; the report fails when anything needs repair."""
    op = ScanOperation(store, storage, check_files=check_files, chunk=chunk)
    with engines.connect(autocommit=True) as conn:
        checkpoints.clear(conn, op.name)  # read-only: always a full pass, never a resume
        report = execute(op, conn, on_progress=on_progress)
    report.details.update(op.summary())
    return report
