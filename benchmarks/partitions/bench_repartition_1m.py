"""Repartition the seed's `chunks` (xl: 10M rows of ~1 KB in 100K collections; full: 1M in 10K; small: 50K)
into 100 LIST partitions — copy, verification, swap, the retired original registered as the backup —
against a bare `INSERT INTO partitioned SELECT * FROM chunks` measured in the same run, with the time of
each phase, peak memory and disk; the separate backup copy earlier versions made first
(`create_backup`: CREATE TABLE AS + two fingerprints + spot checks) is timed on the same table for the
account. Then again while a writer inserts and updates ~1,000 rows/s: rows lost (must be 0) and the
swap's lock time. At xl only the run, its phases, memory and disk.
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
SCALES = {"small": (50_000, 1_000), "full": (1_000_000, 10_000), "xl": (10_000_000, 100_000)}
XL = True
PHASES = [  # hook step that ends each phase → its name
    ("precheck", "pre-check"),
    ("capture", "create the partitioned table + capture triggers"),
    ("indexes", "batched copy"),
    ("verify", "replay + keys"),
    ("swap", "verification + catch-up + lock"),
    ("swapped", "swap commit + backup registration"),
    (None, "foreign keys validated"),
]
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


class Clock:
    """The hook a run calls at each step: the first time each step is reached."""

    def __init__(self) -> None:
        self.started, self.at = time.perf_counter(), {}

    def __call__(self, step: str) -> None:
        self.at.setdefault(step, time.perf_counter())

    def phases(self, ended: float) -> list[tuple[str, float]]:
        out, last = [], self.started
        for step, name in PHASES:
            end = self.at.get(step, ended) if step else ended
            out.append((name, end - last))
            last = end
        return out


def run(session: Session, scale: str) -> list[Figure]:
    from python_ops.backups import create_backup

    rows, collections = SCALES[scale]
    size = {"small": "50k", "full": "1m", "xl": "10m"}[scale]
    bench = f"bench_repartition_{size}"
    migrations.downgrade(session.dsn, "chunks@-1")  # the plain table, as before the seed's migration
    engines = Engines.from_dsn(session.dsn)
    figures: list[Figure] = []
    with psycopg.connect(session.dsn, autocommit=True) as conn:
        fill_s, _ = timed(lambda: _fill(conn, rows, collections))
        base = _baseline(conn)
        clock = Clock()
        with session.meter() as meter:
            seconds, report = timed(lambda: repartition(engines, "chunks", "collection_id", 100, hook=clock))
        ended = clock.started + seconds
        assert report.ok, report.checks
        seed = SEED_SECONDS_PER_ROW * rows
        figures += [
            Figure(
                bench,
                f"repartition {rows} rows (copy + verify + swap; the retired original is the backup)",
                seconds,
                "s",
                base,
                "bare INSERT INTO partitioned SELECT * FROM chunks",
                "≤ 2.5x",
            ),
            Figure(bench, "repartition (curve)", seconds, "s", base, "bare INSERT … SELECT", size=rows),
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
                "repartition time per row",
                seconds / rows * 1e6,
                "µs",
                base / rows * 1e6,
                "bare",
            ),
            Figure(bench, "filling the table (setup, not measured)", fill_s, "s"),
        ]
        figures += [
            Figure(bench, f"phase: {name}", s, "s", seconds, "whole run") for name, s in clock.phases(ended)
        ]
        figures += meter.figures(bench, "repartition")
        if scale == "xl":  # 10 GB more disk and minutes for the account: measured at full and small
            return figures
        # what the separate backup copy (the earlier design's step 2) costs on the same table
        conn.execute("ANALYZE chunks")
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            backup_s, record = timed(lambda: create_backup(conn, "chunks", revision="bench"))
        conn.execute(f'DROP TABLE "{record.backup_table}"')
        figures.append(
            Figure(
                bench,
                "the separate backup copy the run no longer makes (create_backup on the same table)",
                backup_s,
                "s",
                seconds,
                "repartition",
            )
        )
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
    return [
        *figures,
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
