"""Own the parquet repair's types: entry classes, issue kinds, the store's configuration, results."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from python_ops.settings import MigrataSettings


class EntryClass(StrEnum):
    """What the current reader makes of one cached footer (and whether its file still exists)."""

    OK = "ok"
    LEGACY = "legacy-undecodable"  # a complete FileMetaData without the required num_rows
    CORRUPT = "corrupt"  # garbage, truncated, or not a FileMetaData at all
    FILE_MISSING = "file-missing"  # the object the entry describes is gone from storage


class IssueKind(StrEnum):
    """Why one entry could not be repaired; it is left exactly as it was."""

    FILE_MISSING = "file-missing"
    FILE_UNREADABLE = "file-unreadable"  # permission denied, a directory in place of the file
    NOT_PARQUET = "not-parquet"  # zero-length, too small, no PAR1 magic
    FILE_CORRUPT = "file-corrupt"  # the file's own footer does not decode
    MISMATCH = "schema-mismatch"  # the file no longer matches what the cache described
    STORAGE_ERROR = "storage-error"  # endpoint unreachable, timeouts


@dataclass(frozen=True)
class StoreConfig:
    """Which table and columns hold the cache; identifiers only, always quoted as identifiers."""

    table: str = "partition_metadata"
    path_column: str = "file_path"
    metadata_column: str = "metadata"
    updated_at_column: str | None = "updated_at"

    @classmethod
    def from_settings(cls, settings: MigrataSettings) -> StoreConfig:
        p = settings.parquet
        return cls(p.table, p.path_column, p.metadata_column, p.updated_at_column or None)


@dataclass(frozen=True)
class Issue:
    """One entry a repair or verification could not fix or confirm."""

    file_path: str
    kind: str
    detail: str = ""

    def as_row(self) -> dict[str, str]:
        return {"file_path": self.file_path, "kind": self.kind, "detail": self.detail}


@dataclass
class Refetched:
    """The outcome of re-reading one file's footer: new bytes to store, or the issue that stopped it."""

    file_path: str
    footer: bytes | None = None
    num_rows: int | None = None
    issue: Issue | None = None


@dataclass
class ClassCounts:
    """Counts per entry class plus a few example paths for each."""

    counts: dict[str, int] = field(default_factory=lambda: {c.value: 0 for c in EntryClass})
    examples: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    max_examples: int = 5

    def add(self, cls: EntryClass, path: str, detail: str = "") -> None:
        self.counts[cls.value] += 1
        if cls is not EntryClass.OK:
            bucket = self.examples.setdefault(cls.value, [])
            if len(bucket) < self.max_examples:
                bucket.append({"file_path": path, "detail": detail[:200]})

    @property
    def undecodable(self) -> int:
        return self.counts[EntryClass.LEGACY.value] + self.counts[EntryClass.CORRUPT.value]
