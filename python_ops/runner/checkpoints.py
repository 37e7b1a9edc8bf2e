"""Own the recorded position of long operations in `migrata_checkpoints` (created by the `core` tree).

A batch and its checkpoint commit in the same transaction, so a killed run resumes exactly after the
last batch that committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from python_ops.errors import PreconditionError

TABLE = "migrata_checkpoints"


@dataclass(frozen=True)
class Checkpoint:
    operation: str
    status: str
    position: Any
    batches: int
    units: int


def load(conn: psycopg.Connection, operation: str) -> Checkpoint | None:
    try:
        row = conn.execute(
            "SELECT status, position, batches, units FROM migrata_checkpoints WHERE operation = %s",
            (operation,),
        ).fetchone()
    except psycopg.errors.UndefinedTable:
        raise PreconditionError(
            f"{operation}: {TABLE} does not exist in this database, so the run cannot record its position",
            hint="run `migrata migrate upgrade core` (or `migrata migrate upgrade` for every component)",
        ) from None
    if row is None:
        return None
    return Checkpoint(operation, row[0], row[1], row[2], row[3])


def start(conn: psycopg.Connection, operation: str) -> None:
    conn.execute(
        """INSERT INTO migrata_checkpoints
               (operation, status, position, batches, units, started_at, updated_at)
           VALUES (%s, 'running', NULL, 0, 0, now(), now())
           ON CONFLICT (operation) DO UPDATE SET status = 'running', position = NULL, batches = 0, units = 0,
               started_at = now(), updated_at = now()""",
        (operation,),
    )


def advance(conn: psycopg.Connection, operation: str, position: Any, units: int) -> None:
    conn.execute(
        """UPDATE migrata_checkpoints SET position = %s, batches = batches + 1, units = units + %s,
               updated_at = now() WHERE operation = %s""",
        (Jsonb(position), units, operation),
    )


def finish(conn: psycopg.Connection, operation: str, status: str) -> None:
    conn.execute(
        "UPDATE migrata_checkpoints SET status = %s, updated_at = now() WHERE operation = %s",
        (status, operation),
    )


def clear(conn: psycopg.Connection, operation: str) -> None:
    conn.execute("DELETE FROM migrata_checkpoints WHERE operation = %s", (operation,))
