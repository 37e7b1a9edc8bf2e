"""Own parquet footer-cache repair (seed 001): scan, repair (and restore), verify, lazy load.

`partition_metadata` caches each parquet file's serialized FileMetaData. After a reader upgrade,
entries written without the required `num_rows` (and otherwise damaged ones) no longer decode;
these verbs find them, re-read the footers from object storage and rewrite them safely.

Every verb takes `Engines` first and opens its own connections: `scan(engines, store, storage)`,
`repair(engines, store, storage, …)` and its inverse `restore(engines, store, backup_table)` (both
holding the ("parquet_repair", <table>) operation lock), `verify(engines, store, storage)`, and the
lazy `load_metadata(engines, file_path, storage=…)`.
"""

from python_ops.parquet_repair.apply import repair, restore
from python_ops.parquet_repair.footer import classify, decode, serialize
from python_ops.parquet_repair.lazy import MetadataLoader, load_metadata
from python_ops.parquet_repair.models import EntryClass, Issue, IssueKind, StoreConfig
from python_ops.parquet_repair.scan import scan
from python_ops.parquet_repair.storage import Storage
from python_ops.parquet_repair.verify import verify

__all__ = [
    "EntryClass",
    "Issue",
    "IssueKind",
    "MetadataLoader",
    "Storage",
    "StoreConfig",
    "classify",
    "decode",
    "load_metadata",
    "repair",
    "restore",
    "scan",
    "serialize",
    "verify",
]
