"""Own lineage retention: drop whole months older than a cutoff, keep the graph consistent with what remains.

`migrata lineage retain --older-than 24months` through the shared runner. The cutoff is the start of
the UTC month that `older_than` ago falls in. Plan: the monthly partitions of `lineage_events_raw`,
`run_lineage_denormalized` and `run_parent_lineage_denormalized` that end at or before the cutoff
(never the DEFAULT partition; the legacy raw partition once all of it is older), their rows, and the
normalized runs that started before the cutoff. Run, one transaction per step: with `export`, the raw
events of those partitions are first written as NDJSON and verified by count (nothing is dropped
before); each partition is dropped whole (no row-by-row delete); the normalized runs are deleted in
batches (their inputs/outputs cascade); then edges seen only in dropped runs are removed (static edges
stay, without run dates) and first run dates are raised to the cutoff. Verify: no such partition and
no such run remains. Irreversible: the CLI asks for `--yes`; `lineage ingest FILE` restores an export.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from python_ops.engines.context import Engines
from python_ops.errors import PreconditionError, VerificationError
from python_ops.lineage.batch import EDGES, RLD, RPLD
from python_ops.locks import operation_lock
from python_ops.runner import Batch, Check, Operation, Plan, ProgressCallback, Report, Step, execute

NAME = "lineage_retain"
RAW = "lineage_events_raw"
TABLES = (RAW, RLD, RPLD)
_AGE = re.compile(r"^\s*(\d+)\s*(day|days|d|week|weeks|w|month|months|mo|year|years|y)\s*$", re.IGNORECASE)
_UNIT = {"d": "days", "w": "weeks", "mo": "months", "y": "years"}

DELETE_RUNS = (
    "DELETE FROM lineage_runs WHERE uuid IN (SELECT uuid FROM lineage_runs "
    "WHERE first_event_time < %(cutoff)s ORDER BY first_event_time LIMIT %(batch)s)"
)
EDGE_FIX = [
    "DELETE FROM lineage_graph_edges WHERE NOT is_static AND last_run_date < %(cutoff_date)s",
    "UPDATE lineage_graph_edges SET first_run_date = NULL, last_run_date = NULL "
    "WHERE is_static AND last_run_date < %(cutoff_date)s",
    "UPDATE lineage_graph_edges SET first_run_date = %(cutoff_date)s WHERE first_run_date < %(cutoff_date)s",
]


@dataclass(frozen=True)
class Age:
    """An age such as `24 months`, as a Postgres interval."""

    count: int
    unit: str

    @property
    def interval(self) -> str:
        return f"{self.count} {self.unit}"


def parse_age(text: str) -> Age:
    """`24months`, `2 years`, `90d` → Age; 0 or anything else is a usage error."""
    match = _AGE.match(text)
    if not match or int(match.group(1)) < 1:
        raise PreconditionError(
            f"age {text!r} is not a positive number of days, weeks, months or years",
            hint="for example --older-than 24months",
        )
    unit = match.group(2).lower()
    unit = _UNIT.get(unit, unit if unit.endswith("s") else unit + "s")
    return Age(int(match.group(1)), unit)


def _partitions(conn: psycopg.Connection, cutoff: Any) -> list[tuple[str, str, int]]:
    """(table, partition, rows) of every partition ending at or before the cutoff."""
    found = []
    for table in TABLES:
        if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
            continue
        rows = conn.execute(
            "SELECT partition::text FROM migrata_range_bounds(%s::regclass) "
            "WHERE NOT is_default AND hi <= (%s::timestamptz AT TIME ZONE 'UTC') ORDER BY hi",
            (table, cutoff),
        ).fetchall()
        for (part,) in rows:
            count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(part))).fetchone()
            found.append((table, part, int(count[0]) if count else 0))
    return found


class LineageRetention(Operation):
    """Drop lineage months older than the cutoff; delete older normalized runs; fix the edges."""

    name = NAME

    def __init__(self, age: Age, *, export: Path | None = None, batch_size: int = 10_000) -> None:
        self.age = age
        self.export = export
        self.batch_size = batch_size

    def plan(self, conn: psycopg.Connection) -> Plan:
        row = conn.execute(
            "SELECT date_trunc('month', now() AT TIME ZONE 'UTC' - %s::interval) AT TIME ZONE 'UTC'",
            (self.age.interval,),
        ).fetchone()
        assert row is not None
        cutoff = row[0]
        parts = _partitions(conn, cutoff)
        runs_row = conn.execute(
            "SELECT count(*) FROM lineage_runs WHERE first_event_time < %s", (cutoff,)
        ).fetchone()
        runs = int(runs_row[0]) if runs_row else 0
        raw_parts = [p for t, p, _ in parts if t == RAW]
        steps = []
        if self.export:
            steps.append(
                Step(
                    f"export the raw events of {len(raw_parts)} partitions to {self.export} (NDJSON), "
                    "verified by count",
                    "\n".join(
                        f"COPY (SELECT payload FROM {p} ORDER BY event_time) TO STDOUT" for p in raw_parts
                    ),
                )
            )
        steps += [Step(f"drop partition {p} of {t} ({n} rows)", f"DROP TABLE {p}") for t, p, n in parts]
        steps.append(
            Step(
                f"delete {runs} normalized runs that started before {cutoff:%Y-%m-%d} in batches of "
                f"{self.batch_size} (inputs/outputs cascade)",
                DELETE_RUNS,
            )
        )
        steps.append(Step("keep lineage_graph_edges consistent (static edges stay)", ";\n".join(EDGE_FIX)))
        total = sum(n for _, _, n in parts) + runs
        return Plan(
            NAME,
            f"drop lineage older than {cutoff:%Y-%m-%d} ({self.age.interval})",
            total,
            "rows",
            steps,
            {"cutoff": cutoff.isoformat(), "partitions": [[t, p, n] for t, p, n in parts], "runs": runs,
             "export": str(self.export) if self.export else None},
        )  # fmt: skip

    def run_batch(self, conn: psycopg.Connection, position: Any, plan: Plan) -> Batch:
        stage = position or {"step": "export" if self.export else "drop", "index": 0}
        parts = plan.details["partitions"]
        cutoff = plan.details["cutoff"]
        if stage["step"] == "export":
            self._export(conn, [(p, n) for t, p, n in parts if t == RAW])
            return Batch(
                0, {"step": "drop", "index": 0}, False, {"exported": sum(n for t, _, n in parts if t == RAW)}
            )
        if stage["step"] == "drop":
            # the first partition still there (a resumed run's fresh plan lists only those left)
            left = [
                (t, p, n)
                for t, p, n in parts
                if conn.execute("SELECT to_regclass(%s)", (p,)).fetchone() != (None,)
            ]
            if not left:
                return Batch(0, {"step": "runs", "index": 0}, False)
            table, part, rows = left[0]
            if table in (RLD, RPLD):  # the writers of these tables wait for the drop
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"migrata.{table}",))
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(part)))
            return Batch(
                rows, {"step": "drop", "index": stage["index"] + 1}, False, {"partitions_dropped": 1}
            )
        if stage["step"] == "runs":
            deleted = conn.execute(DELETE_RUNS, {"cutoff": cutoff, "batch": self.batch_size}).rowcount
            nxt = (
                {"step": "runs", "index": stage["index"] + 1}
                if deleted == self.batch_size
                else {"step": "edges"}
            )
            return Batch(deleted, nxt, False, {"runs_deleted": deleted})
        if conn.execute("SELECT to_regclass(%s)", (EDGES,)).fetchone() != (None,):
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"migrata.{EDGES}",))
            for statement in EDGE_FIX:
                conn.execute(statement, {"cutoff_date": cutoff[:10]})
        return Batch(0, {"step": "done"}, True)

    def _export(self, conn: psycopg.Connection, parts: list[tuple[str, int]]) -> None:
        assert self.export is not None
        written = 0
        with self.export.open("w", encoding="utf-8") as out:
            for part, _rows in parts:
                query = sql.SQL("COPY (SELECT payload FROM {} ORDER BY event_time) TO STDOUT").format(
                    sql.Identifier(part)
                )
                with conn.cursor().copy(query) as copy:
                    for (payload,) in copy.rows():
                        out.write(payload + "\n")
                        written += 1
        expected = sum(n for _, n in parts)
        if written != expected:
            raise VerificationError(
                f"the export {self.export} holds {written} events, the partitions {expected}",
                hint="nothing was dropped; run again",
            )

    def verify(self, conn: psycopg.Connection, plan: Plan) -> list[Check]:
        cutoff = plan.details["cutoff"]
        left = len(_partitions(conn, cutoff))
        row = conn.execute(
            "SELECT count(*) FROM lineage_runs WHERE first_event_time < %s", (cutoff,)
        ).fetchone()
        runs = int(row[0]) if row else 0
        checks = [
            Check("no partition older than the cutoff", left == 0, 0, left),
            Check("no normalized run older than the cutoff", runs == 0, 0, runs),
        ]
        if conn.execute("SELECT to_regclass(%s)", (EDGES,)).fetchone() != (None,):
            stale = conn.execute(
                "SELECT count(*) FROM lineage_graph_edges WHERE last_run_date < %s", (cutoff[:10],)
            ).fetchone()
            checks.append(
                Check("no edge dated before the cutoff", stale == (0,), 0, stale[0] if stale else None)
            )
        return checks


def retain(
    engines: Engines,
    age: Age,
    *,
    export: Path | None = None,
    batch_size: int = 10_000,
    dry_run: bool = False,
    on_progress: ProgressCallback | None = None,
    wait: bool = False,
) -> Report:
    """Drop lineage older than `age` (see the module); holds the `lineage_retain` operation lock."""
    from python_ops.db import use_autocommit

    with operation_lock(engines, NAME, "lineage", wait=wait), engines.connect() as conn:
        use_autocommit(conn)
        op = LineageRetention(age, export=export, batch_size=batch_size)
        report = execute(op, conn, dry_run=dry_run, on_progress=on_progress)
    if not dry_run:
        from python_ops.lineage.raw import forget_partitions

        forget_partitions()
    return report
