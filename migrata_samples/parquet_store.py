"""Own realistic test data: real parquet files in storage, their footers in the cache, real damage.

`generate_store` writes N parquet files with pyarrow (several schemas, row-group layouts and sizes)
and fills the cache with their footers in one COPY. `damage_store` then damages a share the way an
upgrade does — footers re-encoded through the Thrift compact protocol WITHOUT the required
`num_rows` (field 3 of FileMetaData) — plus truly corrupt bytes, truncated bytes, entries whose file
was deleted, and files that are zero-length, not parquet, or a directory (unreadable, also as root).
Used by tests, the demo and the benchmarks.
"""

from __future__ import annotations

import io
import random
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

from python_ops.parquet_repair import store as st
from python_ops.parquet_repair.models import StoreConfig
from python_ops.parquet_repair.storage import Storage
from python_ops.parquet_repair.thrift_codec import drop_fields

SCHEMAS = ("blocks", "processes", "streams", "log_entries")


def _table(schema: str, rows: int, rng: random.Random) -> pa.Table:
    base = rng.randrange(1_000_000)
    ids = pa.array(range(base, base + rows), pa.int64())
    if schema == "blocks":
        return pa.table(
            {
                "block_id": ids,
                "stream_id": pa.array([f"s{i % 97}" for i in range(rows)]),
                "begin_ticks": pa.array(range(rows), pa.int64()),
                "payload_size": pa.array([i % 4096 for i in range(rows)], pa.int32()),
            }
        )
    if schema == "processes":
        return pa.table(
            {
                "process_id": ids,
                "exe": pa.array([f"/bin/app{i % 7}" for i in range(rows)]).dictionary_encode(),
                "start_time": pa.array(range(rows), pa.timestamp("us", tz="UTC")),
                "cpu": pa.array([i * 0.5 for i in range(rows)], pa.float64()),
            }
        )
    if schema == "streams":
        return pa.table(
            {
                "stream_id": ids,
                "tags": pa.array([[f"t{i % 5}", "x"] for i in range(rows)], pa.list_(pa.string())),
                "props": pa.array(
                    [{"k": f"k{i % 3}", "v": i} for i in range(rows)],
                    pa.struct([("k", pa.string()), ("v", pa.int64())]),
                ),
            }
        )
    return pa.table(
        {
            "time": pa.array(range(rows), pa.timestamp("ns")),
            "level": pa.array([i % 6 for i in range(rows)], pa.int8()),
            "target": pa.array([f"mod::{i % 13}" for i in range(rows)]),
            "msg": pa.array([f"message {i}" for i in range(rows)]),
        }
    )


def parquet_bytes(table: pa.Table, row_group_size: int) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=row_group_size)
    return sink.getvalue()


def file_footer(data: bytes) -> bytes:
    """The serialized FileMetaData of a whole parquet file held in memory."""
    length = struct.unpack("<I", data[-8:-4])[0]
    return data[-8 - length : -8]


@dataclass
class Generated:
    """What was generated: every path, and for each kind of damage the paths it hit."""

    paths: list[str] = field(default_factory=list)
    damaged: dict[str, list[str]] = field(default_factory=dict)

    def of(self, kind: str) -> list[str]:
        return self.damaged.get(kind, [])


def generate_store(
    conn: psycopg.Connection,
    store: StoreConfig,
    storage: Storage,
    files: int,
    *,
    seed: int = 7,
    max_rows: int = 3000,
    prefix: str = "views",
) -> Generated:
    """Write `files` parquet files and cache their (healthy) footers; replaces entries at those paths."""
    rng = random.Random(seed)
    # A few template tables per schema, sliced per file: realistic variety without paying for it N times.
    templates = {s: _table(s, max_rows, rng) for s in SCHEMAS}
    rows_out: list[tuple[str, bytes, int, int]] = []
    for i in range(files):
        schema = SCHEMAS[i % len(SCHEMAS)]
        rows = rng.randint(50, max_rows)
        groups = rng.choice((1, 2, 3, 4))
        data = parquet_bytes(
            templates[schema].slice(rng.randrange(max_rows - rows + 1), rows), -(-rows // groups)
        )
        path = f"{prefix}/{schema}/{i // 100:04d}/part-{i:06d}.parquet"
        storage.write(path, data)
        rows_out.append((path, file_footer(data), len(data), rows))
    ids = {
        "t": sql.Identifier(store.table),
        "p": sql.Identifier(store.path_column),
        "m": sql.Identifier(store.metadata_column),
    }
    with conn.transaction():
        conn.execute(
            sql.SQL("DELETE FROM {t} WHERE {p} = ANY(%s)").format(**ids), ([r[0] for r in rows_out],)
        )
        with conn.cursor().copy(
            sql.SQL("COPY {t} ({p}, {m}, file_size, num_rows) FROM STDIN").format(**ids)
        ) as copy:
            for row in rows_out:
                copy.write_row(row)
    return Generated(paths=[r[0] for r in rows_out])


DEFAULT_MIX = {"legacy": 0.7, "corrupt": 0.1, "truncated": 0.1, "missing": 0.1}


def damage_store(
    conn: psycopg.Connection,
    store: StoreConfig,
    storage: Storage,
    generated: Generated,
    share: float,
    *,
    mix: dict[str, float] | None = None,
    bad_files: Sequence[str] = (),
    seed: int = 11,
) -> Generated:
    """Damage `share` of the entries by `mix` (legacy / corrupt / truncated / missing) and, optionally,
    replace one file each with a zero-length file, a non-parquet file, and a directory (`bad_files`
    names which: "zero-length", "not-parquet", "directory"; their entries become legacy)."""
    rng = random.Random(seed)
    mix = mix or DEFAULT_MIX
    chosen = rng.sample(generated.paths, round(len(generated.paths) * share))
    current = st.lock_entries(conn, store, chosen)
    updates: list[tuple[str, bytes]] = []
    start = 0
    kinds = list(mix.items())
    for index, (kind, weight) in enumerate(kinds):
        take = len(chosen) - start if index == len(kinds) - 1 else round(len(chosen) * weight)
        for path in chosen[start : start + take]:
            good = current[path]
            if kind == "legacy":
                updates.append((path, drop_fields(good)))
            elif kind == "corrupt":
                updates.append((path, rng.randbytes(len(good))))
            elif kind == "truncated":
                updates.append((path, good[: len(good) // 2]))
            elif kind == "missing":
                updates.append((path, drop_fields(good)))
                storage.delete(path)
            generated.damaged.setdefault(kind, []).append(path)
        start += take
    healthy = [p for p in generated.paths if p not in set(chosen)]
    for kind, path in zip(bad_files, healthy, strict=False):
        good = st.read_entry(conn, store, path) or b""
        updates.append((path, drop_fields(good)))
        generated.damaged.setdefault(kind, []).append(path)
        if kind == "zero-length":
            storage.write(path, b"")
        elif kind == "not-parquet":
            storage.write(path, b"timestamp,level,msg\n2026-01-01,info,not parquet at all\n")
        elif kind == "directory":  # unreadable even for root, unlike chmod 000
            storage.delete(path)
            storage.fs.create_dir(storage.full(path))
        else:
            raise ValueError(f"unknown bad file kind {kind!r}")
    with conn.transaction():
        st.update_entries(conn, store, updates)
    return generated
