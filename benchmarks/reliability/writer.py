"""Own the concurrent writer of the repartition trials and its log of committed writes.

Threads, each on its own connection in autocommit, insert, update and delete rows of `items` as fast as
they can (no pacing: the rate is what the machine sustains beside the repartitioning). Each thread owns
the ids it touches (initial ids by `id % threads`, plus its own inserts), so its log alone says what
each of those rows must hold afterwards. A write whose commit outcome is unknown (the connection died
during it: a postmaster kill) is logged as uncertain with both acceptable outcomes, and its row is left
alone afterwards. `expected()` folds the log into the control; `check()` compares a table with it.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

import psycopg

DELETED = None


def row_hash(id_: int, g: int, body: str, n: int) -> str:
    """The same text SQL hashes in `HASH_SQL`: md5 of id|g|body|n."""
    return hashlib.md5(f"{id_}|{g}|{body}|{n}".encode()).hexdigest()


HASH_SQL = "md5(concat_ws('|', id, g, body, n))"


@dataclass
class _Log:
    state: dict[int, str | None] = field(default_factory=dict)  # id -> expected hash, None: deleted
    uncertain: dict[int, tuple[str | None, ...]] = field(default_factory=dict)  # id -> acceptable hashes
    uncertain_updates: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # id -> (token, old)
    uncertain_inserts: set[str] = field(default_factory=set)  # bodies of inserts that may have landed
    ops: int = 0
    errors: int = 0
    anomalies: list[str] = field(default_factory=list)
    latencies_ms: array = field(default_factory=lambda: array("f"))
    slow: list[tuple[float, float]] = field(default_factory=list)  # (wall start, ms) of ops over 10 ms


class Writer:
    """`threads` unpaced writers over `items`; `stop()` returns the rate and latency figures."""

    def __init__(
        self, dsn: str, control: dict[int, str], *, threads: int = 2, partitions: int = 16, seed: int = 0
    ) -> None:
        self.dsn, self.control, self.partitions, self.seed = dsn, control, partitions, seed
        self.logs = [_Log() for _ in range(threads)]
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(threads)]
        self.started = time.monotonic()
        self.stopped = self.started

    def start(self) -> Writer:
        self.started = time.monotonic()
        for t in self.threads:
            t.start()
        return self

    def _connect(self) -> psycopg.Connection | None:
        try:
            return psycopg.connect(self.dsn, autocommit=True, connect_timeout=2, prepare_threshold=None)
        except psycopg.Error:
            time.sleep(0.1)
            return None

    def _run(self, k: int) -> None:
        log, rng = self.logs[k], random.Random(self.seed * 1000 + k)
        pool = [i for i in self.control if i % len(self.threads) == k]
        conn: psycopg.Connection | None = None
        seq = 0
        while not self.stop_event.is_set():
            if conn is None or conn.closed:
                conn = self._connect()
                continue
            seq += 1
            roll = rng.random()
            wall, t0 = time.time(), time.perf_counter()
            token = f"w{k}-{seq}"
            kind = "insert" if roll < 0.4 or not pool else ("update" if roll < 0.8 else "delete")
            try:
                if kind == "insert":
                    g = rng.randrange(1000)
                    row = conn.execute(
                        "INSERT INTO items (g, partition_key, body, n) "
                        "VALUES (%s, migrata_partition_key(%s::text, %s), %s, 0) RETURNING id",
                        (g, g, self.partitions, token),
                    ).fetchone()
                    assert row is not None
                    log.state[row[0]] = row_hash(row[0], g, token, 0)
                    pool.append(row[0])
                elif kind == "update":
                    i = rng.choice(pool)
                    try:
                        row = conn.execute(
                            "UPDATE items SET body = %s, n = n + 1 WHERE id = %s RETURNING g, n", (token, i)
                        ).fetchone()
                    except psycopg.OperationalError:
                        log.uncertain_updates[i] = (token, self._current(log, i))
                        pool.remove(i)
                        raise
                    if row is None:
                        log.anomalies.append(f"update of id {i} found no row")
                        pool.remove(i)
                    else:
                        log.state[i] = row_hash(i, row[0], token, row[1])
                else:
                    i = pool.pop(rng.randrange(len(pool)))
                    try:
                        deleted = conn.execute("DELETE FROM items WHERE id = %s", (i,)).rowcount
                    except psycopg.OperationalError:
                        log.uncertain[i] = (DELETED, self._current(log, i))
                        raise
                    if deleted != 1:
                        log.anomalies.append(f"delete of id {i} found no row")
                    log.state[i] = DELETED
            except psycopg.OperationalError:
                if kind == "insert":
                    log.uncertain_inserts.add(token)
                with_conn, conn = conn, None
                with_conn.close()
                continue
            except psycopg.Error:
                log.errors += 1  # refused (e.g. a lock timeout): not committed, nothing to log
                continue
            ms = (time.perf_counter() - t0) * 1000
            log.ops += 1
            log.latencies_ms.append(ms)
            if ms > 10:
                log.slow.append((wall, ms))
        if conn is not None:
            conn.close()

    def _current(self, log: _Log, i: int) -> str | None:
        return log.state[i] if i in log.state else self.control.get(i)

    def stop(self) -> dict[str, Any]:
        self.stop_event.set()
        for t in self.threads:
            t.join()
        self.stopped = time.monotonic()
        return self.stats()

    def stats(self) -> dict[str, Any]:
        lat = sorted(x for log in self.logs for x in log.latencies_ms)
        ops = sum(log.ops for log in self.logs)
        seconds = max(self.stopped - self.started, 1e-9)
        return {
            "ops": ops,
            "ops_per_s": round(ops / seconds),
            "max_ms": round(lat[-1], 1) if lat else 0.0,
            "p99_ms": round(lat[int(0.99 * (len(lat) - 1))], 1) if lat else 0.0,
            "uncertain": sum(
                len(log.uncertain) + len(log.uncertain_updates) + len(log.uncertain_inserts)
                for log in self.logs
            ),
            "refused": sum(log.errors for log in self.logs),
        }

    def worst_ms_between(self, start: float, end: float) -> float:
        """The slowest committed write that was in flight between two wall-clock instants."""
        return max(
            (ms for log in self.logs for wall, ms in log.slow if wall <= end and wall + ms / 1000 >= start),
            default=0.0,
        )

    def compare(self, rows: dict[int, tuple[str, str]], duplicate_ids: int) -> tuple[int, int, list[str]]:
        """(lost, duplicated, problems) of the table's `rows` (id -> (hash, body)) against control + log."""
        expected: dict[int, str | None] = dict(self.control)
        accept: dict[int, tuple[str | None, ...]] = {}
        updates: dict[int, tuple[str, str | None]] = {}
        tokens: set[str] = set()
        problems: list[str] = []
        for log in self.logs:
            expected.update(log.state)
            accept.update(log.uncertain)
            updates.update(log.uncertain_updates)
            tokens |= log.uncertain_inserts
            problems += log.anomalies
        lost = 0
        for i, want in expected.items():
            got = rows.get(i)
            if i in accept:
                ok = (got[0] if got else None) in accept[i]
            elif i in updates:
                token, old = updates[i]
                ok = got is not None and (got[0] == old or got[1] == token)
            else:
                ok = (got[0] if got else None) == want
            if not ok:
                lost += 1
                if len(problems) < 5:
                    problems.append(f"id {i}: expected {want}, found {got}")
        phantoms = [i for i, (_, body) in rows.items() if i not in expected and body not in tokens]
        if phantoms:
            problems.append(f"{len(phantoms)} rows nobody wrote, e.g. id {phantoms[0]}")
        return lost, duplicate_ids + len(phantoms), problems
