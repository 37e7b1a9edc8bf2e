"""Own the copy step of one archive run for one (dataset, table): an `Operation` for the shared runner.

plan  — the watermark, the cutoff (now - max_age_hours), the Postgres digest of (watermark, cutoff]
        (count, checksum and oldest time in one scan), which retained rows at or below the watermark
        are missing from ClickHouse (late rows), and the time slices of (watermark, cutoff] with the
        exact SQL each runs: the table's compiled dbt model over that slice (`--dry-run` prints it).
        Slices hold `copy_batch_rows`, or fewer where Postgres would otherwise scan the whole table
        for each (its plan decides, see `_slices`);
run   — batch 1 sweeps the late rows (pushed by id), then each batch copies one slice with the SQL
        the plan's function builds for it; a repeated slice is an idempotent re-delivery. A batch
        counts the rows its own copy wrote (pushed, or ClickHouse's count of the slice after minus
        before), never rows an earlier crashed copy left, so a slice copied again after a crash
        counts once and the report says exactly how many rows were archived;
verify— ClickHouse's digest (FINAL) of (watermark, cutoff] must equal the plan's Postgres digest, and
        no late row may still be missing;
finish— only then: watermark := cutoff and the audit event, in one Postgres transaction.

Postgres' side is computed once, in the plan, right before the copy (so the count that sizes the
slices costs no scan of its own). A row written into the range after that digest and before the copy
makes ClickHouse hold more than the digest: verification fails, nothing advances, the next run
repeats the copy. A row written after the copy is missing from both: the watermark advances past
it, and the next run's late-row sweep archives it (cleanup never deletes a row ClickHouse lacks).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from clickhouse_connect.driver.client import Client
from psycopg import sql

from python_ops.archive import state
from python_ops.archive.checksum import Digest, ch_range, clickhouse_digest, pg_range, postgres_digest
from python_ops.archive.compiled import CompiledTable
from python_ops.archive.schema import TableSpec
from python_ops.archive.transport import copy_statement, pull, pull_source, push, push_statements, stage_name
from python_ops.engines.clickhouse import quote_ident as _q
from python_ops.runner import Batch, Check, Operation, Plan, Report, Step
from python_ops.settings import ArchiveSettings

FaultHook = Callable[
    [str], None
]  # called with "copy", "verify", "watermark", "cleanup" (tests inject faults)
_FINAL = {"do_not_merge_across_partitions_select_final": 1}


def _noop(_: str) -> None:
    return None


def table_exists(ch: Client, table: str) -> bool:
    return bool(
        ch.command(
            "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = {t:String}",
            parameters={"t": table},
        )
    )


def archived_rows(
    ch: Client, spec: TableSpec, dataset_id: str, lo: datetime | None, hi: datetime | None
) -> int:
    """Rows ClickHouse holds for one dataset in lo < time <= hi, each counted once (FINAL)."""
    return int(
        ch.command(
            f"SELECT count() FROM {_q(spec.name)} FINAL WHERE {ch_range(spec, dataset_id, lo, hi)}",
            settings=_FINAL,
        )
    )


def _pg_count(
    conn: psycopg.Connection, spec: TableSpec, dataset_id: str, lo: datetime | None, hi: datetime
) -> int:
    where = pg_range(spec, dataset_id, lo, hi)
    row = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(sql.Identifier(spec.name), where))
    return int(row.fetchone()[0])  # type: ignore[index]


def _missing(
    conn: psycopg.Connection,
    ch: Client,
    spec: TableSpec,
    dataset_id: str,
    lo: datetime | None,
    hi: datetime,
) -> list[str]:
    """Ids of Postgres rows with lo < time <= hi that ClickHouse lacks (asks it for exactly those ids)."""
    cfg = spec.config
    rows = conn.execute(
        sql.SQL("SELECT {}::text, {} FROM {} WHERE {}").format(
            sql.Identifier(cfg.id_column),
            sql.Identifier(cfg.time_column),
            sql.Identifier(spec.name),
            pg_range(spec, dataset_id, lo, hi),
        )
    ).fetchall()
    if not rows or not table_exists(ch, spec.name):
        return [r[0] for r in rows]
    oldest = min(r[1] for r in rows)
    present = {
        r[0]
        for r in ch.query(
            f"SELECT DISTINCT toString({_q(cfg.id_column)}) FROM {_q(spec.name)} "
            f"WHERE {ch_range(spec, dataset_id, oldest - timedelta(microseconds=1), hi)} "
            f"AND toString({_q(cfg.id_column)}) IN {{ids:Array(String)}}",
            parameters={"ids": [r[0] for r in rows]},
        ).result_rows
    }
    return [r[0] for r in rows if r[0] not in present]


def late_ids(
    conn: psycopg.Connection,
    ch: Client,
    spec: TableSpec,
    dataset_id: str,
    wm: datetime | None,
) -> list[str]:
    """Ids of rows still in Postgres at or below the watermark that ClickHouse does not have.

    Where cleanup has not run (the grace window; everything, when cleanup is off) ClickHouse holds as
    many rows (FINAL) as Postgres over the span of Postgres' rows, and nothing is missing; where it
    ran, Postgres keeps the grace window and only rows ClickHouse lacks, so with none of those the
    span starts in the grace window. One count on each side settles that usual case, cleaned up or
    not. Otherwise the rows are counted per month, and only a month whose counts differ (a late row,
    or a span reaching back to one) costs an id comparison. Counts miss a late row only if a row of
    the same span was deleted from Postgres by hand; the gate (dbt test), which compares ids, does not.
    """
    if wm is None:
        return []
    time = sql.Identifier(spec.config.time_column)
    exists = table_exists(ch, spec.name)
    table, where = sql.Identifier(spec.name), pg_range(spec, dataset_id, None, wm)
    rows, first = conn.execute(
        sql.SQL("SELECT count(*), min({t}) FROM {table} WHERE {where}").format(
            t=time, table=table, where=where
        )
    ).fetchone()  # type: ignore[misc]
    if not rows or (
        exists and archived_rows(ch, spec, dataset_id, first - timedelta(microseconds=1), wm) == rows
    ):
        return []  # the usual case, cleaned up or not: one count on each side
    months = conn.execute(
        sql.SQL(
            "SELECT count(*), min({t}), max({t}) FROM {table} WHERE {where} "
            "GROUP BY date_trunc('month', {t} AT TIME ZONE 'UTC')"
        ).format(t=time, table=table, where=where)
    ).fetchall()
    missing: list[str] = []
    for rows, first, last in months:
        lo = first - timedelta(microseconds=1)
        # equal counts over the span of Postgres' rows: every one archived (FINAL counts each row once)
        if not exists or archived_rows(ch, spec, dataset_id, lo, last) != rows:
            missing += _missing(conn, ch, spec, dataset_id, lo, last)
    return missing


Connect = Callable[[], AbstractContextManager[psycopg.Connection]]


class _Background:
    """A call running in a thread (or at once, `now=True`); `result()` waits and re-raises its error."""

    def __init__(self, fn: Callable[[], Digest], *, now: bool = False) -> None:
        self._value: Digest | None = None
        self._error: BaseException | None = None
        self._fn = fn
        self._thread = (
            None if now else threading.Thread(target=self._call, name="archive-pg-digest", daemon=True)
        )
        if self._thread is None:
            self._call()
        else:
            self._thread.start()

    def _call(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # handed to the caller of result()
            self._error = exc

    def result(self) -> Digest:
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def _pg_span(
    conn: psycopg.Connection, spec: TableSpec, dataset_id: str, lo: datetime | None, hi: datetime
) -> tuple[int, datetime | None]:
    """Count and oldest time of the Postgres rows in the range: what sizes the slices (from the
    (dataset, time) index; the checksum comes later, beside the copy)."""
    row = conn.execute(
        sql.SQL("SELECT count(*), min({}) FROM {} WHERE {}").format(
            sql.Identifier(spec.config.time_column),
            sql.Identifier(spec.name),
            pg_range(spec, dataset_id, lo, hi),
        )
    ).fetchone()
    assert row is not None
    return int(row[0]), row[1]


# Narrower slices tried, at most, when Postgres would read a slice of the configured size by scanning
# the whole table (three halvings: down to 1/8 of `copy_batch_rows`).
_NARROWER = 3


def reads_whole_table(
    conn: psycopg.Connection, spec: TableSpec, dataset_id: str, lo: datetime, hi: datetime
) -> bool:
    """Whether Postgres' plan for the slice (lo, hi] scans the whole table (EXPLAIN, not run)."""
    row = conn.execute(
        sql.SQL("EXPLAIN (FORMAT JSON) SELECT * FROM {} WHERE {}").format(
            sql.Identifier(spec.name), pg_range(spec, dataset_id, lo, hi)
        )
    ).fetchone()
    assert row is not None
    nodes = [row[0][0]["Plan"]]
    while nodes:
        node = nodes.pop()
        if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") == spec.name:
            return True
        nodes += node.get("Plans", [])
    return False


def _slices(
    conn: psycopg.Connection, spec: TableSpec, dataset_id: str, start: datetime, end: datetime, slices: int
) -> int:
    """How many slices to copy (start, end] in: the configured number, or the first of 2x, 4x, 8x as
    many whose slice Postgres reads through an index rather than by a scan of the whole table.

    Postgres prices a range read of a (dataset, time) index by the order of its first column, not of
    the time: on a 50M-row table a slice of a tenth of it was planned as a parallel sequential scan of
    the whole 7.5 GB (5.3 s), though the index read it in 0.8-1.7 s; slices a quarter as wide were
    planned as bitmap or index scans. Eight slices that each scan the whole table read it eight times.
    """
    if slices == 1:
        return 1  # the whole range in one scan: a sequential scan is the right read
    for n in (slices << k for k in range(_NARROWER + 1)):
        if not reads_whole_table(conn, spec, dataset_id, start, start + (end - start) / n):
            return n
    return slices  # (a small table is always scanned: keep the configured slices)


class ArchiveCopy(Operation):
    """Copy one dataset's aged rows of one table to ClickHouse, verify, then advance the watermark."""

    def __init__(
        self,
        *,
        ch: Client,
        spec: TableSpec,
        compiled: CompiledTable,
        dataset: state.Dataset,
        config: ArchiveSettings,
        collection: str,
        prepare: Sequence[Step] = (),
        now: datetime | None = None,
        hook: FaultHook | None = None,
        connect: Connect | None = None,
    ) -> None:
        self.name = f"archive_copy:{spec.name}:{dataset.id}"
        self.ch, self.spec, self.compiled, self.dataset = ch, spec, compiled, dataset
        self.config, self.collection, self.prepare = config, collection, list(prepare)
        self.now = now
        self.hook = hook or _noop
        self._late: list[str] = []
        self._swept = False
        self._pg: Digest = Digest(0, 0)
        self._digest: Digest | None = None
        # the Postgres digest runs beside the copy on a connection of its own (`connect`), or first
        self.connect = connect
        self._pg_digest: _Background | None = None

    # -- the SQL of a slice, shared by the plan (dry run) and the run -------------------------------
    def _pull_sql(self, lo: datetime | None, hi: datetime | None) -> str:
        source = pull_source(self.spec, collection=self.collection, dataset_id=self.dataset.id, lo=lo, hi=hi)
        return self.compiled.insert(source, self.dataset.slug)

    def _copy_statement(
        self, lo: datetime | None, hi: datetime | None, ids: Sequence[str] | None = None
    ) -> sql.Composed:
        return copy_statement(self.spec, self.dataset.id, lo, hi, ids)

    def _push_sql(self, conn: psycopg.Connection, statement: sql.Composed) -> str:
        create, insert, reset = push_statements(self.spec, self.compiled, self.dataset.slug)
        return (
            f"-- Postgres streams the rows:\n{statement.as_string(conn)};\n"
            f"-- ClickHouse, once:\n{create};\n"
            f"-- then per {self.config.push_chunk_rows} rows, sent as INSERT INTO "
            f"{_q(stage_name(self.spec))} FORMAT Arrow:\n"
            f"{insert};\n{reset}"
        )

    def _slice_sql(self, conn: psycopg.Connection, lo: datetime | None, hi: datetime | None) -> str:
        if self.config.transport == "pull":
            return self._pull_sql(lo, hi)
        return self._push_sql(conn, self._copy_statement(lo, hi))

    # -- plan -------------------------------------------------------------------------------------
    def plan(self, conn: psycopg.Connection) -> Plan:
        spec = self.spec
        wm = state.watermark(conn, self.config.watermark_table, self.dataset.id, spec.name)
        cutoff = (self.now or datetime.now(UTC)) - timedelta(hours=self.config.max_age_hours)
        if wm is not None and cutoff < wm:
            cutoff = wm  # max_age grew: never move the watermark back
        total, oldest = _pg_span(conn, spec, self.dataset.id, wm, cutoff)
        self._pg_digest = None  # a plan (again, on resume) digests the range again in its first batch
        self._late = late_ids(conn, self.ch, spec, self.dataset.id, wm)
        start = wm if wm is not None else (oldest - timedelta(microseconds=1) if oldest else cutoff)
        configured = max(1, math.ceil(total / self.config.copy_batch_rows))
        slices = _slices(conn, spec, self.dataset.id, start, cutoff, configured)  # 1 when nothing is new
        narrowed = (
            f" in {slices} slices, not {configured}: Postgres would scan the whole table for each of "
            f"{configured}"
            if slices != configured
            else ""
        )
        width = timedelta(
            microseconds=max(1, math.ceil((cutoff - start) / timedelta(microseconds=1) / slices))
        )
        steps = list(self.prepare)
        if self._late:
            steps.append(
                Step(
                    f"sweep {len(self._late)} late rows at or below the watermark (pushed by id)",
                    self._push_sql(conn, self._copy_statement(None, None, self._late)),
                )
            )
        lo, n = start, 0
        while total and lo < cutoff:
            hi = min(lo + width, cutoff)
            n += 1
            steps.append(Step(f"copy slice {n} of {slices}: ({lo.isoformat()}, {hi.isoformat()}]",
                              self._slice_sql(conn, lo, hi)))  # fmt: skip
            lo = hi
        steps.append(
            Step(
                "after verification: advance the watermark and write the audit event",
                state.advance_sql(self.config.watermark_table, self.dataset.id, spec.name, cutoff).as_string(
                    conn
                )
                + ";\n"
                + state.AUDIT_SQL,
            )
        )
        return Plan(
            self.name,
            f"archive {spec.name} of dataset {self.dataset.slug} up to {cutoff.isoformat()}{narrowed}",
            total + len(self._late),
            "rows",
            steps,
            details={
                "table": spec.name,
                "dataset_id": self.dataset.id,
                "watermark_before": wm.isoformat() if wm else None,
                "cutoff": cutoff.isoformat(),
                "start": start.isoformat(),
                "width_us": width // timedelta(microseconds=1),
                "slices": slices if total else 0,
                "new_rows": total,
                "late_rows": len(self._late),
                "transport": self.config.transport,
            },
        )

    # -- run --------------------------------------------------------------------------------------
    def _sweep(self, conn: psycopg.Connection, ids: Sequence[str]) -> int:
        """Push the rows of `ids` (whatever their time) through the model; return how many."""
        if not ids:
            return 0
        self.hook("copy")
        statement = self._copy_statement(None, None, ids)
        return push(conn, self.ch, self.spec, self.compiled, statement=statement, slug=self.dataset.slug,
                    chunk_rows=self.config.push_chunk_rows)  # fmt: skip

    def _copy(self, conn: psycopg.Connection, lo: datetime, hi: datetime) -> int:
        """Copy one slice; return the rows this copy wrote (a slice copied again counts once)."""
        self.hook("copy")
        if self.config.transport == "push":
            return push(conn, self.ch, self.spec, self.compiled, statement=self._copy_statement(lo, hi),
                        slug=self.dataset.slug, chunk_rows=self.config.push_chunk_rows)  # fmt: skip
        # rows an earlier, crashed copy of the slice left are in `before`: not counted again
        before = self._written(lo, hi)
        cfg = self.config
        pull(self.ch, self._pull_sql(lo, hi), table=self.spec.name, block_rows=cfg.pull_block_rows,
             block_bytes=cfg.pull_block_bytes, insert_threads=cfg.pull_insert_threads)  # fmt: skip
        return self._written(lo, hi) - before

    def _written(self, lo: datetime, hi: datetime) -> int:
        """Rows written into the slice so far, a repeated delivery included (no FINAL: cheap)."""
        where = ch_range(self.spec, self.dataset.id, lo, hi)
        return int(self.ch.command(f"SELECT count() FROM {_q(self.spec.name)} WHERE {where}"))

    def _gaps(self, conn: psycopg.Connection, plan: Plan, position: Any) -> list[str]:
        """Rows that arrived below a saved position since its slices were copied (resuming a run)."""
        start, done_to = datetime.fromisoformat(plan.details["start"]), datetime.fromisoformat(position["hi"])
        if done_to <= start:
            return []
        if archived_rows(self.ch, self.spec, self.dataset.id, start, done_to) >= _pg_count(
            conn, self.spec, self.dataset.id, start, done_to
        ):
            return []
        return _missing(conn, self.ch, self.spec, self.dataset.id, start, done_to)

    def _start_digest(self, conn: psycopg.Connection, plan: Plan) -> None:
        """The Postgres side of the verification: count and checksum of (watermark, cutoff] in one scan.

        Started by the first batch and run beside the copy (Postgres digests on one core while it
        renders the copy's rows and ClickHouse inserts them on the other), on its own connection. The
        copy reads its own snapshot either way: a row written into the range in between makes the two
        disagree, verification fails and nothing advances, as when the digest ran before the copy.
        """
        if self._pg_digest is not None:
            return
        d = plan.details
        wm = datetime.fromisoformat(d["watermark_before"]) if d["watermark_before"] else None
        cutoff = datetime.fromisoformat(d["cutoff"])
        spec, dataset_id, connect = self.spec, self.dataset.id, self.connect
        if connect is None:
            self._pg_digest = _Background(
                lambda: postgres_digest(conn, spec, dataset_id, wm, cutoff), now=True
            )
            return

        def digest() -> Digest:
            with connect() as own:
                return postgres_digest(own, spec, dataset_id, wm, cutoff)

        self._pg_digest = _Background(digest)

    def run_batch(self, conn: psycopg.Connection, position: Any, plan: Plan) -> Batch:
        self._start_digest(conn, plan)
        swept = 0
        if not self._swept:
            self._swept = True
            gaps = self._gaps(conn, plan, position) if position is not None else []
            swept = self._sweep(conn, [*self._late, *gaps])
        d = plan.details
        cutoff = datetime.fromisoformat(d["cutoff"])
        lo = datetime.fromisoformat(position["hi"] if position else d["start"])
        if d["new_rows"] == 0 or lo >= cutoff:
            return Batch(swept, {"hi": lo.isoformat()}, True, {"late_rows_copied": swept})
        hi = min(lo + timedelta(microseconds=d["width_us"]), cutoff)
        copied = self._copy(conn, lo, hi)
        return Batch(swept + copied, {"hi": hi.isoformat()}, hi >= cutoff, {"late_rows_copied": swept})

    # -- verify -----------------------------------------------------------------------------------
    def verify(self, conn: psycopg.Connection, plan: Plan) -> list[Check]:
        self.hook("verify")
        d = plan.details
        wm = datetime.fromisoformat(d["watermark_before"]) if d["watermark_before"] else None
        cutoff = datetime.fromisoformat(d["cutoff"])
        exists = table_exists(self.ch, self.spec.name)
        ch = clickhouse_digest(self.ch, self.spec, self.dataset.id, wm, cutoff) if exists else Digest(0, 0)
        self._start_digest(conn, plan)  # (started by the first batch; a plan with none starts it here)
        assert self._pg_digest is not None
        pg = self._pg = self._pg_digest.result()
        self._digest = Digest(pg.rows, pg.checksum, ch.bytes, ch.partitions)
        # the plan found every late row; only a sweep needs confirming (new late rows wait for the next run)
        missing = late_ids(conn, self.ch, self.spec, self.dataset.id, wm) if self._late else []
        where = f"{self.spec.name} of {self.dataset.slug} in ({d['watermark_before']}, {d['cutoff']}]"
        return [
            Check("archived rows match Postgres", pg.rows == ch.rows, pg.rows, ch.rows, where),
            Check(
                "archived checksum matches Postgres",
                pg.checksum == ch.checksum,
                pg.checksum,
                ch.checksum,
                where,
            ),
            Check("no late row left unarchived below the watermark", not missing, 0, len(missing)),
        ]

    # -- finish -----------------------------------------------------------------------------------
    def finish(self, conn: psycopg.Connection, plan: Plan, report: Report) -> None:
        self.hook("watermark")
        d = plan.details
        digest = self._digest or Digest(0, 0)
        payload = {
            "table": self.spec.name,
            "recordsMigrated": digest.rows,
            "lateRecords": d["late_rows"],
            "bytes": digest.bytes,
            "partitions": digest.partitions,
            "watermark": d["cutoff"],
            "previousWatermark": d["watermark_before"],
            "transport": d["transport"],
        }
        cutoff = datetime.fromisoformat(d["cutoff"])
        with conn.transaction():
            conn.execute(
                state.advance_sql(self.config.watermark_table, self.dataset.id, self.spec.name, cutoff)
            )
            state.audit(conn, self.dataset.id, state.EVENT_COPY, payload)
        report.details.update(
            records_migrated=digest.rows,
            bytes=digest.bytes,
            partitions=digest.partitions,
            watermark=d["cutoff"],
        )
