"""Own the synthetic lineage store: a realistic normalized store at a given scale, built set-based.

Shape (defaults scale with `runs`): jobs = runs/100 (10K at 1M runs), datasets = 5 x jobs, 10 namespaces.
Each job has a fixed set of 2-5 inputs (datasets written by the jobs just before it, so the graph is a
layered DAG) and 2-5 outputs of its own; its runs read and write those. Runs spread evenly over
`months` months up to `end`; ~10% have a parent run (the run before). `updated_at` is historical (the
run's end), as in a store that has been running for two years. Names and ids match what ingestion would
make (`job_<i>` in `ns_<i % 10>`, `ds_<k>` in `ns_<k % 10>`, ids from `migrata_lineage_id` in SQL), so
real events for the same jobs can be ingested on top. Used by the tests and benchmarks/lineage, with
`store_raw` (raw rows only, row by row: the ingestion benchmark's baseline and a test seed).

Run ids (`run_ids`): "v7", time-ordered UUIDv7 from the run's start (the OpenLineage clients' own ids
since client 1.15: 48 bits of Unix milliseconds, then random bits), or "v4", random (older producers,
Marquez's examples): the worst case for every index keyed by run id, whose inserts and probes then land
on random pages.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg

from python_ops.lineage.events import parse_time
from python_ops.lineage.raw import canonical_json, ensure_raw_partitions, event_key

NAMESPACES = 10


def job_name(i: int) -> tuple[str, str]:
    return f"ns_{i % NAMESPACES}", f"job_{i}"


def dataset_name(k: int) -> tuple[str, str]:
    return f"ns_{k % NAMESPACES}", f"ds_{k}"


# The tables a store's bulk insert fills, whose indexes it drops first and builds again after: inserting
# 10M runs and ~70M input/output rows into indexes keyed by random uuids (larger than shared_buffers from
# a few million rows on) costs a random page write per row; building each index once is a sort.
BULK_TABLES = ("lineage_runs", "lineage_run_inputs", "lineage_run_outputs")

# (drop, create) of each index of the tables: the plain indexes, and the primary keys and unique
# constraints no foreign key depends on (lineage_runs' key stays: the run inputs/outputs reference it)
_INDEXES = """
SELECT format('ALTER TABLE %%I DROP CONSTRAINT %%I', c.relname, con.conname),
       format('ALTER TABLE %%I ADD CONSTRAINT %%I %%s', c.relname, con.conname, pg_get_constraintdef(con.oid))
  FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
 WHERE c.oid = any(%(tables)s::regclass[]) AND con.contype IN ('p', 'u')
   AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = con.conindid)
UNION ALL
SELECT format('DROP INDEX %%s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.oid = any(%(tables)s::regclass[])
   AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)
"""


def _drop_indexes(cur: psycopg.Cursor, tables: Sequence[str]) -> list[str]:
    """Drop the droppable indexes of `tables` (see `_INDEXES`); return the statements that recreate them
    as they were (their own definitions, names included)."""
    pairs = cur.execute(_INDEXES, {"tables": list(tables)}).fetchall()
    for drop, _ in pairs:
        cur.execute(drop)
    return [create for _, create in pairs]


RunIds = Literal["v7", "v4"]
# a run id's first 12 hex digits: v7, the Unix milliseconds of its start `t0`; v4, random (of `h`, 32 random
# hex digits, which also give the rest once the version and variant digits are set)
_RUN_ID_HEAD = {
    "v7": "lpad(to_hex(floor(extract(epoch FROM t0) * 1000)::bigint), 12, '0')",
    "v4": "substr(h, 1, 12)",
}


def _run_id(kind: RunIds) -> str:
    return f"({_RUN_ID_HEAD[kind]} || '{kind[1]}' || substr(h, 14, 3) || '8' || substr(h, 18, 15))::uuid"


def uuid7(at: datetime) -> uuid.UUID:
    """A UUIDv7 for the instant `at` (aware): Unix milliseconds, then random bits (RFC 9562)."""
    millis = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    value = (millis << 80) | uuid.uuid4().int & ((1 << 80) - 1)
    return uuid.UUID(int=value & ~(0xF << 76) | 7 << 76)


def generate_store(
    conn: psycopg.Connection,
    runs: int,
    *,
    months: int = 24,
    jobs: int | None = None,
    end: datetime | None = None,
    parent_every: int = 10,
    seed: float = 0.42,
    run_ids: RunIds = "v7",
) -> dict[str, int]:
    """Fill the normalized lineage tables with `runs` runs; return row counts. Expects empty tables."""
    n_jobs = jobs or max(10, runs // 100)
    n_datasets = 5 * n_jobs
    # runs end before now: `updated_at` must not lie in the future, or incremental refreshes would skip
    stop = (end or datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    start = stop - timedelta(days=int(months * 30.44))
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")  # skip FK triggers while bulk loading
        cur.execute("SET LOCAL maintenance_work_mem = '1GB'")  # the index builds below sort in memory
        cur.execute("SELECT setseed(%s)", (seed,))
        cur.execute(
            "INSERT INTO lineage_namespaces (uuid, name) "
            "SELECT migrata_lineage_id('namespace', 'ns_' || n, ''), 'ns_' || n "
            "FROM generate_series(0, %s - 1) n",
            (NAMESPACES,),
        )
        cur.execute(
            "CREATE TEMP TABLE _gen_ids ON COMMIT DROP AS "
            "SELECT 'j'::char(1) AS kind, i AS idx, "
            "migrata_lineage_id('job', 'ns_' || (i %% %(ns)s), 'job_' || i) AS uuid "
            "FROM generate_series(0, %(jobs)s - 1) i UNION ALL "
            "SELECT 'd', k, migrata_lineage_id('dataset', 'ns_' || (k %% %(ns)s), 'ds_' || k) "
            "FROM generate_series(0, %(datasets)s - 1) k",
            {"ns": NAMESPACES, "jobs": n_jobs, "datasets": n_datasets},
        )
        for table, kind, prefix in (("lineage_jobs", "j", "job_"), ("lineage_datasets", "d", "ds_")):
            cur.execute(
                f"""INSERT INTO {table} (uuid, namespace_uuid, namespace_name, name)
                    SELECT g.uuid, migrata_lineage_id('namespace', 'ns_' || (g.idx %% %(ns)s), ''),
                           'ns_' || (g.idx %% %(ns)s), %(prefix)s || g.idx
                      FROM _gen_ids g WHERE g.kind = %(kind)s""",
                {"ns": NAMESPACES, "kind": kind, "prefix": prefix},
            )
        cur.execute("CREATE UNIQUE INDEX ON _gen_ids (kind, idx)")
        # job i writes 2-5 datasets of its own (5i …) and reads 2-5 written by the ~50 jobs before it
        cur.execute(
            """CREATE TEMP TABLE _gen_io ON COMMIT DROP AS
               SELECT j.i AS job_idx, 5 * j.i + o AS dataset_idx, true AS is_output
                 FROM generate_series(0, %(jobs)s - 1) j(i), generate_series(0, 4) o
                WHERE o < 2 + (hashint4(j.i) & 2147483647) %% 4
               UNION
               SELECT j.i, (5 * j.i - 1 - (hashint4(j.i * 7 + k) & 2147483647) %% least(5 * j.i, 250)), false
                 FROM generate_series(1, %(jobs)s - 1) j(i), generate_series(0, 4) k
                WHERE k < 2 + (hashint4(j.i + 1) & 2147483647) %% 4""",
            {"jobs": n_jobs},
        )
        cur.execute("CREATE INDEX ON _gen_io (job_idx)")
        cur.execute(
            f"""CREATE TEMP TABLE _gen_runs ON COMMIT DROP AS
               SELECT g, {_run_id(run_ids)} AS uuid, job_idx, t0, dice
                 FROM (SELECT g, md5('run:' || g) AS h,
                              (hashint4(g) & 2147483647) %% %(jobs)s AS job_idx,
                              %(start)s::timestamptz
                                + (%(stop)s::timestamptz - %(start)s::timestamptz) * (g::float8 / %(n)s)
                                AS t0,
                              (hashint4(g + 13) & 2147483647) %% 100 AS dice
                         FROM generate_series(1, %(n)s) g) s""",
            {"n": runs, "jobs": n_jobs, "start": start, "stop": stop},
        )
        cur.execute("CREATE UNIQUE INDEX ON _gen_runs (g)")
        rebuild = _drop_indexes(cur, BULK_TABLES)
        cur.execute(
            """INSERT INTO lineage_runs (uuid, job_uuid, state, state_event_time, started_at,
                   ended_at, parent_run_uuid, parent_job_namespace, parent_job_name, facets, first_event_time,
                   created_at, updated_at)
               SELECT r.uuid, j.uuid,
                      CASE WHEN r.dice < 90 THEN 'COMPLETE' WHEN r.dice < 97 THEN 'FAIL' ELSE 'RUNNING' END,
                      r.t0 + make_interval(secs => 30 + r.dice * 17),
                      r.t0,
                      CASE WHEN r.dice < 97 THEN r.t0 + make_interval(secs => 30 + r.dice * 17) END,
                      pr.uuid, 'ns_' || (pr.job_idx %% 10), 'job_' || pr.job_idx,
                      '{}'::jsonb, r.t0, r.t0, least(now(), r.t0 + make_interval(secs => 30 + r.dice * 17))
                 FROM _gen_runs r
                 JOIN _gen_ids j ON j.kind = 'j' AND j.idx = r.job_idx
                 LEFT JOIN _gen_runs pr ON r.g %% %(every)s = 0 AND pr.g = r.g - 1""",
            {"every": parent_every},
        )
        for side, output in (("inputs", False), ("outputs", True)):
            cur.execute(
                f"""INSERT INTO lineage_run_{side} (run_uuid, dataset_uuid, facets, created_at)
                    SELECT r.uuid, d.uuid, '{{}}'::jsonb, r.t0
                      FROM _gen_runs r
                      JOIN _gen_io io ON io.job_idx = r.job_idx AND io.is_output = %s
                      JOIN _gen_ids d ON d.kind = 'd' AND d.idx = io.dataset_idx""",
                (output,),
            )
        for statement in rebuild:
            cur.execute(statement)
    for table in (
        "lineage_runs",
        "lineage_run_inputs",
        "lineage_run_outputs",
        "lineage_jobs",
        "lineage_datasets",
    ):
        conn.execute(f"ANALYZE {table}")
    if not conn.autocommit:
        conn.commit()
    return counts(conn)


def counts(conn: psycopg.Connection) -> dict[str, int]:
    row = conn.execute(
        """SELECT (SELECT count(*) FROM lineage_jobs), (SELECT count(*) FROM lineage_datasets),
                  (SELECT count(*) FROM lineage_runs),
                  (SELECT count(*) FROM lineage_runs WHERE parent_run_uuid IS NOT NULL),
                  (SELECT count(*) FROM lineage_run_inputs), (SELECT count(*) FROM lineage_run_outputs)"""
    ).fetchone()
    assert row is not None
    return dict(zip(["jobs", "datasets", "runs", "child_runs", "inputs", "outputs"], row, strict=True))


def new_run_events(
    jobs: int, count: int, *, at: datetime | None = None, offset: int = 0
) -> list[dict[str, Any]]:
    """OpenLineage START+COMPLETE events for `count` new runs of the synthetic jobs (same datasets)."""
    when = at or datetime.now(UTC)
    events = []
    for n in range(count):
        i = (offset + n * 7919) % jobs
        ns, name = job_name(i)
        t = when + timedelta(milliseconds=n)
        run = str(uuid7(t))
        outputs = [dict(zip(("namespace", "name"), dataset_name(5 * i + o), strict=True)) for o in range(2)]
        inputs = (
            [
                dict(zip(("namespace", "name"), dataset_name(max(0, 5 * i - 1 - k)), strict=True))
                for k in range(2)
            ]
            if i
            else []
        )
        for kind, dt in (("START", t), ("COMPLETE", t + timedelta(seconds=45))):
            events.append(
                {
                    "eventType": kind,
                    "eventTime": dt.isoformat(),
                    "producer": "https://github.com/migrata/benchmarks",
                    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                    "run": {"runId": run, "facets": {}},
                    "job": {"namespace": ns, "name": name, "facets": {}},
                    "inputs": inputs,
                    "outputs": outputs,
                }
            )
    return events


def store_raw(conn: psycopg.Connection, events: Iterable[dict[str, Any]]) -> int:
    """Insert run events into the raw table only (no normalized rows); return how many were new.

    The row-by-row baseline of the ingestion benchmark, and a way for tests to seed raw events.
    """
    events = list(events)
    rows = [
        (
            event_key(e),
            parse_time(e["eventTime"], "eventTime"),
            e.get("eventType"),
            e["run"]["runId"],
            e["job"]["namespace"],
            e["job"]["name"],
            e.get("producer"),
            canonical_json(e),
        )
        for e in events
    ]
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        ensure_raw_partitions(conn, [r[1] for r in rows])
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO lineage_events_raw
                   (event_id, event_time, event_type, run_id, job_namespace, job_name, producer, payload)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING""",
            rows,
        )
        inserted = cur.rowcount
    return max(inserted, 0)
