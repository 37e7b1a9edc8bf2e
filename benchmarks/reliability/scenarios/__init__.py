"""The fault-injection scenarios, one small class per long operation, by name."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.reliability.harness import Scenario
from benchmarks.reliability.scenarios.archive import ArchiveCleanup, ArchiveCopy
from benchmarks.reliability.scenarios.lineage import Backfill, Backfill2, Ingestion, Retain, RunPending
from benchmarks.reliability.scenarios.parquet import ParquetRepair
from benchmarks.reliability.scenarios.partitions import Repartition, Retention

SCENARIOS: dict[str, Callable[[str], Scenario]] = {
    "repartition": Repartition,
    "parquet_repair": ParquetRepair,
    "retention": Retention,
    "run_pending": RunPending,
    "backfill_1": Backfill,
    "backfill_2": Backfill2,
    "ingestion": Ingestion,
    "archive_copy": ArchiveCopy,
    "archive_cleanup": ArchiveCleanup,
    "lineage_retain": Retain,
}
# the short seeded run in `make test` (tests/benchmarks/test_reliability.py): the quickest operations
# with a kill of each kind; the full run covers every operation above
OWN = ("repartition", "parquet_repair", "retention")
