"""Own the value types of partitions: managed tables, their health, and repartition run state."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ManagedTable:
    """A RANGE-partitioned table under maintenance (one row of `managed_partitions`)."""

    parent_table: str
    partition_interval: str = "month"
    premake: int = 4
    retention: dt.timedelta | None = None
    retention_mode: str = "detach"
    enabled: bool = True
    last_run_at: dt.datetime | None = None
    last_created: int | None = None
    last_retired: int | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class PartitionInfo:
    """One partition: its bounds (UTC; None for DEFAULT) and exact row count."""

    name: str
    lo: dt.datetime | None
    hi: dt.datetime | None
    rows: int
    is_default: bool = False


@dataclass
class TableHealth:
    """Health of one managed table: partitions, rows, skew, default rows, missing future partitions."""

    table: str
    interval: str
    premake: int
    partitions: list[PartitionInfo] = field(default_factory=list)
    default_rows: int = 0
    has_default: bool = False
    missing_future: list[str] = field(default_factory=list)
    retire_due: list[str] = field(default_factory=list)
    last_error: str | None = None

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.partitions)

    @property
    def skew(self) -> float:
        """Largest partition over the mean of the non-empty, non-default ones (1.0 is perfectly even).

        Empty partitions are left out: future time partitions are empty by design.
        """
        counts = [p.rows for p in self.partitions if not p.is_default and p.rows]
        mean = sum(counts) / len(counts) if counts else 0
        return round(max(counts) / mean, 2) if mean else 0.0

    @property
    def future_ok(self) -> bool:
        return not self.missing_future

    @property
    def default_empty(self) -> bool:
        return self.default_rows == 0

    def summary_row(self) -> list[Any]:
        return [
            self.table,
            self.interval,
            sum(not p.is_default for p in self.partitions),
            self.rows,
            self.skew,
            self.default_rows if self.has_default else "-",
            len(self.missing_future),
            len(self.retire_due),
            self.last_error or "",
        ]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            rows=self.rows, skew=self.skew, future_ok=self.future_ok, default_empty=self.default_empty
        )
        return data


HEALTH_COLUMNS = [
    "table",
    "interval",
    "partitions",
    "rows",
    "skew",
    "default rows",
    "missing future",
    "retire due",
    "error",
]
