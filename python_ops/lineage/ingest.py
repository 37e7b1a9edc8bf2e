"""Own ingestion of OpenLineage events into the raw and normalized tables, idempotently and in batches.

Per batch: every event is validated first (a malformed one is rejected with the field it breaks and its
location, the others go on); the valid ones are written in ONE transaction — COPY into temporary tables,
then `INSERT … ON CONFLICT` into the store — so an event's rows commit together or not at all. The raw
table's content key makes a repeated event a no-op: only events new to `lineage_events_raw` touch the
normalized tables. Run state follows START → RUNNING → COMPLETE/FAIL/ABORT by (rank, event time), so
late or out-of-order events never regress a terminal state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg

from python_ops.lineage.events import (
    STATE_RANK,
    TERMINAL,
    Event,
    EventError,
    dataset_uuid,
    job_uuid,
    namespace_uuid,
    split_document,
    validate,
)
from python_ops.runner import Progress, ProgressCallback

BATCH_SIZE = 5_000


@dataclass(frozen=True)
class Rejected:
    """An event that was not stored: where it was, which field is wrong and why."""

    location: str
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"location": self.location, "field": self.field, "message": self.message}


@dataclass
class IngestResult:
    """What an ingestion did: events read, newly stored, already known, rejected."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    runs_touched: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.rejected

    def summary(self) -> str:
        rate = f", {self.received / self.elapsed_s:,.0f} events/s" if self.elapsed_s > 0 else ""
        return (
            f"lineage ingest: {self.received} events, {self.stored} stored, {self.duplicates} already known, "
            f"{len(self.rejected)} rejected, {self.runs_touched} runs touched, {self.elapsed_s:.2f}s{rate}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "runs_touched": self.runs_touched,
            "rejected": [r.as_dict() for r in self.rejected],
            "elapsed_s": round(self.elapsed_s, 3),
            "ok": self.ok,
            "summary": self.summary(),
        }


def _jsonb(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _copy(cur: psycopg.Cursor, table: str, columns: str, rows: Iterable[tuple[Any, ...]]) -> None:
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


@dataclass
class _Run:
    """One run's events of a batch folded together in event-time order."""

    job: Any
    state: str = "OTHER"
    rank: int = -1
    state_time: Any = None
    started_at: Any = None
    ended_at: Any = None
    nominal_start: Any = None
    nominal_end: Any = None
    parent: Any = None
    facets: dict[str, Any] = field(default_factory=dict)
    first_time: Any = None

    def fold(self, e: Event) -> None:
        rank = STATE_RANK[e.event_type]
        if self.state_time is None or (rank, e.event_time) > (self.rank, self.state_time):
            self.state, self.rank, self.state_time = e.event_type, rank, e.event_time
            self.ended_at = e.event_time if e.event_type in TERMINAL else self.ended_at
        if e.event_type == "START" and (self.started_at is None or e.event_time < self.started_at):
            self.started_at = e.event_time
        self.nominal_start = e.nominal_start or self.nominal_start
        self.nominal_end = e.nominal_end or self.nominal_end
        self.parent = e.parent or self.parent
        self.facets.update(e.run_facets)
        self.first_time = e.event_time if self.first_time is None else min(self.first_time, e.event_time)


_TEMP = """
DROP TABLE IF EXISTS _ol_raw, _ol_ns, _ol_jobs, _ol_datasets, _ol_runs, _ol_inputs, _ol_outputs;
CREATE TEMP TABLE _ol_raw (LIKE lineage_events_raw INCLUDING DEFAULTS) ON COMMIT DROP;
CREATE TEMP TABLE _ol_ns (uuid uuid, name text) ON COMMIT DROP;
CREATE TEMP TABLE _ol_jobs (uuid uuid, namespace_uuid uuid, namespace_name text, name text, facets jsonb)
    ON COMMIT DROP;
CREATE TEMP TABLE _ol_datasets (LIKE _ol_jobs) ON COMMIT DROP;
CREATE TEMP TABLE _ol_runs (
    uuid uuid, job_uuid uuid, state text, state_rank smallint, state_event_time timestamptz,
    started_at timestamptz, ended_at timestamptz,
    nominal_start_time timestamptz, nominal_end_time timestamptz,
    parent_run_uuid uuid, parent_job_namespace text, parent_job_name text, facets jsonb,
    first_event_time timestamptz) ON COMMIT DROP;
CREATE TEMP TABLE _ol_inputs (run_uuid uuid, dataset_uuid uuid, facets jsonb) ON COMMIT DROP;
CREATE TEMP TABLE _ol_outputs (LIKE _ol_inputs) ON COMMIT DROP;
"""

_MERGE = """
INSERT INTO lineage_namespaces (uuid, name) SELECT uuid, name FROM _ol_ns ON CONFLICT (uuid) DO NOTHING;
INSERT INTO lineage_jobs AS j (uuid, namespace_uuid, namespace_name, name, facets)
    SELECT uuid, namespace_uuid, namespace_name, name, facets FROM _ol_jobs
    ON CONFLICT (uuid) DO UPDATE SET facets = j.facets || EXCLUDED.facets, updated_at = now();
INSERT INTO lineage_datasets AS d (uuid, namespace_uuid, namespace_name, name, facets)
    SELECT uuid, namespace_uuid, namespace_name, name, facets FROM _ol_datasets
    ON CONFLICT (uuid) DO UPDATE SET facets = d.facets || EXCLUDED.facets, updated_at = now();
INSERT INTO lineage_runs AS r (uuid, job_uuid, state, state_rank, state_event_time, started_at, ended_at,
        nominal_start_time, nominal_end_time, parent_run_uuid, parent_job_namespace, parent_job_name,
        facets, first_event_time)
    SELECT uuid, job_uuid, state, state_rank, state_event_time, started_at, ended_at, nominal_start_time,
        nominal_end_time, parent_run_uuid, parent_job_namespace, parent_job_name, facets, first_event_time
    FROM _ol_runs
    ON CONFLICT (uuid) DO UPDATE SET
        state = CASE
            WHEN (EXCLUDED.state_rank, EXCLUDED.state_event_time) > (r.state_rank, r.state_event_time)
            THEN EXCLUDED.state ELSE r.state END,
        ended_at = CASE
            WHEN (EXCLUDED.state_rank, EXCLUDED.state_event_time) > (r.state_rank, r.state_event_time)
                 AND EXCLUDED.state IN ('COMPLETE', 'FAIL', 'ABORT')
            THEN EXCLUDED.ended_at ELSE r.ended_at END,
        state_event_time = CASE
            WHEN (EXCLUDED.state_rank, EXCLUDED.state_event_time) > (r.state_rank, r.state_event_time)
            THEN EXCLUDED.state_event_time ELSE r.state_event_time END,
        state_rank = GREATEST(r.state_rank, EXCLUDED.state_rank),
        started_at = LEAST(r.started_at, EXCLUDED.started_at),
        nominal_start_time = COALESCE(EXCLUDED.nominal_start_time, r.nominal_start_time),
        nominal_end_time = COALESCE(EXCLUDED.nominal_end_time, r.nominal_end_time),
        parent_run_uuid = COALESCE(EXCLUDED.parent_run_uuid, r.parent_run_uuid),
        parent_job_namespace = COALESCE(EXCLUDED.parent_job_namespace, r.parent_job_namespace),
        parent_job_name = COALESCE(EXCLUDED.parent_job_name, r.parent_job_name),
        facets = r.facets || EXCLUDED.facets,
        first_event_time = LEAST(r.first_event_time, EXCLUDED.first_event_time),
        updated_at = now();
INSERT INTO lineage_run_inputs AS i (run_uuid, dataset_uuid, facets) SELECT * FROM _ol_inputs
    ON CONFLICT (run_uuid, dataset_uuid) DO UPDATE SET facets = i.facets || EXCLUDED.facets;
INSERT INTO lineage_run_outputs AS o (run_uuid, dataset_uuid, facets) SELECT * FROM _ol_outputs
    ON CONFLICT (run_uuid, dataset_uuid) DO UPDATE SET facets = o.facets || EXCLUDED.facets;
"""


def _write(conn: psycopg.Connection, events: list[Event]) -> tuple[int, int]:
    """Write validated events inside the caller's transaction; return (new events, runs touched)."""
    with conn.cursor() as cur:
        cur.execute(_TEMP)
        _copy(
            cur,
            "_ol_raw",
            "event_id, event_time, event_type, run_id, job_namespace, job_name, producer, payload",
            (
                (
                    e.event_id,
                    e.event_time,
                    e.event_type,
                    e.run_uuid,
                    e.job_namespace,
                    e.job_name,
                    e.producer,
                    e.payload_json,
                )
                for e in events
            ),
        )
        cur.execute(
            """INSERT INTO lineage_events_raw (event_id, event_time, event_type, run_id, job_namespace,
                   job_name, producer, payload)
               SELECT DISTINCT ON (event_id) event_id, event_time, event_type, run_id, job_namespace,
                   job_name, producer, payload FROM _ol_raw
               ON CONFLICT (event_id) DO NOTHING RETURNING event_id"""
        )
        new_ids = {row[0] for row in cur.fetchall()}
        fresh: list[Event] = []
        for e in events:  # a repeat inside the batch counts once
            if e.event_id in new_ids:
                new_ids.discard(e.event_id)
                fresh.append(e)
        if not fresh:
            return 0, 0
        fresh.sort(key=lambda e: e.event_time)
        namespaces: dict[str, None] = {}
        jobs: dict[Any, list[Any]] = {}
        datasets: dict[Any, list[Any]] = {}
        runs: dict[Any, _Run] = {}
        inputs: dict[tuple[Any, Any], dict[str, Any]] = {}
        outputs: dict[tuple[Any, Any], dict[str, Any]] = {}
        for e in fresh:
            namespaces[e.job_namespace] = None
            jid = job_uuid(e.job_namespace, e.job_name)
            entry = jobs.setdefault(
                jid, [jid, namespace_uuid(e.job_namespace), e.job_namespace, e.job_name, {}]
            )
            entry[4].update(e.job_facets)
            runs.setdefault(e.run_uuid, _Run(jid)).fold(e)
            for refs, io in ((e.inputs, inputs), (e.outputs, outputs)):
                for ref in refs:
                    namespaces[ref.namespace] = None
                    did = dataset_uuid(ref.namespace, ref.name)
                    d = datasets.setdefault(
                        did, [did, namespace_uuid(ref.namespace), ref.namespace, ref.name, {}]
                    )
                    d[4].update(ref.facets)
                    io.setdefault((e.run_uuid, did), {}).update(ref.io_facets)
        _copy(cur, "_ol_ns", "uuid, name", ((namespace_uuid(n), n) for n in namespaces))
        columns = "uuid, namespace_uuid, namespace_name, name, facets"
        _copy(cur, "_ol_jobs", columns, ((*j[:4], _jsonb(j[4])) for j in jobs.values()))
        _copy(cur, "_ol_datasets", columns, ((*d[:4], _jsonb(d[4])) for d in datasets.values()))
        _copy(
            cur,
            "_ol_runs",
            "uuid, job_uuid, state, state_rank, state_event_time, started_at, ended_at, nominal_start_time, "
            "nominal_end_time, parent_run_uuid, parent_job_namespace, parent_job_name, facets, "
            "first_event_time",
            (
                (
                    rid,
                    r.job,
                    r.state,
                    r.rank,
                    r.state_time,
                    r.started_at,
                    r.ended_at,
                    r.nominal_start,
                    r.nominal_end,
                    r.parent.run_uuid if r.parent else None,
                    r.parent.job_namespace if r.parent else None,
                    r.parent.job_name if r.parent else None,
                    _jsonb(r.facets),
                    r.first_time,
                )
                for rid, r in runs.items()
            ),
        )
        for table, io in (("_ol_inputs", inputs), ("_ol_outputs", outputs)):
            _copy(
                cur, table, "run_uuid, dataset_uuid, facets", ((k[0], k[1], _jsonb(v)) for k, v in io.items())
            )
        for statement in _MERGE.split(";\n"):
            if statement.strip():
                cur.execute(statement)
    return len(fresh), len(runs)


def _batches(items: Iterable[tuple[str, Any]], size: int) -> Iterator[list[tuple[str, Any]]]:
    batch: list[tuple[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def ingest(
    conn: psycopg.Connection,
    documents: Iterable[tuple[str, Any]],
    *,
    batch_size: int = BATCH_SIZE,
    on_progress: ProgressCallback | None = None,
    on_reject: Callable[[Rejected], None] | None = None,
) -> IngestResult:
    """Validate and store (location, decoded event) pairs in batches; each batch is one transaction."""
    started = time.monotonic()
    result = IngestResult()

    def reject(r: Rejected) -> None:
        result.rejected.append(r)
        if on_reject:
            on_reject(r)

    for batch in _batches(documents, batch_size):
        valid: list[tuple[str, Event]] = []
        for location, value in batch:
            result.received += 1
            try:
                if isinstance(value, EventError):
                    raise value
                valid.append((location, validate(value)))
            except EventError as exc:
                reject(Rejected(location, exc.field, exc.message))
        try:
            with conn.transaction():
                stored, runs = _write(conn, [e for _, e in valid])
        except psycopg.DataError:
            # the database refused something validation let through: find the event one by one
            stored = runs = 0
            for location, event in valid:
                try:
                    with conn.transaction():
                        s, n = _write(conn, [event])
                    stored, runs = stored + s, runs + n
                except psycopg.DataError as exc:
                    reject(Rejected(location, "event", str(exc).splitlines()[0]))
        result.stored += stored
        result.runs_touched += runs
        result.duplicates = result.received - result.stored - len(result.rejected)
        if on_progress:
            on_progress(Progress("lineage ingest", "run", result.received, 0, "events"))
    result.elapsed_s = time.monotonic() - started
    return result


def ingest_events(conn: psycopg.Connection, events: Iterable[Any], **kwargs: Any) -> IngestResult:
    """Ingest already decoded events (dicts); their locations are `index N`."""
    return ingest(conn, ((f"index {i}", e) for i, e in enumerate(events)), **kwargs)


def ingest_text(conn: psycopg.Connection, text: str, source: str = "<input>", **kwargs: Any) -> IngestResult:
    """Ingest a JSON event, a JSON array of events, or NDJSON text."""
    return ingest(conn, split_document(text, source), **kwargs)
