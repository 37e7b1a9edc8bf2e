"""Own the micro-batch refresher: accepted events reach the denormalized tables and the graph in seconds.

`refresh_changed` is one micro-batch: the runs whose `changed_xid` is at or after the cursor, and the
jobs whose static lineage changed, go through the lineage models' compiled SQL (`batch.apply`), and
the cursor moves to the oldest transaction still running when the batch's snapshot was taken
(`pg_snapshot_xmin`, the trick lineage_graph_edges uses): every transaction before it had finished and
its changes were seen, so no late commit is missed, and a run is read again at most once. The batch
runs in one REPEATABLE READ transaction, so the snapshot that found the changes is the one whose xmin
becomes the cursor. Heartbeats do not move `changed_xid` (see ingest), so they cost no write here.

`Refresher` runs micro-batches in a thread every `interval_s`; across processes (uvicorn workers)
one of them leads, holding a session advisory lock on its own connection; the others wait to take
over if the leader's process ends.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from python_ops.engines.context import Engines
from python_ops.lineage import batch
from python_ops.lineage.batch import LineageModels

log = logging.getLogger("migrata.lineage.refresher")
CURSOR = "micro_batch"
LEADER_KEY = "migrata.lineage.refresher"


@dataclass
class RefreshResult:
    """One micro-batch: runs and jobs refreshed, rows written per model, time taken."""

    runs: int = 0
    jobs: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    run_ids: list[Any] = field(default_factory=list)


def refresh_changed(conn: psycopg.Connection, models: LineageModels, *, name: str = CURSOR) -> RefreshResult:
    """Denormalize what changed since the cursor `name`, in one REPEATABLE READ transaction.

    `conn` must be in autocommit mode (the transaction is this function's); the tables must exist
    (`batch.ensure_tables`).
    """
    started = time.monotonic()
    previous = conn.isolation_level
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        with conn.transaction():
            row = conn.execute(
                "SELECT pg_snapshot_xmin(pg_current_snapshot()), "
                "(SELECT cursor_xid FROM lineage_refresh_cursors WHERE name = %s), "
                "(SELECT max(denormalized_xid) FROM run_lineage_denormalized)",
                (name,),
            ).fetchone()
            assert row is not None
            xmin, cursor, last_written = row
            # no cursor yet: from the last denormalized write (a backfill or dbt built the rest), else all
            since = cursor or last_written or "1"
            runs = [r[0] for r in conn.execute(
                "SELECT uuid FROM lineage_runs WHERE changed_xid >= %s::xid8", (since,)
            ).fetchall()]  # fmt: skip
            jobs = [r[0] for r in conn.execute(
                "SELECT DISTINCT job_uuid FROM lineage_job_io WHERE changed_xid >= %s::xid8", (since,)
            ).fetchall()]  # fmt: skip
            result = RefreshResult(len(runs), len(jobs), run_ids=runs)
            if runs or jobs:
                done = batch.apply(
                    conn, models, [batch.FILL_LIST, batch.FILL_JOBS], {"runs": runs, "jobs": jobs}
                )
                result.rows = done.rows
            conn.execute(
                """INSERT INTO lineage_refresh_cursors (name, cursor_xid) VALUES (%s, %s)
                   ON CONFLICT (name) DO UPDATE SET cursor_xid = EXCLUDED.cursor_xid, updated_at = now()""",
                (name, xmin),
            )
    finally:
        conn.isolation_level = previous
    result.elapsed_s = time.monotonic() - started
    return result


class Refresher:
    """Micro-batches every `interval_s` in a thread, led by one process at a time."""

    def __init__(self, engines: Engines, models: LineageModels, *, interval_s: float = 0.5) -> None:
        self.engines = engines
        self.models = models
        self.interval_s = interval_s
        self.leader = False
        self.batches = 0
        self.runs = 0
        self.last_error: str | None = None
        self.last_batch_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lineage-refresher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 30) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout_s)

    def status(self) -> dict[str, Any]:
        return {
            "leader": self.leader,
            "batches": self.batches,
            "runs": self.runs,
            "last_batch_age_s": None
            if self.last_batch_at is None
            else round(time.monotonic() - self.last_batch_at, 3),
            "last_error": self.last_error,
        }

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with self.engines.connect(
                    autocommit=True, application_name="migrata lineage refresher"
                ) as lead:
                    got = lead.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (LEADER_KEY,)).fetchone()
                    if not (got and got[0]):
                        self._stop.wait(2.0)  # another process leads; take over if it goes away
                        continue
                    self.leader = True
                    with self.engines.connect(
                        autocommit=True, application_name="migrata lineage refresher"
                    ) as conn:
                        batch.ensure_tables(conn, self.models)
                        while True:
                            self._once(conn)
                            if self._stop.wait(self.interval_s):
                                self._once(conn)  # what was accepted before the stop is refreshed too
                                return
            except Exception as exc:  # keep serving: a failed batch is retried from the same cursor
                self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                log.warning("lineage refresher: %s", self.last_error)
                self._stop.wait(2.0)
            finally:
                self.leader = False

    def _once(self, conn: psycopg.Connection) -> None:
        result = refresh_changed(conn, self.models)
        self.batches += 1
        self.runs += result.runs
        self.last_batch_at = time.monotonic()
        self.last_error = None
