"""Own `repair` and its inverse `restore`, both on the shared runner.

repair: plan (check the store and that the storage root is reachable, preconditions before any write;
classify every entry with the current reader) → batches: the first one locks every affected
entry and backs them up (verified, registered) in its own transaction, so the backup exists exactly
when the run's first checkpoint names it and a rerun after any kill reuses it; then each batch locks
its entries, re-checks them, takes each file's footer range-read, re-serialized and validated in a
thread pool (read ahead while the previous statements ran, used only for entries still holding the
bytes they were classified from), writes the whole batch with one UPDATE and records the entries that
could not be repaired — all in the batch's transaction with its checkpoint, so a killed run resumes
after the last committed batch and no entry is ever half-updated. Entries that fail keep their old
bytes. Planning decodes each footer once (footers lacking num_rows are recognised by a cheap
Thrift check, see `footer.classify_shape`) and hands that structural read to the batch; verification
re-reads every affected entry and decodes each one unless it holds exactly the bytes (by digest) that
refetch decoded before writing. The final report counts migrated / skipped / errors and lists every
issue, also as a JSON or CSV file.

restore: the reverse of the repair's rewrite step (`plan.rewrite_step(...).reverse()`): its plan's SQL
is what it executes. Both verbs take `Engines` first and hold the ("parquet_repair", <table>) lock.
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import hashlib
import json
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from python_ops.errors import PreconditionError
from python_ops.locks import operation_lock
from python_ops.parquet_repair import store as st
from python_ops.parquet_repair.backup import backup_entries, backup_rows
from python_ops.parquet_repair.footer import classify_shape
from python_ops.parquet_repair.models import ClassCounts, EntryClass, Issue, Refetched, StoreConfig
from python_ops.parquet_repair.plan import is_target, repair_plan, restore_plan
from python_ops.parquet_repair.refetch import refetch
from python_ops.parquet_repair.storage import Storage
from python_ops.parquet_repair.thrift_codec import FooterShape
from python_ops.runner import Batch, Check, Operation, Plan, ProgressCallback, Report, execute

if TYPE_CHECKING:
    from python_ops.engines.context import Engines

LOCK = "parquet_repair"  # the operation name of the per-table lock, shared by repair and restore


class RepairOperation(Operation):
    """Re-read undecodable entries' footers from storage and rewrite them, batch by batch."""

    def __init__(
        self,
        store: StoreConfig,
        storage: Storage,
        *,
        batch_size: int = 500,
        workers: int = 8,
        only_legacy: bool = False,
        pool: ThreadPoolExecutor | None = None,
        retention_days: int = 7,
    ) -> None:
        self.name = f"parquet_repair:{store.table}"
        self.store = store
        self.storage = storage
        self.batch_size = batch_size
        self.workers = workers
        self.only_legacy = only_legacy
        self.pool = pool
        self.retention_days = retention_days
        self.targets: list[str] = []
        self.counts = ClassCounts()
        self.backup_table: str | None = None
        self.backup_expected: int | None = None
        self._seen: dict[str, int] = {}  # hash of each target's bytes when classified
        # each target's structural read from classification, handed to refetch (never decoded twice)
        self._shapes: dict[str, FooterShape | None] = {}
        # digest of the bytes this process wrote per entry: refetch decoded exactly those bytes
        self._written: dict[str, bytes] = {}
        # footers re-read ahead of their batch, by the batch's first index in `targets` (see `_read_ahead`)
        self._ahead: dict[int, list[Future[list[Refetched]]]] = {}

    def _classify_many(self, metas: list[bytes]) -> list[tuple[EntryClass, str, FooterShape | None]]:
        # sequential on purpose: measured again with the direct reader (~50 us a footer), slices on a
        # thread pool were no faster on two cores, and slower with more threads
        return [classify_shape(m) for m in metas]

    def _submit(
        self, todo: list[tuple[str, bytes | None, FooterShape | None]]
    ) -> list[Future[list[Refetched]]]:
        assert self.pool is not None
        # one task per slice, not per entry: per-task overhead would eat a local footer read (~0.2 ms)
        size = max(1, -(-len(todo) // (2 * self.workers)))
        return [
            self.pool.submit(
                lambda part: [refetch(self.storage, *entry) for entry in part], todo[i : i + size]
            )
            for i in range(0, len(todo), size)
        ]

    def _refetch_all(self, todo: list[tuple[str, bytes | None, FooterShape | None]]) -> list[Refetched]:
        if self.pool is None or len(todo) < 2:
            return [refetch(self.storage, path, raw, shape) for path, raw, shape in todo]
        return [r for part in self._submit(todo) for r in part.result()]

    def _read_ahead(self, start: int) -> None:
        """Start re-reading the footers of the batch beginning at `start` in the pool, from the shapes
        classification made, so the files are read while this thread waits on Postgres (the backup, the
        lock, the update, the commit). Nothing is written from these results unless the batch finds the
        entry still holding the bytes it was classified from (see `run_batch`). At most the current and
        the next batch are read ahead: memory stays two batches of footers at any store size."""
        if self.pool is None or start >= len(self.targets) or start in self._ahead:
            return
        paths = self.targets[start : start + self.batch_size]
        self._ahead[start] = self._submit([(path, None, self._shapes.get(path)) for path in paths])

    def cancel_read_ahead(self) -> None:
        """Drop footers read ahead for batches that will not run (the run stopped or failed)."""
        for futures in self._ahead.values():
            for future in futures:
                future.cancel()
        self._ahead.clear()

    def find_targets(self, conn: psycopg.Connection) -> None:
        counts, targets, seen, shapes = ClassCounts(), [], {}, {}
        for rows in st.iter_entries(conn, self.store, chunk=10_000):
            for (path, meta), (cls, detail, shape) in zip(
                rows, self._classify_many([r[1] for r in rows]), strict=True
            ):
                counts.add(cls, path, detail)
                if is_target(cls, self.only_legacy):
                    targets.append(path)
                    seen[path] = hash(meta)
                    shapes[path] = shape
        # Python's order decides batches and positions, so resuming never depends on the DB collation.
        self.targets, self.counts, self._seen, self._shapes = sorted(targets), counts, seen, shapes

    def plan(self, conn: psycopg.Connection) -> Plan:
        entries = st.check_store(conn, self.store)
        self.storage.require_reachable()  # before any write: a missing root is not "every file is missing"
        self.find_targets(conn)
        return repair_plan(self.name, self.store, self.counts, len(self.targets), self.only_legacy, entries)

    def _back_up(self, conn: psycopg.Connection) -> None:
        """Lock every affected entry and back them up, inside the first batch's transaction."""
        present = st.lock_paths(conn, self.store, self.targets)
        backup = backup_entries(
            conn, self.store, [p for p in self.targets if p in present], retention_days=self.retention_days
        )
        self.backup_table, self.backup_expected = backup.table, backup.rows

    def _batch_paths(self, position: Any) -> tuple[list[str], int]:
        after = position.get("after") if position else None
        start = 0 if after is None else bisect.bisect_right(self.targets, after)
        return self.targets[start : start + self.batch_size], start

    def run_batch(self, conn: psycopg.Connection, position: Any, plan: Plan) -> Batch:
        saved = (position or {}).get("backup")
        if self.backup_table is None and saved and backup_rows(conn, saved) is not None:
            self.backup_table, self.backup_expected = saved, backup_rows(conn, saved)  # a resumed run's
        chunk, start = self._batch_paths(position)
        # this batch's footers and the next one's are read in the pool while the statements below run
        self._read_ahead(start)
        self._read_ahead(start + len(chunk))
        if self.backup_table is None:
            st.clear_issues(conn, self.name)  # a fresh run reports only its own issues
            self._back_up(conn)
        after = chunk[-1] if chunk else (position or {}).get("after")
        new_position = {"after": after, "backup": self.backup_table}
        if not chunk:
            return Batch(0, new_position, done=True)
        current = st.lock_entries(conn, self.store, chunk)
        ahead = self._ahead.pop(start, [])
        read: dict[str, Refetched] = {r.file_path: r for part in ahead for r in part.result()}
        results: list[Refetched] = []
        redo: list[tuple[str, bytes | None, FooterShape | None]] = []
        skipped = 0
        for path in chunk:
            raw = current.get(path)
            if raw is None:  # gone since planning: leave it
                skipped += 1
                continue
            unchanged = self._seen.get(path) == hash(raw)
            if unchanged and path in read:
                # the very bytes classified: the footer read ahead from their shape is this entry's answer
                results.append(read[path])
                continue
            shape = self._shapes.get(path)
            if not unchanged:
                # changed since planning (e.g. repaired by a lazy load): only still-broken ones are redone
                cls, _detail, shape = classify_shape(raw)
                if not is_target(cls, self.only_legacy):
                    skipped += 1
                    continue
            redo.append((path, raw, shape))
        results += self._refetch_all(redo)
        updates = [(r.file_path, r.footer) for r in results if r.footer is not None]
        issues = [r.issue for r in results if r.issue is not None]
        st.update_entries(conn, self.store, updates)  # type: ignore[arg-type]
        # recorded before commit; an entry whose stored bytes differ later is simply decoded again
        self._written.update((path, _digest(new)) for path, new in updates)  # type: ignore[arg-type]
        st.record_issues(conn, self.name, issues)
        details: dict[str, Any] = {"migrated": len(updates), "skipped": skipped, "errors": len(issues)}
        for kind, n in Counter(i.kind for i in issues).items():
            details[f"errors_{kind}"] = n
        return Batch(len(chunk), new_position, done=start + len(chunk) >= len(self.targets), details=details)

    def verify(self, conn: psycopg.Connection, plan: Plan) -> list[Check]:
        present = 0
        still_bad: list[str] = []
        for i in range(0, len(self.targets), 5000):
            current = list(_read_many(conn, self.store, self.targets[i : i + 5000]).items())
            present += len(current)
            # An entry holding exactly the bytes this run wrote is proven: refetch decoded those very
            # bytes with the current reader before writing them (a checksum comparison, as for backups).
            # Everything else — unrepaired, changed by someone else, written before a resume — is
            # decoded again.
            unproven = [(p, raw) for p, raw in current if self._written.get(p) != _digest(raw)]
            found = self._classify_many([raw for _p, raw in unproven])
            still_bad += [
                p
                for (p, _raw), (cls, _d, _s) in zip(unproven, found, strict=True)
                if cls is not EntryClass.OK
            ]
        reported = {i.file_path for i in st.load_issues(conn, self.name)}
        unexplained = [p for p in still_bad if p not in reported]
        checks = [
            # concurrent writers may add entries; none of the ones this run touched may go missing
            Check("no affected entry lost", present == len(self.targets), len(self.targets), present),
            Check(
                "every unrepaired entry has a reported reason",
                not unexplained,
                0,
                len(unexplained),
                ", ".join(unexplained[:3]),
            ),
            Check("all affected entries decode now", not still_bad, 0, len(still_bad), "see the issue list"),
        ]
        if self.backup_table:
            rows = backup_rows(conn, self.backup_table)
            checks.append(
                Check(
                    f"backup {self.backup_table} intact",
                    rows == self.backup_expected,
                    self.backup_expected,
                    rows,
                )
            )
        return checks


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _read_many(conn: psycopg.Connection, store: StoreConfig, paths: list[str]) -> dict[str, bytes]:
    query = sql.SQL("SELECT {p}, {m} FROM {t} WHERE {p} = ANY(%s)").format(
        p=sql.Identifier(store.path_column),
        m=sql.Identifier(store.metadata_column),
        t=sql.Identifier(store.table),
    )
    with conn.cursor(binary=True) as cur:
        cur.execute(query, (paths,))
        return {r[0]: bytes(r[1] or b"") for r in cur.fetchall()}


def write_issue_file(path: Path, issues: list[Issue]) -> Path:
    """Write the issues as CSV (for a .csv path) or JSON (anything else)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["file_path", "kind", "detail"])
            writer.writeheader()
            writer.writerows(i.as_row() for i in issues)
    else:
        path.write_text(json.dumps([i.as_row() for i in issues], indent=2) + "\n")
    return path


def repair(
    engines: Engines,
    store: StoreConfig,
    storage: Storage,
    *,
    dry_run: bool = False,
    batch_size: int = 500,
    workers: int = 8,
    only_legacy: bool = False,
    report_file: Path | None = None,
    retention_days: int = 7,
    wait: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Report:
    """Repair every entry the current reader cannot decode from its file; resumable; backup first."""
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if not dry_run:
            stack.enter_context(operation_lock(engines, LOCK, store.table, wait=wait))
        conn = stack.enter_context(engines.connect(autocommit=True))
        pool = stack.enter_context(
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="parquet-footer")
        )
        # the plan checks the store and that storage is reachable (preconditions, before any write)
        op = RepairOperation(
            store,
            storage,
            batch_size=batch_size,
            workers=workers,
            only_legacy=only_legacy,
            pool=pool,
            retention_days=retention_days,
        )
        stack.callback(op.cancel_read_ahead)  # before the pool waits for its threads
        report = execute(op, conn, dry_run=dry_run, on_progress=on_progress)
        issues = [] if dry_run else st.load_issues(conn, op.name)
    report.elapsed_s = time.monotonic() - started
    report.details.setdefault("migrated", 0)
    report.details.setdefault("skipped", 0)
    report.details.setdefault("errors", 0)
    report.details["entries"] = report.plan.details.get("entries", 0)
    report.details["classes"] = dict(op.counts.counts)
    report.details["examples"] = op.counts.examples
    if op.backup_table:
        report.details["backup_table"] = op.backup_table
    report.details["footer_reads"] = storage.stats.files
    report.details["storage_requests"] = storage.stats.requests
    report.details["storage_bytes"] = storage.stats.bytes
    if report.elapsed_s and report.units_done:
        report.details["entries_per_s"] = round(report.units_done / report.elapsed_s, 1)
    if not dry_run:
        report.details["issues"] = [i.as_row() for i in issues[:20]]
        if report_file is not None:
            report.details["report_file"] = str(write_issue_file(report_file, issues))
    return report


class RestoreOperation(Operation):
    """Put the entries saved in a repair's backup table back (the inverse of repair)."""

    def __init__(self, store: StoreConfig, backup_table: str) -> None:
        self.name = f"parquet_restore:{store.table}"
        self.store = store
        self.backup_table = backup_table

    def plan(self, conn: psycopg.Connection) -> Plan:
        rows = backup_rows(conn, self.backup_table)
        if rows is None:
            raise PreconditionError(
                f"backup table {self.backup_table!r} does not exist",
                hint="pick one from the repair report (backup_table) or from migration_backups",
            )
        return restore_plan(self.name, self.store, self.backup_table, rows)

    def _ids(self) -> dict[str, sql.Composable]:
        return {
            "t": sql.Identifier(self.store.table),
            "m": sql.Identifier(self.store.metadata_column),
            "b": sql.Identifier(self.backup_table),
            "p": sql.Identifier(self.store.path_column),
        }

    def run_batch(self, conn: psycopg.Connection, position: Any, plan: Plan) -> Batch:
        # exactly the statement the plan shows (and a dry run prints): the repair step's reverse
        restored = conn.execute(plan.steps[0].sql.encode()).rowcount
        return Batch(restored, {"restored": restored}, done=True, details={"restored": restored})

    def verify(self, conn: psycopg.Connection, plan: Plan) -> list[Check]:
        stmt = sql.SQL(
            "SELECT count(*) FROM {b} AS b JOIN {t} AS t ON t.{p} = b.{p} WHERE t.{m} IS DISTINCT FROM b.{m}"
        ).format(**self._ids())
        row = conn.execute(stmt).fetchone()
        differing = int(row[0]) if row else -1
        return [Check("entries equal their backup", differing == 0, 0, differing)]


def restore(
    engines: Engines,
    store: StoreConfig,
    backup_table: str,
    *,
    dry_run: bool = False,
    wait: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Report:
    """Undo a repair: copy the backed-up entries back over the repaired ones."""
    with contextlib.ExitStack() as stack:
        if not dry_run:
            stack.enter_context(operation_lock(engines, LOCK, store.table, wait=wait))
        conn = stack.enter_context(engines.connect(autocommit=True))
        st.check_store(conn, store)
        return execute(RestoreOperation(store, backup_table), conn, dry_run=dry_run, on_progress=on_progress)
