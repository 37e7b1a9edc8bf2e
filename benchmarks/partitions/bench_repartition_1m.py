"""Repartition the seed's `chunks` (full: 1M rows of ~1 KB in 10K collections; small: 50K) into 100 LIST
partitions — backup, both verifications, copy, swap — against a bare
`INSERT INTO partitioned SELECT * FROM chunks` measured in the same run; then again while a writer
inserts and updates ~1,000 rows/s: rows lost (must be 0) and the swap's lock time.
"""

from __future__ import annotations

import threading
import time

import psycopg

from benchmarks.common import Figure, Session, timed
from python_ops import migrations
from python_ops.engines.context import Engines
from python_ops.partitions import repartition, rollback

NAME = "partitions"
SCALES = {"small": (50_000, 1_000), "full": (1_000_000, 10_000)}
SEED_SECONDS_PER_ROW = 12.5 * 60 / 1_000_000  # the seed quotes 10-15 min for 1M rows


def _fill(conn: psycopg.Connection, rows: int, collections: int) -> None:
    conn.execute(
        "INSERT INTO collections (name) SELECT 'c' || i FROM generate_series(1, %s) i", (collections,)
    )
    conn.execute(
        "INSERT INTO chunks (collection_id, partition_key, content, metadata) "
        "WITH c AS (SELECT array_agg(id) AS ids FROM collections) "
        "SELECT c.ids[1 + i %% %s], migrata_partition_key((c.ids[1 + i %% %s])::text, 100), "
        "repeat(md5(i::text), 32), jsonb_build_object('i', i, 'source', 'bench') "
        "FROM generate_series(1, %s) i, c",
        (collections, collections, rows),
    )
    conn.execute("VACUUM ANALYZE chunks")


def _baseline(conn: psycopg.Connection) -> float:
    conn.execute("CREATE TABLE baseline (LIKE chunks INCLUDING DEFAULTS) PARTITION BY LIST (partition_key)")
    for k in range(100):
        conn.execute(f"CREATE TABLE baseline_p{k:02d} PARTITION OF baseline FOR VALUES IN ({k})")
    seconds, _ = timed(lambda: conn.execute("INSERT INTO baseline SELECT * FROM chunks"))
    conn.execute("DROP TABLE baseline")
    return seconds


class Writer(threading.Thread):
    """~1,000 rows/s: every 10 ms a transaction inserting 5 chunks and updating 5, mirrored into `shadow`."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.stop, self.rows, self.errors = dsn, threading.Event(), 0, 0

    def run(self) -> None:
        with psycopg.connect(self.dsn, prepare_threshold=None) as w:
            ids = [r[0] for r in w.execute("SELECT id FROM collections ORDER BY name LIMIT 50").fetchall()]
            w.commit()
            n = 0
            while not self.stop.is_set():
                started = time.perf_counter()
                n += 1
                try:
                    w.execute(
                        "WITH ins AS (INSERT INTO chunks (collection_id, partition_key, content, metadata) "
                        "SELECT c, migrata_partition_key(c::text, 100), 'written during the run', "
                        "jsonb_build_object('w', %s) FROM unnest(%s::uuid[]) AS c "
                        "RETURNING id, metadata) "
                        "INSERT INTO shadow SELECT * FROM ins",
                        (n, ids[n % 10 * 5 : n % 10 * 5 + 5]),
                    )
                    w.execute(
                        "WITH upd AS (UPDATE chunks SET metadata = jsonb_build_object('u', %s) "
                        "WHERE id IN (SELECT (random() * 1000)::bigint + %s * 5 FROM generate_series(1, 5)) "
                        "RETURNING id, metadata) "
                        "INSERT INTO shadow SELECT * FROM upd "
                        "ON CONFLICT (id) DO UPDATE SET metadata = EXCLUDED.metadata",
                        (n, n % 1000),
                    )
                    w.commit()
                    self.rows += 10
                except psycopg.Error:
                    w.rollback()
                    self.errors += 1
                time.sleep(max(0.0, 0.01 - (time.perf_counter() - started)))


def run(session: Session, scale: str) -> list[Figure]:
    rows, collections = SCALES[scale]
    bench = f"bench_repartition_{'1m' if scale == 'full' else '50k'}"
    migrations.downgrade(session.dsn, "chunks@-1")  # the plain table, as before the seed's migration
    engines = Engines.from_dsn(session.dsn)
    with psycopg.connect(session.dsn, autocommit=True) as conn:
        _fill(conn, rows, collections)
        base = _baseline(conn)
        seconds, report = timed(lambda: repartition(engines, "chunks", "collection_id", 100))
        assert report.ok, report.checks
        rollback_s, undo = timed(lambda: rollback(engines, "chunks"))
        assert undo.ok

        conn.execute("CREATE TABLE shadow (id bigint PRIMARY KEY, metadata jsonb)")
        writer = Writer(session.dsn)
        writer.start()
        time.sleep(0.5)
        online_s, online = timed(lambda: repartition(engines, "chunks", "collection_id", 100))
        time.sleep(0.5)
        writer.stop.set()
        writer.join()
        assert online.ok, online.checks
        lost = conn.execute(
            "SELECT count(*) FROM shadow s LEFT JOIN chunks c ON c.id = s.id "
            "WHERE c.id IS NULL OR c.metadata IS DISTINCT FROM s.metadata"
        ).fetchone()[0]  # type: ignore[index]
    seed = SEED_SECONDS_PER_ROW * rows
    return [
        Figure(
            bench,
            f"repartition {rows} rows (backup + verify + copy + verify + swap)",
            seconds,
            "s",
            base,
            "bare INSERT INTO partitioned SELECT * FROM chunks",
            "≤ 3x",
        ),
        Figure(
            bench,
            "repartition vs the seed's quoted time",
            seconds,
            "s",
            seed,
            "seed 002: 10-15 min per 1M rows",
            "≥ 20x faster (ratio ≤ 0.05)",
        ),
        Figure(
            bench,
            "rollback after the swap (writes carried back, verified)",
            rollback_s,
            "s",
            seconds,
            "repartition",
        ),
        Figure(
            bench,
            f"repartition with a writer ({writer.rows} rows written, {writer.errors} failed txns)",
            online_s,
            "s",
            base,
            "bare INSERT … SELECT",
            "≤ 3x",
        ),
        Figure(bench, "rows lost with the writer", float(lost), "rows", goal="0"),
        Figure(
            bench,
            "swap lock held (with the writer)",
            float(online.details["swap_lock_ms"]),
            "ms",
            goal="< 1000 ms",
        ),
    ]
