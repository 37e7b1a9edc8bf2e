"""Own the lineage reads in Marquez's response shapes: namespaces, jobs with their latest run, datasets, run
history, one run, search, the lineage graph and the column-lineage graph.

Each read is one SQL statement per source, answered by the same Python shaping code:

- `denormalized` (what `migrata lineage serve` and the CLI use): runs from `run_lineage_denormalized`
  (one row per run with its job and datasets, indexed per query pattern), each job's latest run and
  run count from `lineage_jobs_latest`, the dashboard from `lineage_run_counts_daily`, edges from
  `lineage_graph_edges` (all dbt models kept fresh by the same micro-batches); jobs, datasets and
  namespaces are looked up by key in their own small tables.
- `normalized`: the same answer through `lineage_runs` and its input/output tables, for the parity
  tests and the benchmark's baseline.

Shapes follow Marquez's API (spec/openapi.yml: Job, Run, Dataset, LineageGraph, SearchResultList):
camelCase fields, ISO-8601 times, run states in Marquez's names (`MARQUEZ_STATE`). An unknown
namespace, job, run or node raises `NotFound` (HTTP 404 with a JSON body, CLI exit 2).
Fields Marquez has and migrata does not store (versions, tags, owners) are null or empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

from python_ops.errors import PreconditionError
from python_ops.lineage.graph import Direction, Node, graph_edges, parse_node, render

Source = Literal["denormalized", "normalized"]
DEFAULT_DEPTH = 20  # Marquez's default depth of /api/v1/lineage
DEFAULT_LIMIT = 100  # Marquez's default page size of listings
SEARCH_LIMIT = 10  # Marquez's default of /api/v1/search

# OpenLineage event type of the run's latest state → Marquez's run state (OTHER never moves a run on)
MARQUEZ_STATE = {
    "START": "RUNNING",
    "RUNNING": "RUNNING",
    "COMPLETE": "COMPLETED",
    "FAIL": "FAILED",
    "ABORT": "ABORTED",
    "OTHER": "NEW",
}


class NotFound(PreconditionError):
    """A namespace, job, run or node the store does not hold (HTTP 404)."""


def _rows(conn: psycopg.Connection, query: str, params: Any) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params, prepare=True).fetchall()  # type: ignore[arg-type]


def _ts(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise PreconditionError(
            f"limit {limit} / offset {offset} is negative", hint="pass limit and offset of 0 or more"
        )


# --- runs ---------------------------------------------------------------------------------------------

# The columns every run read returns, from each source (`r` the run row).
_RUN_COLS = {
    "denormalized": """r.run_uuid, r.job_uuid, r.namespace_name, r.job_name, r.state, r.created_at,
        r.updated_at, r.started_at, r.ended_at, r.nominal_start_time, r.nominal_end_time, r.duration_ms,
        r.facets, r.input_dataset_namespaces AS in_ns, r.input_dataset_names AS in_names,
        r.output_dataset_namespaces AS out_ns, r.output_dataset_names AS out_names""",
    "normalized": """r.uuid AS run_uuid, r.job_uuid, j.namespace_name, j.name AS job_name, r.state,
        r.first_event_time AS created_at, r.updated_at, r.started_at, r.ended_at, r.nominal_start_time,
        r.nominal_end_time, (extract(epoch from r.ended_at - r.started_at) * 1000)::bigint AS duration_ms,
        r.facets,
        coalesce((SELECT array_agg(d.namespace_name ORDER BY d.namespace_name, d.name)
                    FROM lineage_run_inputs x JOIN lineage_datasets d ON d.uuid = x.dataset_uuid
                   WHERE x.run_uuid = r.uuid), '{}') AS in_ns,
        coalesce((SELECT array_agg(d.name ORDER BY d.namespace_name, d.name)
                    FROM lineage_run_inputs x JOIN lineage_datasets d ON d.uuid = x.dataset_uuid
                   WHERE x.run_uuid = r.uuid), '{}') AS in_names,
        coalesce((SELECT array_agg(d.namespace_name ORDER BY d.namespace_name, d.name)
                    FROM lineage_run_outputs x JOIN lineage_datasets d ON d.uuid = x.dataset_uuid
                   WHERE x.run_uuid = r.uuid), '{}') AS out_ns,
        coalesce((SELECT array_agg(d.name ORDER BY d.namespace_name, d.name)
                    FROM lineage_run_outputs x JOIN lineage_datasets d ON d.uuid = x.dataset_uuid
                   WHERE x.run_uuid = r.uuid), '{}') AS out_names""",
}
_RUN_FROM = {
    "denormalized": "run_lineage_denormalized r",
    "normalized": "lineage_runs r JOIN lineage_jobs j ON j.uuid = r.job_uuid",
}
_RUN_CREATED = {"denormalized": "r.created_at", "normalized": "r.first_event_time"}
_RUN_ID = {"denormalized": "r.run_uuid", "normalized": "r.uuid"}


def run_shape(row: dict[str, Any]) -> dict[str, Any]:
    """A run row → Marquez's Run."""

    def datasets(ns: list[str] | None, names: list[str] | None) -> list[dict[str, str]]:
        return [{"namespace": a, "name": b} for a, b in zip(ns or [], names or [], strict=True)]

    return {
        "id": str(row["run_uuid"]),
        "createdAt": _ts(row["created_at"]),
        "updatedAt": _ts(row["updated_at"]),
        "nominalStartTime": _ts(row["nominal_start_time"]),
        "nominalEndTime": _ts(row["nominal_end_time"]),
        "state": MARQUEZ_STATE.get(row["state"], "NEW"),
        "startedAt": _ts(row["started_at"]),
        "endedAt": _ts(row["ended_at"]),
        "durationMs": row["duration_ms"],
        "args": {},
        "jobName": row["job_name"],
        "namespace": row["namespace_name"],
        "inputDatasets": datasets(row["in_ns"], row["in_names"]),
        "outputDatasets": datasets(row["out_ns"], row["out_names"]),
        "facets": row["facets"] or {},
    }


def _job_uuid(conn: psycopg.Connection, namespace: str, job: str) -> Any:
    row = conn.execute(
        "SELECT uuid FROM lineage_jobs WHERE namespace_name = %s AND name = %s",
        (namespace, job),
        prepare=True,
    ).fetchone()
    if row is None:
        raise NotFound(
            f"job {job!r} in namespace {namespace!r} is unknown", hint="list jobs: lineage jobs NS"
        )
    return row[0]


def job_runs(
    conn: psycopg.Connection,
    namespace: str,
    job: str,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    *,
    source: Source = "denormalized",
) -> dict[str, Any]:
    """Run history of a job, newest first: `{"runs": [Run], "totalCount": n}`."""
    _page(limit, offset)
    job_uuid = _job_uuid(conn, namespace, job)
    rows = _rows(
        conn,
        f"SELECT {_RUN_COLS[source]} FROM {_RUN_FROM[source]} WHERE r.job_uuid = %(job)s "
        f"ORDER BY {_RUN_CREATED[source]} DESC, {_RUN_ID[source]} DESC LIMIT %(limit)s OFFSET %(offset)s",
        {"job": job_uuid, "limit": limit, "offset": offset},
    )
    total_sql = {  # the denormalized total is kept per job beside its latest run
        "denormalized": "SELECT coalesce((SELECT run_count FROM lineage_jobs_latest WHERE job_uuid = %s), 0)",
        "normalized": "SELECT count(*) FROM lineage_runs WHERE job_uuid = %s",
    }
    (total,) = conn.execute(total_sql[source], (job_uuid,), prepare=True).fetchone() or (0,)
    return {"runs": [run_shape(r) for r in rows], "totalCount": total}


def run(conn: psycopg.Connection, run_id: str, *, source: Source = "denormalized") -> dict[str, Any]:
    """One run by its id (Marquez's `/jobs/runs/{id}`)."""
    import uuid as _uuid

    try:
        key = _uuid.UUID(run_id)
    except ValueError:
        raise NotFound(f"run {run_id!r} is not a run id (a UUID)", hint="pass a runId") from None
    rows = _rows(
        conn, f"SELECT {_RUN_COLS[source]} FROM {_RUN_FROM[source]} WHERE {_RUN_ID[source]} = %s", (key,)
    )
    if not rows:
        raise NotFound(f"run {run_id} is unknown", hint="list a job's runs: lineage runs NS JOB")
    return run_shape(rows[0])


# --- jobs ---------------------------------------------------------------------------------------------

# The latest run of each job `jb`: denormalized, one probe of lineage_jobs_latest's key per job; normalized,
# the newest of the job's runs (an index probe on lineage_runs per job, then its datasets).
_LATEST = {
    "denormalized": f"""LEFT JOIN (SELECT {_RUN_COLS["denormalized"]} FROM lineage_jobs_latest r) l
        ON l.job_uuid = jb.uuid""",
    "normalized": f"""LEFT JOIN LATERAL (SELECT {_RUN_COLS["normalized"]} FROM {_RUN_FROM["normalized"]}
        WHERE r.job_uuid = jb.uuid ORDER BY r.first_event_time DESC, r.uuid DESC LIMIT 1) l ON true""",
}
_JOB_COLS = """jb.namespace_name AS job_namespace, jb.name AS job_name_, jb.facets AS job_facets,
    jb.created_at AS job_created_at, jb.updated_at AS job_updated_at, l.*"""


def job_shape(row: dict[str, Any]) -> dict[str, Any]:
    """A job row with its latest run's columns (null without runs) → Marquez's Job."""
    latest = run_shape(row) if row.get("run_uuid") else None
    facets = row["job_facets"] or {}
    kind = (facets.get("jobType") or {}).get("processingType") or "BATCH"
    return {
        "id": {"namespace": row["job_namespace"], "name": row["job_name_"]},
        "type": kind,
        "name": row["job_name_"],
        "simpleName": row["job_name_"].rsplit(".", 1)[-1],
        "parentJobName": None,
        "parentJobUuid": None,
        "createdAt": _ts(row["job_created_at"]),
        "updatedAt": _ts(row["job_updated_at"]),
        "namespace": row["job_namespace"],
        "inputs": latest["inputDatasets"] if latest else [],
        "outputs": latest["outputDatasets"] if latest else [],
        "location": (facets.get("sourceCodeLocation") or {}).get("url"),
        "description": (facets.get("documentation") or {}).get("description"),
        "latestRun": latest,
        "latestRuns": [latest] if latest else [],
        "facets": facets,
    }


def _namespace_exists(conn: psycopg.Connection, namespace: str) -> None:
    if conn.execute("SELECT 1 FROM lineage_namespaces WHERE name = %s", (namespace,)).fetchone() is None:
        raise NotFound(f"namespace {namespace!r} is unknown", hint="list namespaces: lineage namespaces")


def jobs(
    conn: psycopg.Connection,
    namespace: str,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    *,
    source: Source = "denormalized",
) -> dict[str, Any]:
    """The jobs of a namespace by name, each with its latest run: `{"jobs": [Job], "totalCount": n}`."""
    _page(limit, offset)
    _namespace_exists(conn, namespace)
    rows = _rows(
        conn,
        f"""SELECT {_JOB_COLS} FROM (SELECT * FROM lineage_jobs WHERE namespace_name = %(ns)s
              ORDER BY name LIMIT %(limit)s OFFSET %(offset)s) jb {_LATEST[source]} ORDER BY jb.name""",
        {"ns": namespace, "limit": limit, "offset": offset},
    )
    (total,) = conn.execute(
        "SELECT count(*) FROM lineage_jobs WHERE namespace_name = %s", (namespace,)
    ).fetchone() or (0,)
    return {"jobs": [job_shape(r) for r in rows], "totalCount": total}


# --- datasets and namespaces ---------------------------------------------------------------------------


def dataset_shape(row: dict[str, Any]) -> dict[str, Any]:
    """A lineage_datasets row → Marquez's Dataset (fields from the schema facet)."""
    facets = row["facets"] or {}
    fields = [
        {"name": f.get("name"), "type": f.get("type"), "tags": [], "description": f.get("description")}
        for f in ((facets.get("schema") or {}).get("fields") or [])
        if isinstance(f, dict)
    ]
    return {
        "id": {"namespace": row["namespace_name"], "name": row["name"]},
        "type": "DB_TABLE",
        "name": row["name"],
        "physicalName": row["name"],
        "createdAt": _ts(row["created_at"]),
        "updatedAt": _ts(row["updated_at"]),
        "namespace": row["namespace_name"],
        "sourceName": (facets.get("dataSource") or {}).get("name") or row["namespace_name"],
        "fields": fields,
        "tags": [],
        "lastModifiedAt": None,
        "description": (facets.get("documentation") or {}).get("description"),
        "facets": facets,
        "deleted": False,
    }


def datasets(
    conn: psycopg.Connection, namespace: str, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> dict[str, Any]:
    """The datasets of a namespace by name: `{"datasets": [Dataset], "totalCount": n}`."""
    _page(limit, offset)
    _namespace_exists(conn, namespace)
    rows = _rows(
        conn,
        "SELECT * FROM lineage_datasets WHERE namespace_name = %(ns)s ORDER BY name "
        "LIMIT %(limit)s OFFSET %(offset)s",
        {"ns": namespace, "limit": limit, "offset": offset},
    )
    (total,) = conn.execute(
        "SELECT count(*) FROM lineage_datasets WHERE namespace_name = %s", (namespace,)
    ).fetchone() or (0,)
    return {"datasets": [dataset_shape(r) for r in rows], "totalCount": total}


def namespaces(conn: psycopg.Connection, limit: int = DEFAULT_LIMIT, offset: int = 0) -> dict[str, Any]:
    """Every namespace by name: `{"namespaces": [Namespace], "totalCount": n}`."""
    _page(limit, offset)
    rows = _rows(
        conn,
        "SELECT name, created_at, updated_at FROM lineage_namespaces ORDER BY name LIMIT %s OFFSET %s",
        (limit, offset),
    )
    (total,) = conn.execute("SELECT count(*) FROM lineage_namespaces").fetchone() or (0,)
    return {
        "namespaces": [
            {"name": r["name"], "createdAt": _ts(r["created_at"]), "updatedAt": _ts(r["updated_at"]),
             "ownerName": None, "description": None, "isHidden": False}
            for r in rows
        ],
        "totalCount": total,
    }  # fmt: skip


# --- search -------------------------------------------------------------------------------------------

# Names matched with ILIKE: Marquez's `q` is a pattern (`%`, `_`), matched anywhere in the name. The
# trigram indexes (revision lineage_0006) serve both the prefix and the substring forms.
_SEARCH = """
SELECT * FROM (
  SELECT 'JOB' AS type, name, updated_at, namespace_name FROM lineage_jobs
   WHERE name ILIKE %(pattern)s AND %(jobs)s AND (%(ns)s::text IS NULL OR namespace_name = %(ns)s)
  UNION ALL
  SELECT 'DATASET', name, updated_at, namespace_name FROM lineage_datasets
   WHERE name ILIKE %(pattern)s AND %(datasets)s AND (%(ns)s::text IS NULL OR namespace_name = %(ns)s)
) s ORDER BY {order} LIMIT %(limit)s"""


def search(
    conn: psycopg.Connection,
    q: str,
    filter: str | None = None,
    sort: str = "name",
    limit: int = SEARCH_LIMIT,
    namespace: str | None = None,
) -> dict[str, Any]:
    """Jobs and datasets whose name matches `q` (case-insensitive; `%`/`_` wildcards, else a substring):
    `{"totalCount": n, "results": [{"type", "name", "updatedAt", "namespace", "nodeId"}]}`."""
    if not q.strip():
        raise PreconditionError("search text q is empty", hint="pass q=TEXT (a name or a pattern with %)")
    kind = (filter or "").upper() or None
    if kind not in (None, "JOB", "DATASET"):
        raise PreconditionError(
            f"search filter {filter!r} is unknown", hint="use filter=job or filter=dataset"
        )
    order = {
        "name": "name, type, namespace_name",
        "updated_at": "updated_at DESC, name, type, namespace_name",
    }
    if sort.lower() not in order:
        raise PreconditionError(f"search sort {sort!r} is unknown", hint="use sort=name or sort=updated_at")
    _page(limit, 0)
    pattern = q if ("%" in q or "_" in q) else f"%{q}%"
    rows = _rows(
        conn,
        _SEARCH.format(order=order[sort.lower()]),
        {"pattern": pattern, "jobs": kind in (None, "JOB"), "datasets": kind in (None, "DATASET"),
         "ns": namespace, "limit": limit},
    )  # fmt: skip
    results = [
        {"type": r["type"], "name": r["name"], "updatedAt": _ts(r["updated_at"]),
         "namespace": r["namespace_name"],
         "nodeId": render(("job" if r["type"] == "JOB" else "dataset", r["namespace_name"], r["name"]))}
        for r in rows
    ]  # fmt: skip
    return {"totalCount": len(results), "results": results}


# --- dashboard ----------------------------------------------------------------------------------------

# denormalized: a few rows per day of lineage_run_counts_daily (its unique index's range); normalized:
# every run of the days counted
_DASHBOARD = {
    "denormalized": """SELECT run_date AS day, state, sum(runs)::bigint AS runs FROM lineage_run_counts_daily
        WHERE run_date >= current_date - %(days)s AND runs > 0 GROUP BY 1, 2 ORDER BY 1, 2""",
    "normalized": """SELECT (first_event_time AT TIME ZONE 'UTC')::date AS day, state, count(*) AS runs
        FROM lineage_runs WHERE first_event_time >= (current_date - %(days)s)::timestamp AT TIME ZONE 'UTC'
        GROUP BY 1, 2 ORDER BY 1, 2""",
}


def dashboard(conn: psycopg.Connection, days: int = 7, *, source: Source = "denormalized") -> dict[str, Any]:
    """Runs per day and Marquez state over the last `days` days: `{"days": n, "runs": [...]}`."""
    if days < 0:
        raise PreconditionError(f"dashboard days {days} is negative", hint="pass days=0 or more")
    rows = _rows(conn, _DASHBOARD[source], {"days": days})
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (r["day"].isoformat(), MARQUEZ_STATE.get(r["state"], "NEW"))
        counts[key] = counts.get(key, 0) + r["runs"]
    return {
        "days": days,
        "runs": [{"date": d, "state": s, "count": n} for (d, s), n in sorted(counts.items())],
        "totalCount": sum(counts.values()),
    }


# --- the lineage graph ----------------------------------------------------------------------------------


def _nodes_data(
    conn: psycopg.Connection, nodes: Sequence[Node], source: Source
) -> dict[Node, dict[str, Any]]:
    """Marquez's node `data` of each node: a Job with its latest run, a Dataset; one statement for all the
    job nodes (their latest runs by key in lineage_jobs_latest), one for all the datasets."""
    jobs_ = [n for n in nodes if n[0] == "job"]
    sets = [n for n in nodes if n[0] == "dataset"]
    data: dict[Node, dict[str, Any]] = {}
    if jobs_:
        for row in _rows(
            conn,
            f"""SELECT {_JOB_COLS} FROM lineage_jobs jb {_LATEST[source]}
                 WHERE (jb.namespace_name, jb.name) IN
                       (SELECT * FROM unnest(%(ns)s::text[], %(names)s::text[]))""",
            {"ns": [n[1] for n in jobs_], "names": [n[2] for n in jobs_]},
        ):
            data[("job", row["job_namespace"], row["job_name_"])] = job_shape(row)
    if sets:
        for row in _rows(
            conn,
            """SELECT * FROM lineage_datasets WHERE (namespace_name, name) IN
                 (SELECT * FROM unnest(%(ns)s::text[], %(names)s::text[]))""",
            {"ns": [n[1] for n in sets], "names": [n[2] for n in sets]},
        ):
            data[("dataset", row["namespace_name"], row["name"])] = dataset_shape(row)
    return data


def _known(conn: psycopg.Connection, node: Node) -> bool:
    table = "lineage_jobs" if node[0] == "job" else "lineage_datasets"
    return (
        conn.execute(
            f"SELECT 1 FROM {table} WHERE namespace_name = %s AND name = %s", node[1:], prepare=True
        ).fetchone()
        is not None
    )


def require_node(conn: psycopg.Connection, node: Node) -> None:
    """Raise NotFound for a job or dataset the store does not hold."""
    if not _known(conn, node):
        raise NotFound(f"lineage node {render(node)} is unknown", hint="find a node: lineage search TEXT")


def lineage(
    conn: psycopg.Connection,
    node: str | Node,
    depth: int = DEFAULT_DEPTH,
    direction: Direction = "both",
    *,
    source: Source = "denormalized",
) -> dict[str, Any]:
    """Marquez's LineageGraph around `node`: `{"graph": [{"id", "type", "data", "inEdges", "outEdges"}]}`,
    nodes sorted by id, edges by (origin, destination)."""
    if depth < 0:
        raise PreconditionError(f"lineage depth {depth} is negative", hint="pass depth=0 or more")
    if direction not in ("up", "down", "both"):
        raise PreconditionError(f"lineage direction {direction!r} is unknown", hint="use up, down or both")
    start = node if isinstance(node, tuple) else parse_node(conn, node)
    require_node(conn, start)
    edges = graph_edges(conn, start, depth, direction, source)
    nodes = sorted({start} | {a for a, _ in edges} | {b for _, b in edges})
    data = _nodes_data(conn, nodes, source)
    ins: dict[Node, list[dict[str, str]]] = {n: [] for n in nodes}
    outs: dict[Node, list[dict[str, str]]] = {n: [] for n in nodes}
    for a, b in sorted(edges):
        edge = {"origin": render(a), "destination": render(b)}
        outs[a].append(edge)
        ins[b].append(edge)
    return {
        "graph": [
            {
                "id": render(n),
                "type": n[0].upper(),
                "data": data.get(n),
                "inEdges": ins[n],
                "outEdges": outs[n],
            }
            for n in nodes
        ]
    }


# --- column lineage -----------------------------------------------------------------------------------

# Field-level edges input field → output field within `depth` steps: upstream (the inputs of the start
# fields) always, downstream (the outputs fed by them) with `withDownstream`, as Marquez does. Each step
# is an index probe: the primary key for upstream, (input_dataset_uuid, input_field) for downstream.
_COLUMN_WALK = """
WITH RECURSIVE start(ds, field) AS (
    SELECT d.uuid, f.field FROM lineage_datasets d,
           LATERAL (SELECT output_field AS field FROM lineage_column_lineage
                     WHERE output_dataset_uuid = d.uuid
                    UNION SELECT input_field FROM lineage_column_lineage WHERE input_dataset_uuid = d.uuid) f
     WHERE d.namespace_name = %(ns)s AND d.name = %(name)s
       AND (%(field)s::text IS NULL OR f.field = %(field)s)
), up(ids, ifd, ods, ofd, depth) AS (
    SELECT c.input_dataset_uuid, c.input_field, c.output_dataset_uuid, c.output_field, 1
      FROM start s JOIN lineage_column_lineage c ON c.output_dataset_uuid = s.ds AND c.output_field = s.field
     WHERE %(depth)s > 0
  UNION
    SELECT c.input_dataset_uuid, c.input_field, c.output_dataset_uuid, c.output_field, u.depth + 1
      FROM up u JOIN lineage_column_lineage c ON c.output_dataset_uuid = u.ids AND c.output_field = u.ifd
     WHERE u.depth < %(depth)s
), down(ids, ifd, ods, ofd, depth) AS (
    SELECT c.input_dataset_uuid, c.input_field, c.output_dataset_uuid, c.output_field, 1
      FROM start s JOIN lineage_column_lineage c ON c.input_dataset_uuid = s.ds AND c.input_field = s.field
     WHERE %(depth)s > 0 AND %(down)s
  UNION
    SELECT c.input_dataset_uuid, c.input_field, c.output_dataset_uuid, c.output_field, w.depth + 1
      FROM down w JOIN lineage_column_lineage c ON c.input_dataset_uuid = w.ods AND c.input_field = w.ofd
     WHERE w.depth < %(depth)s
), found AS (SELECT ids, ifd, ods, ofd FROM up UNION SELECT ids, ifd, ods, ofd FROM down)
SELECT di.namespace_name, di.name, f.ifd, do_.namespace_name, do_.name, f.ofd, c.transformations
  FROM found f
  JOIN lineage_column_lineage c
    ON (c.output_dataset_uuid, c.output_field, c.input_dataset_uuid, c.input_field)
     = (f.ods, f.ofd, f.ids, f.ifd)
  JOIN lineage_datasets di ON di.uuid = f.ids
  JOIN lineage_datasets do_ ON do_.uuid = f.ods
"""

Field = tuple[str, str, str]  # (namespace, dataset, field)


def _field_id(f: Field) -> str:
    return f"datasetField:{f[0]}:{f[1]}:{f[2]}"


def column_lineage(
    conn: psycopg.Connection, node: str, depth: int = DEFAULT_DEPTH, with_downstream: bool = False
) -> dict[str, Any]:
    """Marquez's column-lineage graph: nodes `datasetField:NS:DATASET:FIELD` (type DATASET_FIELD) from the
    stored columnLineage facets; `node` is `dataset:NS:NAME` (its fields) or `datasetField:NS:NAME:FIELD`."""
    if depth < 0:
        raise PreconditionError(f"column-lineage depth {depth} is negative", hint="pass depth=0 or more")
    field: str | None = None
    if node.startswith("datasetField:"):
        dataset_id, _, field = node.removeprefix("datasetField:").rpartition(":")
        start = parse_node(conn, f"dataset:{dataset_id}")
    else:
        start = parse_node(conn, node)
        if start[0] != "dataset":
            raise PreconditionError(
                f"column-lineage node {node!r} is not a dataset",
                hint="pass dataset:NS:NAME or datasetField:NS:NAME:FIELD",
            )
    if not _known(conn, start):
        raise NotFound(f"column-lineage node {node} is unknown", hint="find a dataset: lineage search TEXT")
    rows = conn.execute(
        _COLUMN_WALK,
        {"ns": start[1], "name": start[2], "field": field, "depth": depth, "down": with_downstream},
        prepare=True,
    ).fetchall()
    if field is not None and not rows and depth > 0:
        known = conn.execute(
            "SELECT 1 FROM lineage_column_lineage c JOIN lineage_datasets d ON d.uuid IN "
            "(c.output_dataset_uuid, c.input_dataset_uuid) WHERE d.namespace_name = %s AND d.name = %s "
            "AND %s IN (c.output_field, c.input_field) LIMIT 1",
            (start[1], start[2], field),
        ).fetchone()
        if known is None:
            raise NotFound(
                f"column-lineage node {node} is unknown", hint="the dataset has no such field lineage"
            )
    edges: dict[tuple[Field, Field], Any] = {}
    for ins, ind, inf, ons, ond, onf, transformations in rows:
        edges[((ins, ind, inf), (ons, ond, onf))] = transformations or []
    nodes = sorted({a for a, _ in edges} | {b for _, b in edges})
    inputs: dict[Field, list[tuple[Field, Any]]] = {n: [] for n in nodes}
    for (a, b), t in sorted(edges.items()):
        inputs[b].append((a, t))

    def first(t: Any, key: str) -> Any:
        return t[0].get(key) if isinstance(t, list) and t and isinstance(t[0], dict) else None

    graph = []
    for n in nodes:
        feeding = inputs[n]
        t0 = feeding[0][1] if feeding else []
        graph.append(
            {
                "id": _field_id(n),
                "type": "DATASET_FIELD",
                "data": {
                    "namespace": n[0],
                    "dataset": n[1],
                    "field": n[2],
                    "fieldType": None,
                    "transformationDescription": first(t0, "description"),
                    "transformationType": first(t0, "type"),
                    "inputFields": [
                        {
                            "namespace": a[0],
                            "dataset": a[1],
                            "field": a[2],
                            "transformationDescription": first(t, "description"),
                            "transformationType": first(t, "type"),
                        }
                        for a, t in feeding
                    ],
                },
                "inEdges": [{"origin": _field_id(a), "destination": _field_id(n)} for a, _ in feeding],
                "outEdges": [
                    {"origin": _field_id(n), "destination": _field_id(b)}
                    for (a, b) in sorted(edges)
                    if a == n
                ],
            }
        )
    return {"graph": graph}
