"""Own "what changed since": the months of runs touched by events received after a cursor.

The Dagster sensor keeps the cursor (the newest `received_at` it has seen) and asks for the monthly
partitions to refresh; the same function serves anyone polling for new lineage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import psycopg


@dataclass(frozen=True)
class Changes:
    """New events since the cursor: the new cursor and the months (first days) whose runs changed."""

    cursor: datetime | None
    events: int
    months: list[date]


def changes_since(conn: psycopg.Connection, cursor: datetime | None) -> Changes:
    """Events received after `cursor` (None: all) and the months of the runs they touched."""
    row = conn.execute(
        "SELECT max(received_at), count(*) FROM lineage_events_raw WHERE %s::timestamptz IS NULL "
        "OR received_at > %s::timestamptz",
        (cursor, cursor),
    ).fetchone()
    assert row is not None
    newest, events = row
    if not events:
        return Changes(cursor, 0, [])
    months = conn.execute(
        """SELECT DISTINCT date_trunc('month', r.first_event_time AT TIME ZONE 'UTC')::date
             FROM lineage_runs r
            WHERE r.uuid IN (SELECT run_id FROM lineage_events_raw
                              WHERE %s::timestamptz IS NULL OR received_at > %s::timestamptz)
            ORDER BY 1""",
        (cursor, cursor),
    ).fetchall()
    return Changes(newest, events, [m[0] for m in months])
