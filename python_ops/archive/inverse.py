"""Own `archive restore`, the inverse of `archive run`: archived rows back into Postgres, watermark back.

For one (dataset, table), the rows ClickHouse holds with `since` <= time that Postgres no longer has
(cleanup removed them) are written back through the same named collection
(`INSERT INTO FUNCTION postgresql(…) SELECT … FROM <table> FINAL`), then the watermark moves back to
`since` so the next archive run copies and verifies that range again (a harmless re-delivery).
ClickHouse keeps its rows. Needs the pull transport (ClickHouse reaching Postgres).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from clickhouse_connect.driver.client import Client
from psycopg import sql

from python_ops.archive import state
from python_ops.archive.checksum import ch_range, pg_range
from python_ops.archive.copy import table_exists
from python_ops.archive.schema import TableSpec
from python_ops.engines.clickhouse import quote_ident, quote_literal
from python_ops.errors import PreconditionError
from python_ops.runner import Batch, Check, Operation, Plan, Step
from python_ops.settings import ArchiveSettings


class ArchiveRestore(Operation):
    """Write archived rows of one dataset and table with time >= `since` back to Postgres."""

    def __init__(
        self,
        *,
        ch: Client,
        spec: TableSpec,
        dataset: state.Dataset,
        config: ArchiveSettings,
        collection: str,
        since: datetime,
    ) -> None:
        self.name = f"archive_restore:{spec.name}:{dataset.id}"
        self.ch, self.spec, self.dataset, self.config = ch, spec, dataset, config
        self.collection, self.since = collection, since

    def _pg_ids(self, conn: psycopg.Connection, hi: datetime) -> list[str]:
        where = pg_range(self.spec, self.dataset.id, self.since - timedelta(microseconds=1), hi)
        return [
            r[0]
            for r in conn.execute(
                sql.SQL("SELECT {}::text FROM {} WHERE {}").format(
                    sql.Identifier(self.spec.config.id_column), sql.Identifier(self.spec.name), where
                )
            ).fetchall()
        ]

    def _statement(self, wm: datetime, present: list[str]) -> str:
        cols = ", ".join(quote_ident(name) for name in self.spec.column_names)
        keep_out = ""
        if present:
            ids = ", ".join(quote_literal(i) for i in present)
            keep_out = f" AND toString({quote_ident(self.spec.config.id_column)}) NOT IN ({ids})"
        where = ch_range(self.spec, self.dataset.id, self.since - timedelta(microseconds=1), wm)
        return (
            f"INSERT INTO FUNCTION postgresql({quote_ident(self.collection)}, schema='public', "
            f"table={quote_literal(self.spec.name)}) ({cols})\n"
            f"SELECT {cols} FROM {quote_ident(self.spec.name)} FINAL WHERE {where}{keep_out}"
        )

    def plan(self, conn: psycopg.Connection) -> Plan:
        if self.config.transport != "pull":
            raise PreconditionError(
                "archive restore writes through ClickHouse's postgresql() and needs the pull transport",
                hint="run it where ClickHouse reaches Postgres (MIGRATA_ARCHIVE__TRANSPORT=pull)",
            )
        wm = state.watermark(conn, self.config.watermark_table, self.dataset.id, self.spec.name)
        if wm is None or wm <= self.since or not table_exists(self.ch, self.spec.name):
            return Plan(self.name, f"nothing archived after {self.since.isoformat()}", 0)
        present = self._pg_ids(conn, wm)
        archived = int(
            self.ch.command(
                f"SELECT count() FROM {quote_ident(self.spec.name)} FINAL WHERE "
                f"{ch_range(self.spec, self.dataset.id, self.since - timedelta(microseconds=1), wm)}"
            )
        )
        total = max(0, archived - len(present))
        return Plan(
            self.name,
            f"restore {total} rows of {self.spec.name} of dataset {self.dataset.slug} "
            f"from {self.since.isoformat()}",
            total,
            "rows",
            [
                Step(
                    f"copy {total} archived rows back to Postgres",
                    self._statement(wm, ["…ids still in Postgres"]),
                ),
                Step(
                    "move the watermark back",
                    f"-- {self.config.watermark_table}: ({self.dataset.id}, {self.spec.name}) "
                    f":= {self.since.isoformat()}",
                ),
            ],
            details={
                "watermark_before": wm.isoformat(),
                "since": self.since.isoformat(),
                "archived": archived,
            },
        )

    def run_batch(self, conn: psycopg.Connection, position: Any, plan: Plan) -> Batch:
        wm = datetime.fromisoformat(plan.details["watermark_before"])
        before = len(self._pg_ids(conn, wm))
        self.ch.command(self._statement(wm, self._pg_ids(conn, wm)))
        restored = len(self._pg_ids(conn, wm)) - before
        # the watermark moves back in this batch's transaction: the range will be archived again
        conn.execute(
            sql.SQL(
                "UPDATE {} SET watermark_timestamp = %s, updated_at = now() "
                "WHERE dataset_id = %s AND table_name = %s"
            ).format(sql.Identifier(self.config.watermark_table)),
            (self.since, self.dataset.id, self.spec.name),
        )
        return Batch(restored, {"done": True}, True, {"restored": restored})

    def verify(self, conn: psycopg.Connection, plan: Plan) -> list[Check]:
        if plan.nothing_to_do:
            return []
        in_pg = len(self._pg_ids(conn, datetime.fromisoformat(plan.details["watermark_before"])))
        return [
            Check(
                "every archived row of the range is back in Postgres",
                in_pg >= plan.details["archived"],
                plan.details["archived"],
                in_pg,
            )
        ]
