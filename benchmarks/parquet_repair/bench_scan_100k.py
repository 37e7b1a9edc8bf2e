"""Scan 100K cache entries (small: 10K; xl: 1M), 30% damaged, against the bare decode loop over the same
bytes (at most 100K of them, held in memory), with the scan's peak memory.

Footers of 1,000 real files (small: 200) are duplicated across rows to reach the entry count; the
scan runs without the storage listing (`check_files=False`), so it measures classification.
"""

from __future__ import annotations

import contextlib
import time

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.common import Figure, Session
from migrata_samples.parquet_store import damage_store, generate_store
from python_ops.engines.context import Engines
from python_ops.parquet_repair import footer as ft
from python_ops.parquet_repair import scan
from python_ops.parquet_repair.models import EntryClass, StoreConfig
from python_ops.parquet_repair.storage import Storage

NAME = "parquet_repair"
XL = True


def run(session: Session, scale: str) -> list[Figure]:
    entries, files = {"small": (10_000, 200), "full": (100_000, 1_000), "xl": (1_000_000, 1_000)}[scale]
    store = StoreConfig()
    storage = Storage.from_url(str(session.home / "objects"))
    with psycopg.connect(session.dsn, autocommit=True) as conn:
        generated = generate_store(conn, store, storage, files, max_rows=2000)
        damage_store(
            conn, store, storage, generated, 0.3, mix={"legacy": 0.8, "corrupt": 0.1, "truncated": 0.1}
        )
        conn.execute(
            "INSERT INTO partition_metadata (file_path, metadata, file_size, num_rows) "
            "SELECT file_path || '#' || g, metadata, file_size, num_rows "
            "FROM partition_metadata, generate_series(1, %s) AS g",
            (entries // files - 1,),
        )
        conn.execute("VACUUM ANALYZE partition_metadata")
        with session.meter() as meter:
            report = scan(Engines.from_dsn(session.dsn), store, check_files=False)
        counts = report.details["counts"]
        assert sum(counts.values()) == entries, counts
        scan_rate = entries / report.elapsed_s

        sample = "SELECT metadata FROM partition_metadata LIMIT 100000"  # the same mix, repeated copies
        blobs = [bytes(r[0]) for r in conn.execute(sample)]
    started = time.perf_counter()
    for blob in blobs:
        with contextlib.suppress(OSError):
            pq.read_metadata(pa.BufferReader(ft.frame(blob)))
    decode_rate = len(blobs) / (time.perf_counter() - started)
    undecodable = counts[EntryClass.LEGACY] + counts[EntryClass.CORRUPT]
    return [
        Figure(
            NAME,
            f"scan {entries} entries ({undecodable} undecodable), from Postgres, classified",
            scan_rate,
            "entries/s",
            decode_rate,
            "bare pq.read_metadata loop over the same bytes in memory",
            "entries/s (report)",
        ),
        Figure(
            NAME,
            "scan, classified (curve)",
            scan_rate,
            "entries/s",
            decode_rate,
            "bare decode loop",
            size=entries,
        ),
        *meter.figures(NAME, f"scan {entries} entries"),
    ]
