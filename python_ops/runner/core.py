"""Own the one runner every long operation uses: plan → run in batches → verify → report.

An `Operation` says how to plan, how to do one batch from a position, and how to verify. The runner
does the rest the same way everywhere: `dry_run` stops after the plan; each batch runs in its own
transaction together with its checkpoint, so a killed run resumes after the last committed batch;
verification decides the status; progress goes to a callback (Rich bar in the CLI, log lines in
Dagster).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import psycopg

from python_ops.db import cancelled, use_autocommit
from python_ops.runner import checkpoints
from python_ops.runner.models import Batch, Check, Plan, Progress, Report

ProgressCallback = Callable[[Progress], None]


class Operation(ABC):
    """A long operation in migrata's one shape. `name` is its checkpoint key: stable across reruns."""

    name: str

    @abstractmethod
    def plan(self, conn: psycopg.Connection) -> Plan:
        """Read state and say what will change. Must not write."""

    @abstractmethod
    def run_batch(self, conn: psycopg.Connection, position: Any, plan: Plan) -> Batch:
        """Do one batch starting after `position` (None at the start) inside the open transaction."""

    def verify(self, conn: psycopg.Connection, plan: Plan) -> list[Check]:
        """Compare what was written with its source (counts, checksums)."""
        return []

    def finish(self, conn: psycopg.Connection, plan: Plan, report: Report) -> None:  # noqa: B027
        """Act once verification passed (e.g. advance a watermark, swap tables). Default: nothing."""


def _noop(_: Progress) -> None:
    return None


def execute(
    op: Operation,
    conn: psycopg.Connection,
    *,
    dry_run: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Report:
    """Run `op` to completion (or to its plan with `dry_run`) and return its report. A statement Postgres
    cancels (its statement_timeout) becomes one error naming the operation and the setting."""
    try:
        return _execute(op, conn, dry_run=dry_run, on_progress=on_progress)
    except Exception as exc:
        error = cancelled(exc, op.name, conn)
        if error is None:
            raise
        raise error from exc


def _execute(
    op: Operation,
    conn: psycopg.Connection,
    *,
    dry_run: bool,
    on_progress: ProgressCallback | None,
) -> Report:
    notify = on_progress or _noop
    started = time.monotonic()
    use_autocommit(conn)

    notify(Progress(op.name, "plan", 0, 0, "rows", message="planning"))
    plan = op.plan(conn)
    if dry_run:
        return Report(op.name, "dry-run", plan, elapsed_s=time.monotonic() - started)

    saved = checkpoints.load(conn, op.name)
    resuming = saved is not None and saved.status == "running"
    if plan.nothing_to_do and not resuming:
        checks = op.verify(conn, plan)
        status = "nothing-to-do" if all(c.ok for c in checks) else "failed"
        return Report(op.name, status, plan, checks=checks, elapsed_s=time.monotonic() - started)

    if resuming:
        assert saved is not None
        position, units, batches = saved.position, saved.units, saved.batches
    else:
        with conn.transaction():
            checkpoints.start(conn, op.name)
        position, units, batches = None, 0, 0
    resumed_from = position if resuming else None
    details: dict[str, Any] = {}
    run_started, units_at_start = time.monotonic(), units  # the rate and ETA count this run only

    done = False
    while not done:
        with conn.transaction():
            batch = op.run_batch(conn, position, plan)
            checkpoints.advance(conn, op.name, batch.position, batch.units)
        position, done = batch.position, batch.done
        units += batch.units
        batches += 1
        for key, value in batch.details.items():
            details[key] = details.get(key, 0) + value if isinstance(value, int) else value
        total = max(plan.total, units)
        elapsed = time.monotonic() - run_started
        rate = (units - units_at_start) / elapsed if elapsed > 0 and units > units_at_start else None
        eta = (total - units) / rate if rate else None
        notify(Progress(op.name, "run", units, total, plan.unit, batches, rate=rate, eta_s=eta))

    notify(Progress(op.name, "verify", units, max(plan.total, units), plan.unit, batches, "verifying"))
    checks = op.verify(conn, plan)
    report = Report(
        op.name,
        "ok" if all(c.ok for c in checks) else "failed",
        plan,
        units_done=units,
        batches=batches,
        resumed_from=resumed_from,
        checks=checks,
        details=details,
    )
    if report.ok:
        op.finish(conn, plan, report)
    with conn.transaction():
        checkpoints.finish(conn, op.name, "done" if report.ok else "failed")
    report.elapsed_s = time.monotonic() - started
    notify(Progress(op.name, "done", units, max(plan.total, units), plan.unit, batches, report.summary()))
    return report


class LogProgress:
    """A progress callback writing a log line at most every `every_s` seconds (and at phase changes)."""

    def __init__(self, logger: logging.Logger | Any, every_s: float = 5.0) -> None:
        self.logger = logger
        self.every_s = every_s
        self._last = 0.0
        self._phase = ""

    def __call__(self, event: Progress) -> None:
        now = time.monotonic()
        if event.phase == self._phase and event.phase == "run" and now - self._last < self.every_s:
            return
        self._last, self._phase = now, event.phase
        if event.phase == "run":
            pct = f" ({100 * event.done / event.total:.0f}%)" if event.total else ""
            pace = f", {event.pace()}" if event.rate else ""
            self.logger.info(
                f"{event.operation}: batch {event.batch}, {event.done}/{event.total} {event.unit}{pct}{pace}"
            )
        else:
            self.logger.info(f"{event.operation}: {event.phase} {event.message}".rstrip())
