"""Footers read ahead of their batch are used only for entries that still hold the bytes planned from."""

from __future__ import annotations

from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest

from migrata_samples.parquet_store import Generated
from python_ops.engines.context import Engines
from python_ops.parquet_repair import repair
from python_ops.parquet_repair.apply import RepairOperation
from python_ops.parquet_repair.storage import Storage
from python_ops.parquet_repair.thrift_codec import drop_fields
from python_ops.runner import Batch, Plan
from tests.python_ops.parquet_repair.conftest import STORE, CountingStorage, entries


def test_entries_changed_after_their_read_ahead_are_judged_by_their_current_bytes(
    conn: psycopg.Connection,
    storage: Storage,
    repairable: Generated,
    engines: Engines,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    targets = sorted(repairable.of("legacy") + repairable.of("corrupt") + repairable.of("truncated"))
    # batches of 2: the second batch's footers are read ahead while the first one runs
    fixed_elsewhere, replaced = targets[2], targets[3]
    before = entries(conn)
    healthy = next(p for p in repairable.paths if p not in targets)
    rows = pq.read_metadata(storage.full(replaced)).num_rows
    other = next(p for p in repairable.paths if pq.read_metadata(storage.full(p)).num_rows != rows)
    # an old writer's footer of another file: the read-ahead (from the planned shape) would accept the
    # file's footer, the entry's current bytes must not
    foreign_legacy = drop_fields(before[other] if other not in targets else storage.read_footer(other))
    run_batch = RepairOperation.run_batch
    calls: list[int] = []

    def change_then_run(self: RepairOperation, c: psycopg.Connection, position: Any, plan: Plan) -> Batch:
        calls.append(1)
        if len(calls) == 2:  # the first batch has committed; the second's footers were read during it
            assert 2 in self._ahead, "the second batch was not read ahead during the first"
            update = "UPDATE partition_metadata SET metadata = %s WHERE file_path = %s"
            conn.execute(update, (before[healthy], fixed_elsewhere))  # another session
            conn.execute(update, (foreign_legacy, replaced))
        return run_batch(self, c, position, plan)

    monkeypatch.setattr(RepairOperation, "run_batch", change_then_run)
    counting = CountingStorage(storage)
    report = repair(engines, STORE, counting, batch_size=2, workers=2)

    # the entry describing another file stays undecodable, with its reason reported
    assert {c.name for c in report.failed_checks} == {"all affected entries decode now"}, report.summary()
    assert report.details["migrated"] == len(targets) - 2
    assert report.details["skipped"] == 1 and report.details["errors_schema-mismatch"] == 1
    now = entries(conn)
    assert now[fixed_elsewhere] == before[healthy]  # healthy now: left as the other writer made it
    assert now[replaced] == foreign_legacy  # describes another file: reported, not overwritten
    # every target read once ahead, and the replaced entry once more for its current bytes
    assert counting.reads == len(targets) + 1
