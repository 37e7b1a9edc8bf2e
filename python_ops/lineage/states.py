"""Own reading the run state machine from `lineage_run_states`, its one definition (revision lineage_0004).

A run's state changes only to a greater (rank, event time), so late or out-of-order events never regress
a terminal state. The ingestion merge joins the table in SQL; Python loads it here to fold a batch's
events of one run and to validate `eventType`; dbt tests it as a source (relationships).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class RunStates:
    """Rank and terminal flag of every run state."""

    rank: dict[str, int]
    terminal: frozenset[str]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.rank)


def load_run_states(conn: psycopg.Connection) -> RunStates:
    """The states as the store defines them."""
    rows = conn.execute("SELECT state, rank, terminal FROM lineage_run_states").fetchall()
    return RunStates({s: int(r) for s, r, _ in rows}, frozenset(s for s, _, t in rows if t))
