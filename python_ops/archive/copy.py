"""Own the copy step of one archive run for one (dataset, table): an `Operation` for the shared runner.

plan  — the watermark, the cutoff (now - max_age_hours), the Postgres digest of (watermark, cutoff]
        (count, checksum and oldest time in one scan), and which retained rows at or below the
        watermark are missing from ClickHouse (late rows);
run   — batch 1 sweeps the late rows (push by id), then each batch copies one time slice of
        (watermark, cutoff] (pull or push); a slice is an idempotent re-delivery if repeated;
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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from clickhouse_connect.driver.client import Client
from psycopg import sql

from python_ops.archive import state
from python_ops.archive.checksum import Digest, ch_range, clickhouse_digest, pg_range, postgres_digest
from python_ops.archive.schema import TableSpec
from python_ops.archive.transport import pull, pull_sql, push, push_query
from python_ops.engines.clickhouse import quote_ident as _q
from python_ops.runner import Batch, Check, Operation, Plan, Report, Step
from python_ops.settings import ArchiveSettings

FaultHook = Callable[
    [str], None
]  # called with "copy", "verify", "watermark", "cleanup" (tests inject faults)


def _noop(_: str) -> None:
    return None


def table_exists(ch: Client, table: str) -> bool:
    return bool(
        ch.command(
            "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = {t:String}",
            parameters={"t": table},
        )
    )


def _missing(
    conn: psycopg.Connection,
    ch: Client,
    spec: TableSpec,
    dataset_id: str,
    lo: datetime | None,
    hi: datetime,
) -> list[str]:
    """Ids of Postgres rows with lo < time <= hi that ClickHouse does not hold (compares id sets)."""
    cfg = spec.config
    where, params = pg_range(spec, lo, hi)
    rows = conn.execute(
        sql.SQL("SELECT {}::text, {} FROM {} WHERE {}").format(
            sql.Identifier(cfg.id_column), sql.Identifier(cfg.time_column), sql.Identifier(spec.name), where
        ),
        [dataset_id, *params],
    ).fetchall()
    if not rows:
        return []
    oldest = min(r[1] for r in rows)
    present: set[str] = set()
    if table_exists(ch, spec.name):
        result = ch.query(
            f"SELECT DISTINCT toString({_q(cfg.id_column)}) FROM {_q(spec.name)} "
            f"WHERE {ch_range(spec, dataset_id, oldest - timedelta(microseconds=1), hi)}"
        )
        present = {r[0] for r in result.result_rows}
    return [r[0] for r in rows if r[0] not in present]


def late_ids(
    conn: psycopg.Connection,
    ch: Client,
    spec: TableSpec,
    dataset_id: str,
    wm: datetime | None,
    grace: timedelta,
) -> list[str]:
    """Ids of rows still in Postgres at or below the watermark that ClickHouse does not have.

    Below watermark - grace Postgres normally holds nothing (cleanup removed what ClickHouse has), so
    the few rows there are checked by id. In the grace window nothing was deleted, so as many rows in
    ClickHouse as in Postgres means none is missing; only a shortfall costs an id comparison.
    """
    if wm is None:
        return []
    bound = wm - grace - timedelta(microseconds=1)  # time < wm - grace  <=>  time <= bound
    missing = _missing(conn, ch, spec, dataset_id, None, bound)
    # ClickHouse holds every verified row of the window, so fewer rows in ClickHouse than in Postgres
    # is the sign of a late row (the blocking agreement check compares checksums as well)
    where, params = pg_range(spec, bound, wm)
    pg_rows = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE {}").format(sql.Identifier(spec.name), where),
        [dataset_id, *params],
    ).fetchone()[0]  # type: ignore[index]
    ch_rows = 0
    if pg_rows and table_exists(ch, spec.name):
        ch_rows = int(
            ch.command(
                f"SELECT count() FROM {_q(spec.name)} FINAL WHERE {ch_range(spec, dataset_id, bound, wm)}",
                settings={"do_not_merge_across_partitions_select_final": 1},
            )
        )
    if pg_rows > ch_rows:
        missing += _missing(conn, ch, spec, dataset_id, bound, wm)
    return missing


class ArchiveCopy(Operation):
    """Copy one dataset's aged rows of one table to ClickHouse, verify, then advance the watermark."""

    def __init__(
        self,
        *,
        ch: Client,
        spec: TableSpec,
        dataset: state.Dataset,
        config: ArchiveSettings,
        collection: str,
        now: datetime | None = None,
        hook: FaultHook | None = None,
    ) -> None:
        self.name = f"archive_copy:{spec.name}:{dataset.id}"
        self.ch, self.spec, self.dataset = ch, spec, dataset
        self.config, self.collection = config, collection
        self.now = now
        self.hook = hook or _noop
        self._late: list[str] = []
        self._grace = timedelta(hours=config.grace_period_hours)
        self._swept = False
        self._pg: Digest = Digest(0, 0)
        self._digest: Digest | None = None

    # -- plan -------------------------------------------------------------------------------------
    def plan(self, conn: psycopg.Connection) -> Plan:
        spec = self.spec
        wm = state.watermark(conn, self.config.watermark_table, self.dataset.id, spec.name)
        cutoff = (self.now or datetime.now(UTC)) - timedelta(hours=self.config.max_age_hours)
        if wm is not None and cutoff < wm:
            cutoff = wm  # max_age grew: never move the watermark back
        self._pg = postgres_digest(conn, spec, self.dataset.id, wm, cutoff)
        total, oldest = self._pg.rows, self._pg.oldest
        self._late = late_ids(conn, self.ch, spec, self.dataset.id, wm, self._grace)
        start = wm if wm is not None else (oldest - timedelta(microseconds=1) if oldest else cutoff)
        slices = max(1, math.ceil(total / self.config.copy_batch_rows))
        width_us = max(1, math.ceil((cutoff - start) / timedelta(microseconds=1) / slices))
        if self.config.transport == "pull":
            copy_sql = pull_sql(
                spec,
                collection=self.collection,
                dataset_id=self.dataset.id,
                slug=self.dataset.slug,
                lo=start if total else wm,
                hi=cutoff,
            )
        else:
            statement, _ = push_query(spec, self.dataset.id, wm, cutoff)
            copy_sql = f"-- push: {statement.as_string(conn)}  → ClickHouse insert_arrow"
        steps = [
            Step(f"create the ClickHouse table {spec.name} if missing", spec.ch_create()),
            Step(
                f"copy {total} rows of dataset {self.dataset.slug} older than {cutoff.isoformat()}", copy_sql
            ),
        ]
        if self._late:
            steps.append(Step(f"sweep {len(self._late)} late rows at or below the watermark (push by id)"))
        steps.append(
            Step(
                "after verification: advance the watermark and write the audit event",
                f"-- {self.config.watermark_table}: ({self.dataset.id}, {spec.name}) := {cutoff.isoformat()}",
            )
        )
        return Plan(
            self.name,
            f"archive {spec.name} of dataset {self.dataset.slug} up to {cutoff.isoformat()}",
            total + len(self._late),
            "rows",
            steps,
            details={
                "table": spec.name,
                "dataset_id": self.dataset.id,
                "watermark_before": wm.isoformat() if wm else None,
                "cutoff": cutoff.isoformat(),
                "start": start.isoformat(),
                "width_us": width_us,
                "new_rows": total,
                "postgres_checksum": str(self._pg.checksum),
                "late_rows": len(self._late),
                "transport": self.config.transport,
            },
        )

    # -- run --------------------------------------------------------------------------------------
    def _copy(self, conn: psycopg.Connection, lo: datetime | None, hi: datetime | None) -> int:
        self.hook("copy")
        if self.config.transport == "push":
            return push(
                conn,
                self.ch,
                self.spec,
                dataset_id=self.dataset.id,
                slug=self.dataset.slug,
                lo=lo,
                hi=hi,
                chunk_rows=self.config.push_chunk_rows,
            )
        pull(
            self.ch,
            pull_sql(
                self.spec,
                collection=self.collection,
                dataset_id=self.dataset.id,
                slug=self.dataset.slug,
                lo=lo,
                hi=hi,
            ),
            table=self.spec.name,
        )
        return int(
            self.ch.command(
                f"SELECT count() FROM {_q(self.spec.name)} "
                f"WHERE {ch_range(self.spec, self.dataset.id, lo, hi)}"
            )
        )

    def _resumable(self, conn: psycopg.Connection, plan: Plan, position: Any) -> bool:
        """A saved position counts only if the part copied before it is still complete in ClickHouse."""
        start, done_to = datetime.fromisoformat(plan.details["start"]), datetime.fromisoformat(position["hi"])
        if done_to <= start:
            return True
        where, params = pg_range(self.spec, start, done_to)
        pg_rows = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE {}").format(sql.Identifier(self.spec.name), where),
            [self.dataset.id, *params],
        ).fetchone()[0]  # type: ignore[index]
        ch_rows = self.ch.command(
            f"SELECT count() FROM {_q(self.spec.name)} FINAL "
            f"WHERE {ch_range(self.spec, self.dataset.id, start, done_to)}",
            settings={"do_not_merge_across_partitions_select_final": 1},
        )
        return int(ch_rows) >= pg_rows

    def run_batch(self, conn: psycopg.Connection, position: Any, plan: Plan) -> Batch:
        late = 0
        if not self._swept:
            self._swept = True
            if position is not None and not self._resumable(conn, plan, position):
                position = None  # rows arrived below the saved position since: copy the range again
            if self._late:
                self.hook("copy")
                late = push(
                    conn,
                    self.ch,
                    self.spec,
                    dataset_id=self.dataset.id,
                    slug=self.dataset.slug,
                    lo=None,
                    hi=None,
                    chunk_rows=self.config.push_chunk_rows,
                    ids=self._late,
                )
        d = plan.details
        cutoff = datetime.fromisoformat(d["cutoff"])
        lo = datetime.fromisoformat(position["hi"] if position else d["start"])
        if d["new_rows"] == 0 or lo >= cutoff:
            return Batch(late, {"hi": lo.isoformat()}, True, {"late_rows_copied": late})
        hi = min(lo + timedelta(microseconds=d["width_us"]), cutoff)
        copied = self._copy(conn, lo, hi)
        return Batch(late + copied, {"hi": hi.isoformat()}, hi >= cutoff, {"late_rows_copied": late})

    # -- verify -----------------------------------------------------------------------------------
    def verify(self, conn: psycopg.Connection, plan: Plan) -> list[Check]:
        self.hook("verify")
        d = plan.details
        wm = datetime.fromisoformat(d["watermark_before"]) if d["watermark_before"] else None
        cutoff = datetime.fromisoformat(d["cutoff"])
        exists = table_exists(self.ch, self.spec.name)
        ch = clickhouse_digest(self.ch, self.spec, self.dataset.id, wm, cutoff) if exists else Digest(0, 0)
        pg = self._pg
        self._digest = Digest(pg.rows, pg.checksum, ch.bytes, ch.partitions)
        # the plan found every late row; only a sweep needs confirming (new late rows wait for the next run)
        missing = late_ids(conn, self.ch, self.spec, self.dataset.id, wm, self._grace) if self._late else []
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
        with conn.transaction():
            state.advance_watermark(
                conn,
                self.config.watermark_table,
                self.dataset.id,
                self.spec.name,
                datetime.fromisoformat(d["cutoff"]),
            )
            state.audit(conn, self.dataset.id, state.EVENT_COPY, payload)
        report.details.update(
            records_migrated=digest.rows,
            bytes=digest.bytes,
            partitions=digest.partitions,
            watermark=d["cutoff"],
        )
