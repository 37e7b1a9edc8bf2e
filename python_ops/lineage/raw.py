"""Own the raw event table `lineage_events_raw`: every event as received, keyed by a content id, RANGE-
partitioned by month on event_time (retention drops whole months).

OpenLineage events carry no id of their own; the key is a UUIDv5 of the event's canonical JSON, so
the same event delivered twice is stored once. The monthly partitions an insert needs are made first,
in a short transaction of their own (`ensure_raw_partitions`), never inside a writer's transaction.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg

TABLE = "lineage_events_raw"
_NAMESPACE = uuid.UUID("6f1c1f2e-8a4b-4e0c-9a55-2b7f0f0c1a11")
_known: set[tuple[str, str]] = set()  # (database, month) with a partition, as this process has seen
_lock = threading.Lock()


def canonical_json(event: dict[str, Any]) -> str:
    """The event as compact JSON with sorted keys: equal events give equal text."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def key_of(text: str) -> uuid.UUID:
    """Id of an event given its canonical JSON."""
    return uuid.uuid5(_NAMESPACE, text)


def event_key(event: dict[str, Any]) -> uuid.UUID:
    """Deterministic id of an event: the same content gives the same id."""
    return key_of(canonical_json(event))


def _month(t: datetime) -> str:
    return f"{t.year:04d}-{t.month:02d}-01"


def forget_partitions() -> None:
    """Forget which months have partitions (after retention dropped some, or an insert found none)."""
    with _lock:
        _known.clear()


def ensure_raw_partitions(conn: psycopg.Connection, times: Iterable[datetime]) -> int:
    """Make the monthly partitions holding `times` (UTC months) if missing; return how many were made.

    Runs in its own transaction (the connection must not be inside one), serialized by an advisory lock
    so that two writers never race to create the same month.
    """
    database = conn.info.dbname
    months = {_month(t.astimezone(UTC)) for t in times}
    with _lock:
        missing = sorted(m for m in months if (database, m) not in _known)
    if not missing:
        return 0
    made = 0
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('migrata.lineage_events_raw.partitions'))")
        for month in missing:
            row = conn.execute(
                "SELECT migrata_ensure_range_partitions(%s::regclass, %s::timestamp AT TIME ZONE 'UTC', "
                "%s::timestamp AT TIME ZONE 'UTC' + interval '1 month', 'month')",
                (TABLE, month, month),
            ).fetchone()
            made += int(row[0]) if row else 0
    with _lock:
        _known.update((database, m) for m in missing)
    return made
