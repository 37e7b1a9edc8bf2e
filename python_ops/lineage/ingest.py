"""Own ingestion of OpenLineage events into the raw and normalized tables, idempotently and in batches.

Per batch: every event is validated first (a malformed one is rejected with the field it breaks and its
location, the others go on); the valid ones are written in ONE transaction: names go to the database
as arrays, SQL derives every id (`migrata_lineage_id`), `INSERT … ON CONFLICT` merges them into the
store, so an event's rows commit together or not at all. The raw table's content key makes a repeated
event a no-op: only events new to `lineage_events_raw` touch the normalized tables.

- Run state follows `lineage_run_states` by (rank, event time): late or out-of-order events never
  regress a terminal state. `lineage_runs.changed_xid` moves only when something the denormalized
  tables show changes (state, times, parent, a new input or output): a heartbeat (RUNNING after
  RUNNING) is kept as a raw event but does not make the run "changed".
- A runId that already belongs to another job is rejected naming both jobs (the spec's runId is the
  id of one run of one job); so is a second job for one runId within a batch.
- DatasetEvent: the dataset and its facets; JobEvent: the job, its facets and its static inputs and
  outputs (`lineage_job_io`); the columnLineage facet of any dataset → `lineage_column_lineage`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from python_ops.lineage.events import (
    DEFAULT_MAX_DEPTH,
    Event,
    EventError,
    TimeWindow,
    split_document,
    validate,
)
from python_ops.lineage.raw import ensure_raw_partitions, forget_partitions
from python_ops.lineage.states import RunStates, load_run_states
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

    def add(self, other: IngestResult) -> None:
        self.received += other.received
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.runs_touched += other.runs_touched
        self.rejected.extend(other.rejected)
        self.elapsed_s += other.elapsed_s

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


@dataclass(frozen=True)
class IngestLimits:
    """What ingestion accepts: the event-time window and the JSON nesting bound."""

    window: TimeWindow = field(default_factory=TimeWindow)
    max_depth: int = DEFAULT_MAX_DEPTH


class RunConflict(Exception):
    """Events of a batch name a runId that belongs to another job; `rejected` maps event index → message.

    Raised before or instead of a commit: the caller leaves those events out and writes the rest again.
    """

    def __init__(self, rejected: dict[int, str]) -> None:
        super().__init__(f"{len(rejected)} events reuse the runId of another job")
        self.rejected = rejected


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _pair(ns: str | None, name: str | None) -> str:
    return f"{ns}/{name}"  # only for messages


@dataclass
class _Run:
    """One run's events of a batch folded together in event-time order."""

    job: tuple[str, str]
    state: str = "OTHER"
    rank: int = -1
    state_time: datetime | None = None
    started_at: datetime | None = None
    nominal_start: datetime | None = None
    nominal_end: datetime | None = None
    parent: Any = None
    facets: dict[str, Any] = field(default_factory=dict)
    first_time: datetime | None = None

    def fold(self, e: Event, states: RunStates) -> None:
        assert e.event_type is not None
        rank = states.rank[e.event_type]
        if self.state_time is None or (rank, e.event_time) > (self.rank, self.state_time):
            self.state, self.rank, self.state_time = e.event_type, rank, e.event_time
        if e.event_type == "START" and (self.started_at is None or e.event_time < self.started_at):
            self.started_at = e.event_time
        self.nominal_start = e.nominal_start or self.nominal_start
        self.nominal_end = e.nominal_end or self.nominal_end
        self.parent = e.parent or self.parent
        self.facets.update(e.run_facets)
        self.first_time = e.event_time if self.first_time is None else min(self.first_time, e.event_time)


def in_batch_conflicts(events: Sequence[Event]) -> dict[int, str]:
    """Events whose runId an earlier event of the same batch gave to another job."""
    first: dict[Any, tuple[str, str]] = {}
    rejected = {}
    for i, e in enumerate(events):
        if e.run_uuid is None:
            continue
        job = (e.job_namespace or "", e.job_name or "")
        owner = first.setdefault(e.run_uuid, job)
        if owner != job:
            rejected[i] = (
                f"runId {e.run_uuid} belongs to job {_pair(*owner)}, not to job {_pair(*job)} "
                "(a runId identifies one run of one job: give this run its own runId)"
            )
    return rejected


# Every array parameter goes in binary (`%b`): in text format psycopg quotes and escapes each element in
# Python (a text[] of 100 JSON payloads: ~16 ms; 100 timestamps ~1.8 ms), in binary it packs them with
# their lengths (~0.2 ms). All-null or empty arrays fall back to text with an unknown type: the casts
# type them.
_RAW = """
INSERT INTO lineage_events_raw (event_id, event_time, event_kind, event_type, run_id, job_namespace, job_name,
        dataset_namespace, dataset_name, producer, payload)
SELECT * FROM unnest(%b::uuid[], %b::timestamptz[], %b::text[], %b::text[], %b::uuid[], %b::text[],
        %b::text[], %b::text[], %b::text[], %b::text[], %b::jsonb[])
ON CONFLICT DO NOTHING RETURNING event_id
"""

_NAMESPACES = """
INSERT INTO lineage_namespaces (uuid, name)
SELECT migrata_lineage_id('namespace', n, ''), n FROM unnest(%b::text[]) n ORDER BY 1
ON CONFLICT (uuid) DO NOTHING
"""

# facets merge; a row whose facets would not change is not rewritten (heartbeats repeat them)
_OBJECTS = """
INSERT INTO {table} AS t (uuid, namespace_uuid, namespace_name, name, facets)
SELECT migrata_lineage_id('{kind}', ns, n), migrata_lineage_id('namespace', ns, ''), ns, n, f
  FROM unnest(%b::text[], %b::text[], %b::jsonb[]) x(ns, n, f) ORDER BY 1
ON CONFLICT (uuid) DO UPDATE SET facets = t.facets || EXCLUDED.facets, updated_at = now()
 WHERE t.facets IS DISTINCT FROM t.facets || EXCLUDED.facets
"""

_RANK = "(SELECT s.rank FROM lineage_run_states s WHERE s.state = {}.state)"
_ADVANCES = (
    f"({_RANK.format('EXCLUDED')}, EXCLUDED.state_event_time) > ({_RANK.format('r')}, r.state_event_time)"
)
# the value each denormalization-relevant column takes; the run is "changed" only if one of them moves
_NEW = {
    "state": f"CASE WHEN {_ADVANCES} THEN EXCLUDED.state ELSE r.state END",
    "ended_at": f"CASE WHEN {_ADVANCES} AND EXCLUDED.ended_at IS NOT NULL THEN EXCLUDED.ended_at "
    "ELSE r.ended_at END",
    "started_at": "LEAST(r.started_at, EXCLUDED.started_at)",
    "nominal_start_time": "COALESCE(EXCLUDED.nominal_start_time, r.nominal_start_time)",
    "nominal_end_time": "COALESCE(EXCLUDED.nominal_end_time, r.nominal_end_time)",
    "parent_run_uuid": "COALESCE(EXCLUDED.parent_run_uuid, r.parent_run_uuid)",
    "parent_job_namespace": "COALESCE(EXCLUDED.parent_job_namespace, r.parent_job_namespace)",
    "parent_job_name": "COALESCE(EXCLUDED.parent_job_name, r.parent_job_name)",
    "first_event_time": "LEAST(r.first_event_time, EXCLUDED.first_event_time)",
}
_CHANGED = " OR ".join(f"({expr}) IS DISTINCT FROM r.{col}" for col, expr in _NEW.items())
_RUNS = f"""
INSERT INTO lineage_runs AS r (uuid, job_uuid, state, state_event_time, started_at, ended_at,
        nominal_start_time, nominal_end_time, parent_run_uuid, parent_job_namespace, parent_job_name,
        facets, first_event_time, changed_xid)
SELECT x.run, migrata_lineage_id('job', x.ns, x.n), x.state, x.t, x.started,
       CASE WHEN s.terminal THEN x.t END, x.nominal_start, x.nominal_end, x.parent_run, x.parent_ns,
       x.parent_n, x.facets, x.first_t,
       pg_current_xact_id()
  FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::text[], %b::timestamptz[], %b::timestamptz[],
              %b::timestamptz[], %b::timestamptz[], %b::uuid[], %b::text[], %b::text[], %b::jsonb[],
              %b::timestamptz[])
       x(run, ns, n, state, t, started, nominal_start, nominal_end, parent_run, parent_ns, parent_n,
         facets, first_t)
  JOIN lineage_run_states s ON s.state = x.state
 ORDER BY 1
ON CONFLICT (uuid) DO UPDATE SET
    {", ".join(f"{col} = {expr}" for col, expr in _NEW.items())},
    state_event_time = CASE WHEN {_ADVANCES} THEN EXCLUDED.state_event_time ELSE r.state_event_time END,
    facets = r.facets || EXCLUDED.facets,
    changed_xid = CASE WHEN {_CHANGED} THEN pg_current_xact_id() ELSE r.changed_xid END,
    updated_at = CASE WHEN {_CHANGED} THEN now() ELSE r.updated_at END
"""

# after the merge (row locks held): runs of this batch whose stored job is another one
_CONFLICTS = """
SELECT x.run, j.namespace_name, j.name
  FROM unnest(%b::uuid[], %b::text[], %b::text[]) x(run, ns, n)
  JOIN lineage_runs r ON r.uuid = x.run
  JOIN lineage_jobs j ON j.uuid = r.job_uuid
 WHERE r.job_uuid <> migrata_lineage_id('job', x.ns, x.n)
"""

# a new input/output of a run changes what its denormalized row shows
_RUN_IO = """
WITH io AS (
    INSERT INTO lineage_run_{side} AS i (run_uuid, dataset_uuid, facets)
    SELECT run, migrata_lineage_id('dataset', ns, n), f
      FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::jsonb[]) x(run, ns, n, f) ORDER BY 1, 2
    ON CONFLICT (run_uuid, dataset_uuid) DO UPDATE SET facets = i.facets || EXCLUDED.facets
     WHERE i.facets IS DISTINCT FROM i.facets || EXCLUDED.facets
    RETURNING run_uuid, (xmax = 0) AS inserted
)
UPDATE lineage_runs SET changed_xid = pg_current_xact_id(), updated_at = now()
 WHERE uuid IN (SELECT run_uuid FROM io WHERE inserted) AND changed_xid IS DISTINCT FROM pg_current_xact_id()
"""

_JOB_IO = """
INSERT INTO lineage_job_io AS t (job_uuid, dataset_uuid, direction, facets)
SELECT migrata_lineage_id('job', jns, jn), migrata_lineage_id('dataset', ns, n), d, f
  FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::jsonb[]) x(jns, jn, ns, n, d, f)
 ORDER BY 1, 2, 3
ON CONFLICT (job_uuid, dataset_uuid, direction) DO UPDATE SET facets = t.facets || EXCLUDED.facets,
    updated_at = now()
 WHERE t.facets IS DISTINCT FROM t.facets || EXCLUDED.facets
"""

_COLUMNS = """
INSERT INTO lineage_column_lineage AS t (output_dataset_uuid, output_field, input_dataset_uuid, input_field,
        transformations)
SELECT migrata_lineage_id('dataset', ns, n), f, migrata_lineage_id('dataset', ins, inn), inf, tr
  FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::jsonb[])
       x(ns, n, f, ins, inn, inf, tr)
 ORDER BY 1, 2, 3, 4
ON CONFLICT (output_dataset_uuid, output_field, input_dataset_uuid, input_field)
DO UPDATE SET transformations = EXCLUDED.transformations, updated_at = now()
 WHERE t.transformations IS DISTINCT FROM EXCLUDED.transformations
"""


def _columns(rows: Iterable[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows → one list per column (the arrays `unnest` takes)."""
    cols: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for c, value in zip(cols, row, strict=True):
            c.append(value)
    return cols


def prepare(conn: psycopg.Connection, events: Sequence[Event]) -> None:
    """What a write needs before its transaction: the raw table's monthly partitions for these events."""
    ensure_raw_partitions(conn, [e.event_time for e in events])


def write(conn: psycopg.Connection, events: Sequence[Event], states: RunStates) -> tuple[set[Any], int]:
    """Write validated events inside the caller's transaction; return (ids of new events, runs touched).

    Raises `RunConflict` (leave those events out, write again) when a runId belongs to another job.
    """
    conflicts = in_batch_conflicts(events)
    if conflicts:
        raise RunConflict(conflicts)
    raw = _columns(
        (
            (e.event_id, e.event_time, e.kind, e.event_type, e.run_uuid, e.job_namespace, e.job_name,
             e.dataset.namespace if e.dataset else None, e.dataset.name if e.dataset else None,
             e.producer, e.payload_json)
            for e in events
        ),
        11,
    )  # fmt: skip
    with conn.cursor() as cur:
        cur.execute(_RAW, raw)
        fresh_ids = {row[0] for row in cur.fetchall()}
        fresh: list[Event] = []
        for e in events:  # a repeat inside the batch counts once
            if e.event_id in fresh_ids:
                fresh_ids.discard(e.event_id)
                fresh.append(e)
        if not fresh:
            return set(), 0
        fresh.sort(key=lambda e: e.event_time)
        namespaces: dict[str, None] = {}
        jobs: dict[tuple[str, str], dict[str, Any]] = {}
        datasets: dict[tuple[str, str], dict[str, Any]] = {}
        runs: dict[Any, _Run] = {}
        run_io: dict[str, dict[tuple[Any, str, str], dict[str, Any]]] = {"inputs": {}, "outputs": {}}
        job_io: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
        columns: dict[tuple[str, ...], str] = {}

        def dataset(ns: str, name: str, facets: dict[str, Any]) -> None:
            namespaces[ns] = None
            datasets.setdefault((ns, name), {}).update(facets)

        for e in fresh:
            if e.dataset is not None:
                dataset(e.dataset.namespace, e.dataset.name, e.dataset.facets)
            if e.job_namespace is not None and e.job_name is not None:
                job = (e.job_namespace, e.job_name)
                namespaces[job[0]] = None
                jobs.setdefault(job, {}).update(e.job_facets)
                for side, refs in (("inputs", e.inputs), ("outputs", e.outputs)):
                    for ref in refs:
                        dataset(ref.namespace, ref.name, ref.facets)
                        if e.run_uuid is not None:
                            key = (e.run_uuid, ref.namespace, ref.name)
                            run_io[side].setdefault(key, {}).update(ref.io_facets)
                        else:  # a JobEvent: static lineage of the job
                            static = (*job, ref.namespace, ref.name, side[:-1])
                            job_io.setdefault(static, {}).update(ref.io_facets)
                if e.run_uuid is not None:
                    runs.setdefault(e.run_uuid, _Run(job)).fold(e, states)
            for c in e.columns:
                dataset(c.input_namespace, c.input_name, {})
                columns[(c.namespace, c.name, c.field, c.input_namespace, c.input_name, c.input_field)] = (
                    c.transformations
                )
        # the rest in one round trip (pipeline mode): every statement is sent, then one sync; the
        # runId check comes last: on a conflict the caller's transaction rolls all of it back
        with conn.pipeline():
            cur.execute(_NAMESPACES, [list(namespaces)])
            for table, kind, objects in (
                ("lineage_datasets", "dataset", datasets),
                ("lineage_jobs", "job", jobs),
            ):
                if objects:
                    cur.execute(
                        _OBJECTS.format(table=table, kind=kind),
                        _columns(((ns, n, _json(f)) for (ns, n), f in objects.items()), 3),
                    )
            if runs:
                cur.execute(
                    _RUNS,
                    _columns(
                        (
                            (rid, *r.job, r.state, r.state_time, r.started_at, r.nominal_start, r.nominal_end,
                             r.parent.run_uuid if r.parent else None,
                             r.parent.job_namespace if r.parent else None,
                             r.parent.job_name if r.parent else None, _json(r.facets), r.first_time)
                            for rid, r in runs.items()
                        ),
                        13,
                    ),
                )  # fmt: skip
            for side, rows in run_io.items():
                if rows:
                    cur.execute(
                        _RUN_IO.format(side=side),
                        _columns(((*k, _json(f)) for k, f in rows.items()), 4),
                    )
            if job_io:
                cur.execute(_JOB_IO, _columns(((*k, _json(f)) for k, f in job_io.items()), 6))
            if columns:
                cur.execute(_COLUMNS, _columns(((*k, t) for k, t in columns.items()), 7))
            found = (
                cur.execute(_CONFLICTS, _columns(((rid, *r.job) for rid, r in runs.items()), 3)).fetchall()
                if runs
                else []
            )
        if found:
            owners = {run: (ns, name) for run, ns, name in found}
            raise RunConflict(
                {
                    i: f"runId {e.run_uuid} belongs to job {_pair(*owners[e.run_uuid])}, not to job "
                    f"{_pair(e.job_namespace, e.job_name)} (a runId identifies one run of one job: "
                    "give this run its own runId)"
                    for i, e in enumerate(events)
                    if e.run_uuid in owners
                }
            )
    return {e.event_id for e in fresh}, len(runs)


def _batches(items: Iterable[tuple[str, Any]], size: int) -> Iterator[list[tuple[str, Any]]]:
    batch: list[tuple[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_batch(
    conn: psycopg.Connection, events: Sequence[Event], states: RunStates
) -> tuple[set[Any], int, dict[int, str]]:
    """Write `events` in one transaction, leaving out those that reuse another job's runId (and retrying
    without them); return (ids of new events, runs touched, rejected index → message).

    A partition dropped under us (retention) is made again once.
    """
    rejected: dict[int, str] = {}
    keep = list(range(len(events)))
    for attempt in range(len(events) + 2):
        chosen = [events[i] for i in keep]
        try:
            prepare(conn, chosen)
            with conn.transaction():
                fresh, runs = write(conn, chosen, states)
            return fresh, runs, rejected
        except RunConflict as exc:
            for local, message in exc.rejected.items():
                rejected[keep[local]] = message
            keep = [i for i in keep if i not in rejected]
        except psycopg.errors.CheckViolation as exc:
            if "no partition" not in str(exc) or attempt:
                raise
            forget_partitions()
    raise AssertionError("unreachable: every retry leaves out at least one event")


def ingest(
    conn: psycopg.Connection,
    documents: Iterable[tuple[str, Any]],
    *,
    limits: IngestLimits | None = None,
    batch_size: int = BATCH_SIZE,
    on_progress: ProgressCallback | None = None,
    on_reject: Callable[[Rejected], None] | None = None,
) -> IngestResult:
    """Validate and store (location, decoded event) pairs in batches; each batch is one transaction.

    `conn` must be in autocommit mode or idle (each batch commits on its own).
    """
    limits = limits or IngestLimits()
    started = time.monotonic()
    result = IngestResult()
    states = load_run_states(conn)
    if not conn.autocommit:
        conn.commit()

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
                valid.append(
                    (
                        location,
                        validate(
                            value, states=states.names, window=limits.window, max_depth=limits.max_depth
                        ),
                    )
                )
            except EventError as exc:
                reject(Rejected(location, exc.field, exc.message))
        events = [e for _, e in valid]
        try:
            fresh, runs, conflicts = write_batch(conn, events, states)
        except psycopg.DataError:
            # the database refused something validation let through: find the event one by one
            fresh, runs, conflicts = set(), 0, {}
            for i, event in enumerate(events):
                try:
                    f, n, c = write_batch(conn, [event], states)
                    fresh, runs = fresh | f, runs + n
                    if c:
                        conflicts[i] = next(iter(c.values()))
                except psycopg.DataError as exc:
                    reject(Rejected(valid[i][0], "event", str(exc).splitlines()[0]))
        for i in sorted(conflicts):
            reject(Rejected(valid[i][0], "run.runId", conflicts[i]))
        result.stored += len(fresh)
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
