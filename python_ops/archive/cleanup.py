"""Own the cleanup step: delete Postgres rows older than watermark - grace period, only those in ClickHouse.

Each batch takes the next `batch_size` candidate rows in (time, id) order, asks ClickHouse which of
their ids it holds (a range read on its sort key), and deletes exactly those in one transaction with
the runner's checkpoint. A row ClickHouse does not hold (a late row not yet swept) stays in Postgres.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from clickhouse_connect.driver.client import Client
from psycopg import sql

from python_ops.archive import state
from python_ops.archive.checksum import ch_range, pg_range
from python_ops.archive.copy import FaultHook, table_exists
from python_ops.archive.schema import TableSpec
from python_ops.engines.clickhouse import quote_ident
from python_ops.runner import Batch, Check, Operation, Plan, Report, Step
from python_ops.settings import ArchiveSettings


class ArchiveCleanup(Operation):
    """Delete one dataset's archived rows of one table from Postgres once the grace period passed."""

    def __init__(
        self,
        *,
        ch: Client,
        spec: TableSpec,
        dataset: state.Dataset,
        config: ArchiveSettings,
        hook: FaultHook | None = None,
    ) -> None:
        self.name = f"archive_cleanup:{spec.name}:{dataset.id}"
        self.ch, self.spec, self.dataset, self.config = ch, spec, dataset, config
        self.hook = hook or (lambda _phase: None)
        self._id_type = spec.column(spec.config.id_column).udt_name
        self._started = False

    def _bound(self, conn: psycopg.Connection) -> tuple[datetime | None, datetime | None]:
        wm = state.watermark(conn, self.config.watermark_table, self.dataset.id, self.spec.name)
        if wm is None:
            return None, None
        return wm, wm - timedelta(hours=self.config.grace_period_hours)

    def plan(self, conn: psycopg.Connection) -> Plan:
        wm, bound = self._bound(conn)
        total = 0
        if bound is not None:
            total = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
                    sql.Identifier(self.spec.name), self._below(bound)
                )
            ).fetchone()[0]  # type: ignore[index]
        return Plan(
            self.name,
            f"delete archived rows of {self.spec.name} of dataset {self.dataset.slug} older than "
            f"{bound.isoformat() if bound else '(no watermark yet)'}",
            total,
            "rows",
            [
                Step(
                    f"delete up to {total} rows in batches of {self.config.batch_size}, each the ids of the "
                    "batch that ClickHouse holds",
                    self._delete.as_string(conn),
                )
            ],
            details={
                "table": self.spec.name,
                "dataset_id": self.dataset.id,
                "watermark": wm.isoformat() if wm else None,
                "bound": bound.isoformat() if bound else None,
            },
        )

    def _below(self, bound: datetime) -> sql.Composed:
        return sql.SQL("{} AND {} < {}").format(
            pg_range(self.spec, self.dataset.id, None, None),
            sql.Identifier(self.spec.config.time_column),
            sql.Literal(bound),
        )

    @property
    def _delete(self) -> sql.Composed:
        """The DELETE of one batch; its parameter is the batch's ids that ClickHouse holds."""
        return sql.SQL("DELETE FROM {} WHERE {} = ANY(%s::{}[])").format(
            sql.Identifier(self.spec.name),
            sql.Identifier(self.spec.config.id_column),
            sql.Identifier(self._id_type),
        )

    def run_batch(self, conn: psycopg.Connection, position: Any, plan: Plan) -> Batch:
        cfg = self.spec.config
        bound = datetime.fromisoformat(plan.details["bound"])
        where = self._below(bound)
        if not self._started:
            # A killed cleanup restarts from the oldest row instead of its saved position: rows below
            # that position may have arrived since (late rows, now archived), and deleted rows are
            # gone anyway, so the restart only re-reads what is left.
            self._started, position = True, None
        params: list[object] = []
        if position is not None:
            where = sql.SQL("{} AND ({}, {}::text) > (%s, %s)").format(
                where, sql.Identifier(cfg.time_column), sql.Identifier(cfg.id_column)
            )
            params += [datetime.fromisoformat(position[0]), position[1]]
        rows = conn.execute(
            sql.SQL(
                "SELECT {id}::text, {time} FROM {t} WHERE {w} ORDER BY {time}, {id}::text LIMIT %s"
            ).format(
                id=sql.Identifier(cfg.id_column),
                time=sql.Identifier(cfg.time_column),
                t=sql.Identifier(self.spec.name),
                w=where,
            ),
            [*params, self.config.batch_size],
        ).fetchall()
        if not rows:
            return Batch(0, position, True, {"deleted": 0, "kept_not_archived": 0})
        lo, hi = rows[0][1], rows[-1][1]
        present: set[str] = set()
        if table_exists(self.ch, self.spec.name):
            result = self.ch.query(
                f"SELECT toString({quote_ident(cfg.id_column)}) FROM {quote_ident(self.spec.name)} "
                f"WHERE {ch_range(self.spec, self.dataset.id, lo - timedelta(microseconds=1), hi)}"
            )
            present = {r[0] for r in result.result_rows}
        confirmed = [r[0] for r in rows if r[0] in present]
        self.hook("cleanup")
        if confirmed:
            conn.execute(self._delete, (confirmed,))
        last = rows[-1]
        return Batch(
            len(confirmed),
            [last[1].astimezone(UTC).isoformat(), last[0]],
            len(rows) < self.config.batch_size,
            {"deleted": len(confirmed), "kept_not_archived": len(rows) - len(confirmed)},
        )

    def verify(self, conn: psycopg.Connection, plan: Plan) -> list[Check]:
        if plan.details["bound"] is None:
            return []
        left = conn.execute(
            sql.SQL("SELECT {}::text, {} FROM {} WHERE {}").format(
                sql.Identifier(self.spec.config.id_column),
                sql.Identifier(self.spec.config.time_column),
                sql.Identifier(self.spec.name),
                self._below(datetime.fromisoformat(plan.details["bound"])),
            )
        ).fetchall()
        archived_left = 0
        if left and table_exists(self.ch, self.spec.name):
            lo, hi = min(r[1] for r in left), max(r[1] for r in left)
            result = self.ch.query(
                f"SELECT toString({quote_ident(self.spec.config.id_column)}) "
                f"FROM {quote_ident(self.spec.name)} "
                f"WHERE {ch_range(self.spec, self.dataset.id, lo - timedelta(microseconds=1), hi)}"
            )
            present = {r[0] for r in result.result_rows}
            archived_left = sum(r[0] in present for r in left)
        return [
            Check(
                "rows left below the grace bound are only unarchived ones",
                archived_left == 0,
                0,
                archived_left,
                f"{len(left)} rows left, kept because ClickHouse does not hold them",
            )
        ]

    def finish(self, conn: psycopg.Connection, plan: Plan, report: Report) -> None:
        deleted = int(report.details.get("deleted", 0))
        if deleted:
            with conn.transaction():
                state.audit(
                    conn,
                    self.dataset.id,
                    state.EVENT_CLEANUP,
                    {
                        "table": self.spec.name,
                        "recordsDeleted": deleted,
                        "watermark": plan.details["watermark"],
                        "bound": plan.details["bound"],
                    },
                )
