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
# what this branch owns and runs at 100 trials; the rest are written against today's verbs and run
# with few trials while lineage and archive are reworked
OWN = ("repartition", "parquet_repair", "retention")
