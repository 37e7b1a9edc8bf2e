"""Own the read cache of `migrata lineage serve`: a response text kept while the database's snapshot is
the one it was read at.

A read's answer is a function of the committed data it sees. Postgres' snapshot (`pg_current_snapshot()`:
xmin, xmax and the transactions in progress) changes whenever a transaction commits or aborts, anywhere in
the cluster, and the set of completed transactions only grows. So:

- a read is cached only when the snapshot taken before it equals the snapshot taken after it (nothing
  committed in between: every statement of the read saw the same data), under that snapshot's text;
- a request is answered from the cache when the snapshot now is still that text (one round trip,
  `SELECT pg_current_snapshot()::text`), else it is read again.

No invalidation to wire up and never a stale answer: any commit (an ingested event, a micro-batch of the
refresher, even a write in another database of the cluster) retires every entry at once. It pays off where
reads repeat between writes (a UI polling the same graph); under a steady stream of events it misses and
costs one extra round trip (the snapshot after the read) per request. Entries (the UTF-8 body) are kept
by recent use up to `max_bytes` per process; 0 turns the cache off.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import psycopg

_SNAPSHOT = "SELECT pg_current_snapshot()::text"


def snapshot(conn: psycopg.Connection) -> str:
    """The connection's current snapshot as text (autocommit: each statement takes a new one)."""
    row = conn.execute(_SNAPSHOT, prepare=True).fetchone()
    assert row is not None
    return row[0]


class ReadCache:
    """Response texts by request key, each valid while the database's snapshot is the one it was read at."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"read cache size {max_bytes} is negative")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[str, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def read(
        self, conn: psycopg.Connection, key: Hashable, read: Callable[[psycopg.Connection], str]
    ) -> bytes:
        """`read(conn)`'s text as UTF-8, from the cache when nothing committed since it was read. `conn` must
        be in autocommit mode (each statement its own snapshot)."""
        if self.max_bytes == 0:
            return read(conn).encode()
        before = snapshot(conn)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == before:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[1]
            self.misses += 1
        body = read(conn).encode()
        if len(body) <= self.max_bytes and snapshot(conn) == before:
            self._put(key, before, body)
        return body

    def _put(self, key: Hashable, version: str, text: bytes) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old[1])
            self._entries[key] = (version, text)
            self._bytes += len(text)
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= len(dropped)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"entries": len(self._entries), "bytes": self._bytes, "hits": self.hits,
                    "misses": self.misses}  # fmt: skip
