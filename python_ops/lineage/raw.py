"""Own the raw event table `lineage_events_raw`: every event as received, keyed by a content id.

OpenLineage events carry no id of their own; the key is a UUIDv5 of the event's canonical JSON, so
the same event delivered twice is stored once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

_NAMESPACE = uuid.UUID("6f1c1f2e-8a4b-4e0c-9a55-2b7f0f0c1a11")


def canonical_json(event: dict[str, Any]) -> str:
    """The event as compact JSON with sorted keys: equal events give equal text."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def key_of(text: str) -> uuid.UUID:
    """Id of an event given its canonical JSON."""
    return uuid.uuid5(_NAMESPACE, text)


def event_key(event: dict[str, Any]) -> uuid.UUID:
    """Deterministic id of an event: the same content gives the same id."""
    return key_of(canonical_json(event))


def store_raw(conn: psycopg.Connection, events: Iterable[dict[str, Any]]) -> int:
    """Insert events not stored yet; return how many were new."""
    rows = [
        (
            event_key(e),
            e["eventTime"],
            e.get("eventType"),
            e["run"]["runId"],
            e["job"]["namespace"],
            e["job"]["name"],
            e.get("producer"),
            Jsonb(e),
        )
        for e in events
    ]
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO lineage_events_raw
                   (event_id, event_time, event_type, run_id, job_namespace, job_name, producer, payload)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING""",
            rows,
        )
        inserted = cur.rowcount
    return max(inserted, 0)
