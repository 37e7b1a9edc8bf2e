"""Own `verify`: every entry decodes with the current reader and equals its file's own footer.

For each entry the cached footer is decoded, the file's footer is range-read from storage (in a
thread pool), and `num_rows` and the schema are compared. Read-only, always a full pass, on the
shared runner for batching and progress.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import psycopg

from python_ops.parquet_repair import footer as ft
from python_ops.parquet_repair import store as st
from python_ops.parquet_repair.models import Issue, IssueKind, StoreConfig
from python_ops.parquet_repair.plan import verify_plan
from python_ops.parquet_repair.storage import Storage, StorageIssue
from python_ops.runner import Batch, Check, Operation, Plan, ProgressCallback, Report, checkpoints, execute

if TYPE_CHECKING:
    from python_ops.engines.context import Engines


def compare_entry(storage: Storage, path: str, cached: bytes) -> Issue | None:
    """Return why the cached footer of `path` is not the file's, or None when they agree."""
    try:
        meta = ft.decode(cached)
    except ft.DECODE_ERRORS as exc:
        return Issue(path, "undecodable", str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "")
    try:
        own = ft.decode(storage.read_footer(path))
    except StorageIssue as exc:
        return Issue(path, exc.kind.value, exc.detail)
    except ft.DECODE_ERRORS as exc:
        return Issue(path, IssueKind.FILE_CORRUPT.value, str(exc)[:200])
    if meta.num_rows != own.num_rows:
        return Issue(path, "num-rows-differ", f"cache {meta.num_rows}, file {own.num_rows}")
    if not meta.schema.equals(own.schema):
        return Issue(path, "schema-differs", "cached schema differs from the file's")
    return None


class VerifyOperation(Operation):
    """Compare every entry with its file; the checks fail on any difference."""

    def __init__(
        self, store: StoreConfig, storage: Storage, pool: ThreadPoolExecutor, chunk: int = 1000
    ) -> None:
        self.name = f"parquet_verify:{store.table}"
        self.store, self.storage, self.pool, self.chunk = store, storage, pool, chunk
        self.issues: list[Issue] = []
        self.checked = 0
        self._query = st.entries_page_query(store)

    def plan(self, conn: psycopg.Connection) -> Plan:
        return verify_plan(self.name, self.store, st.check_store(conn, self.store))

    def run_batch(self, conn: psycopg.Connection, position: Any, plan: Plan) -> Batch:
        if position is None:
            self.issues, self.checked = [], 0
        rows = st.page(conn, self._query, position["after"] if position else None, self.chunk)
        found = self.pool.map(lambda row: compare_entry(self.storage, row[0], row[1]), rows)
        self.issues.extend(i for i in found if i is not None)
        self.checked += len(rows)
        return Batch(len(rows), {"after": rows[-1][0]} if rows else position, done=len(rows) < self.chunk)

    def verify(self, conn: psycopg.Connection, plan: Plan) -> list[Check]:
        kinds = Counter(i.kind for i in self.issues)
        undecodable = kinds.pop("undecodable", 0)
        differ = kinds.pop("num-rows-differ", 0) + kinds.pop("schema-differs", 0)
        unreadable = sum(kinds.values())
        return [
            Check("every entry decodes", undecodable == 0, 0, undecodable),
            Check("num_rows and schema equal the file's", differ == 0, 0, differ),
            Check("every file readable", unreadable == 0, 0, unreadable, ", ".join(sorted(kinds))),
            Check("every entry checked", self.checked == plan.total, plan.total, self.checked),
        ]


def verify(
    engines: Engines,
    store: StoreConfig,
    storage: Storage,
    *,
    workers: int = 8,
    on_progress: ProgressCallback | None = None,
) -> Report:
    """Check that every entry decodes and equals its file's footer (num_rows, schema)."""
    with (
        engines.connect(autocommit=True) as conn,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="parquet-verify") as pool,
    ):
        st.check_store(conn, store)
        storage.require_reachable()  # otherwise every entry would read as its own failure
        op = VerifyOperation(store, storage, pool)
        checkpoints.clear(conn, op.name)  # read-only: always a full pass
        report = execute(op, conn, on_progress=on_progress)
    report.details["issues"] = [i.as_row() for i in op.issues[:20]]
    report.details["issue_count"] = len(op.issues)
    report.details["checked"] = op.checked
    return report
