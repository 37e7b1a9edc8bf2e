"""Own the pacing of heavy data migrations: a row-rate cap and a pause while a lag/load signal is high.

A `Throttle` wraps the progress callback a data migration's run callable hands to the shared runner.
The runner calls it after each batch has committed, so sleeping there paces the batches without
holding a transaction or a lock, and works for every run callable unchanged. The rate is kept over
the run, from its first committed batch: a batch that ran slow is not made up by a burst later
(the schedule restarts when it falls more than `slack_s` behind), and a pause restarts it too.

A signal is any callable returning a number; `replication_lag` reads the largest replay lag of the
repository's standbys from `pg_stat_replication` (0 without a standby).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from python_ops.runner.models import Progress

if TYPE_CHECKING:
    import psycopg

    from python_ops.runner import ProgressCallback

log = logging.getLogger("migrata.migrations")

Signal = Callable[[], float]


def replication_lag(conn: psycopg.Connection) -> Signal:
    """The largest replay lag in seconds of the standbys streaming from `conn`'s server (0 if none)."""

    def read() -> float:
        row = conn.execute(
            "SELECT coalesce(max(extract(epoch FROM replay_lag)), 0)::float8 FROM pg_stat_replication"
        ).fetchone()
        return float(row[0]) if row else 0.0

    return read


@dataclass
class Pause:
    """Pause while `signal()` is above `limit`; `name` and `unit` say what it is in messages."""

    signal: Signal
    limit: float
    name: str = "replication lag"
    unit: str = "s"
    poll_s: float = 1.0


@dataclass
class _Schedule:
    started: float
    done_at_start: int


@dataclass
class Throttle:
    """A progress callback that forwards every event to `forward` and paces the batches."""

    forward: ProgressCallback | None = None
    max_rows_per_second: float | None = None
    pause: Pause | None = None
    slack_s: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    paused_s: float = 0.0
    slept_s: float = 0.0
    _schedules: dict[str, _Schedule] = field(default_factory=dict)

    def __call__(self, event: Progress) -> None:
        if self.forward is not None:
            self.forward(event)
        if event.phase != "run":
            return
        schedule = self._schedules.get(event.operation)
        if schedule is None:  # the first committed batch of this run sets the schedule
            self._schedules[event.operation] = _Schedule(self.clock(), event.done)
        elif self.max_rows_per_second:
            due = schedule.started + (event.done - schedule.done_at_start) / self.max_rows_per_second
            wait = due - self.clock()
            if wait > 0:
                self.sleep(wait)
                self.slept_s += wait
            elif -wait > self.slack_s:  # fell behind (slow batches): no burst to catch up
                self._schedules[event.operation] = _Schedule(self.clock(), event.done)
        if self.pause is not None and self._wait_while_high(event):
            self._schedules[event.operation] = _Schedule(self.clock(), event.done)

    def _wait_while_high(self, event: Progress) -> bool:
        assert self.pause is not None
        pause, paused_at = self.pause, None
        while (value := pause.signal()) > pause.limit:
            if paused_at is None:
                paused_at = self.clock()
                message = f"paused: {pause.name} {value:g} {pause.unit} > {pause.limit:g} {pause.unit}"
                log.warning(f"{event.operation}: {message}; waiting after batch {event.batch}")
                if self.forward is not None:
                    self.forward(replace(event, message=message, rate=None, eta_s=None))
            self.sleep(pause.poll_s)
        if paused_at is None:
            return False
        waited = self.clock() - paused_at
        self.paused_s += waited
        log.warning(f"{event.operation}: {pause.name} back under {pause.limit:g} {pause.unit}; resuming "
                    f"after {waited:.1f}s")  # fmt: skip
        return True
