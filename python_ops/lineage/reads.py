"""Own the lineage reads in Marquez's response shapes: namespaces, jobs with their latest run, datasets, run
history, one run, search, the dashboard, the lineage graph and the column-lineage graph.

Each read is ONE SQL statement per source that builds the response's JSON (`json_build_object`,
`json_agg`); where an answer is large, the statement returns its pieces as JSON texts and Python joins
them without parsing (a page of jobs or runs: `_listing`; the lineage graph: `_assemble`). The server
returns the text as the HTTP body (`*_json` functions), the CLI and the tests get it decoded (`jobs`,
`job_runs`, …). The shapes are written once, here, as SQL
expressions that both sources use: the Job and the Run as the dbt macros define them (shapes.py, also
rendered into lineage_jobs_latest's stored answers), the Dataset here (`_dataset_json`):

- `denormalized` (what `migrata lineage serve` and the CLI use): runs from `run_lineage_denormalized`
  (one row per run with its job and datasets, indexed per query pattern), each job's latest run and
  run count from `lineage_jobs_latest`, the dashboard from `lineage_dashboard_daily`, edges from
  `lineage_graph_edges` (all dbt models kept fresh by the same micro-batches); jobs, datasets and
  namespaces are looked up by key in their own small tables.
- `normalized`: the same answer through `lineage_runs` and its input/output tables, for the parity
  tests and the benchmark's baseline.

Shapes follow Marquez's API (spec/openapi.yml: Job, Run, Dataset, LineageGraph, SearchResultList):
camelCase fields, ISO-8601 UTC times (`…T…Z`, microseconds), run states in Marquez's names
(`MARQUEZ_STATE`). An unknown namespace, job, run or node raises `NotFound` (HTTP 404 with a JSON body,
CLI exit 2). Fields Marquez has and migrata does not store (versions, tags, owners) are null or empty.
"""

from __future__ import annotations

import contextlib
import uuid as _uuid
from collections.abc import Iterator
from typing import Any, Literal

import orjson
import psycopg

from python_ops.errors import PreconditionError
from python_ops.lineage import shapes
from python_ops.lineage.graph import (
    WALK,
    WALK_EDGES,
    WALK_NODES,
    Direction,
    Node,
    edges_query,
    parse_node,
    render,
)

Source = Literal["denormalized", "normalized"]
DEFAULT_DEPTH = 20  # Marquez's default depth of /api/v1/lineage
DEFAULT_LIMIT = 100  # Marquez's default page size of listings
SEARCH_LIMIT = 10  # Marquez's default of /api/v1/search

# OpenLineage event type of the run's latest state → Marquez's run state (the map of the dbt macro
# lineage_marquez_state; OTHER never moves a run on)
MARQUEZ_STATE = shapes.marquez_states()


class NotFound(PreconditionError):
    """A namespace, job, run or node the store does not hold (HTTP 404)."""


def _text(conn: psycopg.Connection, query: str, params: Any) -> str:
    """The one JSON document a read statement returns, as text."""
    row = conn.execute(query, params, prepare=True).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row[0]


@contextlib.contextmanager
def _one_snapshot(conn: psycopg.Connection) -> Iterator[None]:
    """A read of several statements sees one snapshot: on an autocommit connection, a READ ONLY
    REPEATABLE READ transaction; inside a caller's transaction (or an outer `_one_snapshot`), that one."""
    if not conn.autocommit or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        yield
        return
    level, read_only = conn.isolation_level, conn.read_only
    conn.isolation_level, conn.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
    try:
        with conn.transaction():
            yield
    finally:
        conn.isolation_level, conn.read_only = level, read_only


def _load(text: str) -> dict[str, Any]:
    return orjson.loads(text)


def _page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise PreconditionError(
            f"limit {limit} / offset {offset} is negative", hint="pass limit and offset of 0 or more"
        )


def _listing(
    conn: psycopg.Connection, key: str, total: str, page: str, order: str, params: dict[str, Any]
) -> str:
    """A page of a listing, `{key: [item, …], "totalCount": n}` as JSON text, in one statement: `total`
    counts every item, `page` returns the page's rows with each item's JSON text as `item`, sorted by
    `order` (the page's columns, as `p`); an empty page still gives the total (a row with a null item).
    The items' texts are joined here: half the time of aggregating them in SQL (json_agg or string_agg
    with its ORDER BY: 11 vs 26 ms for the 1,000 jobs of a namespace, 2.2 MB, 1M runs)."""
    statement = (
        f"SELECT ({total}), p.item FROM (SELECT 1) one LEFT JOIN LATERAL ({page}) p ON true ORDER BY {order}"
    )
    rows = conn.execute(statement, params, prepare=True).fetchall()  # type: ignore[arg-type]
    items = ",".join(item for _, item in rows if item is not None)
    return f'{{"{key}":[{items}],"totalCount":{rows[0][0]}}}'


# --- the shapes, as SQL expressions ----------------------------------------------------------------------


_ts = shapes.ts  # a timestamptz → ISO-8601 in UTC (`2026-01-02T03:04:05.000000Z`); null stays null
_state = shapes.state  # an OpenLineage state → Marquez's
_run_json = shapes.run_json  # Marquez's Run from a row with run_lineage_denormalized's column names


def _job_json(source: Source) -> str:
    """Marquez's Job of each lineage_jobs row `jb` joined with `_latest_run(source)`. Denormalized: the
    answer lineage_jobs_latest stores (built by the same macro), unless the job's row changed since it
    was stored (its `updated_at` moved: facets of an event that changed no run), then built here."""
    # normalized: the run built once (`lr`); denormalized: only in the rare out-of-date branch, inline
    run = (
        "lr.run"
        if source == "normalized"
        else f"(CASE WHEN l.run_uuid IS NOT NULL THEN {_run_json('l')} END)"
    )
    built = shapes.job_json(
        "jb",
        run,
        shapes.datasets_json("l.input_dataset_namespaces", "l.input_dataset_names"),
        shapes.datasets_json("l.output_dataset_namespaces", "l.output_dataset_names"),
    )
    if source == "normalized":
        return built
    return f"(CASE WHEN l.job_updated_at = jb.updated_at THEN l.job_json ELSE {built} END)"


def _latest_run(source: Source) -> str:
    """Joins `l`, the latest run of each job `jb` (columns named as run_lineage_denormalized's; none
    without runs); normalized, also `lr.run`, it as Marquez's Run, built once."""
    if source == "denormalized":
        return _LATEST[source]
    return (
        f"{_LATEST[source]} LEFT JOIN LATERAL "
        f"(SELECT {_run_json('l')} AS run WHERE l.run_uuid IS NOT NULL) lr ON true"
    )


def _dataset_json(d: str) -> str:
    """Marquez's Dataset from a lineage_datasets row `d` (fields from its schema facet)."""
    facets = f"coalesce({d}.facets, '{{}}'::jsonb)"
    fields = f"{facets} -> 'schema' -> 'fields'"
    return f"""json_build_object('id', json_build_object('namespace', {d}.namespace_name, 'name', {d}.name),
        'type', 'DB_TABLE', 'name', {d}.name, 'physicalName', {d}.name,
        'createdAt', {_ts(f"{d}.created_at")}, 'updatedAt', {_ts(f"{d}.updated_at")},
        'namespace', {d}.namespace_name,
        'sourceName', coalesce(nullif({facets} -> 'dataSource' ->> 'name', ''), {d}.namespace_name),
        'fields', CASE WHEN jsonb_typeof({fields}) = 'array' THEN coalesce((
                SELECT json_agg(json_build_object('name', f.v -> 'name', 'type', f.v -> 'type',
                    'tags', '[]'::json, 'description', f.v -> 'description') ORDER BY f.o)
                  FROM jsonb_array_elements({fields}) WITH ORDINALITY f(v, o)
                 WHERE jsonb_typeof(f.v) = 'object'), '[]'::json) ELSE '[]'::json END,
        'tags', '[]'::json, 'lastModifiedAt', NULL,
        'description', {facets} -> 'documentation' -> 'description', 'facets', {facets}, 'deleted', false)"""


# --- runs ---------------------------------------------------------------------------------------------

# The columns every run read returns, from each source (`r` the run row).
_RUN_COLS = {
    "denormalized": """r.run_uuid, r.job_uuid, r.namespace_name, r.job_name, r.state, r.created_at,
        r.updated_at, r.started_at, r.ended_at, r.nominal_start_time, r.nominal_end_time, r.duration_ms,
        r.facets, r.input_dataset_namespaces, r.input_dataset_names, r.output_dataset_namespaces,
        r.output_dataset_names""",
    "normalized": """r.uuid AS run_uuid, r.job_uuid, j.namespace_name, j.name AS job_name, r.state,
        r.first_event_time AS created_at, r.updated_at, r.started_at, r.ended_at, r.nominal_start_time,
        r.nominal_end_time, (extract(epoch from r.ended_at - r.started_at) * 1000)::bigint AS duration_ms,
        r.facets,
        coalesce((SELECT array_agg(d.namespace_name ORDER BY d.namespace_name, d.name)
                    FROM lineage_run_inputs x JOIN lineage_datasets d ON d.uuid = x.dataset_uuid
                   WHERE x.run_uuid = r.uuid), '{}') AS input_dataset_namespaces,
        coalesce((SELECT array_agg(d.name ORDER BY d.namespace_name, d.name)
                    FROM lineage_run_inputs x JOIN lineage_datasets d ON d.uuid = x.dataset_uuid
                   WHERE x.run_uuid = r.uuid), '{}') AS input_dataset_names,
        coalesce((SELECT array_agg(d.namespace_name ORDER BY d.namespace_name, d.name)
                    FROM lineage_run_outputs x JOIN lineage_datasets d ON d.uuid = x.dataset_uuid
                   WHERE x.run_uuid = r.uuid), '{}') AS output_dataset_namespaces,
        coalesce((SELECT array_agg(d.name ORDER BY d.namespace_name, d.name)
                    FROM lineage_run_outputs x JOIN lineage_datasets d ON d.uuid = x.dataset_uuid
                   WHERE x.run_uuid = r.uuid), '{}') AS output_dataset_names""",
}
_RUN_FROM = {
    "denormalized": "run_lineage_denormalized r",
    "normalized": "lineage_runs r JOIN lineage_jobs j ON j.uuid = r.job_uuid",
}
_RUN_CREATED = {"denormalized": "r.created_at", "normalized": "r.first_event_time"}
_RUN_ID = {"denormalized": "r.run_uuid", "normalized": "r.uuid"}
# a job's number of runs: the denormalized total is kept per job beside its latest run
_RUN_TOTAL = {
    "denormalized": "coalesce((SELECT t.run_count FROM lineage_jobs_latest t WHERE t.job_uuid = %(job)s), 0)",
    "normalized": "(SELECT count(*) FROM lineage_runs t WHERE t.job_uuid = %(job)s)",
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


def job_runs_json(
    conn: psycopg.Connection,
    namespace: str,
    job: str,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    *,
    source: Source = "denormalized",
) -> str:
    """Run history of a job, newest first: `{"runs": [Run], "totalCount": n}` as JSON text."""
    _page(limit, offset)
    job_uuid = _job_uuid(conn, namespace, job)
    return _listing(
        conn,
        "runs",
        _RUN_TOTAL[source],
        f"""SELECT p.created_at, p.run_uuid, ({_run_json("p")})::text AS item
              FROM (SELECT {_RUN_COLS[source]} FROM {_RUN_FROM[source]} WHERE r.job_uuid = %(job)s
                     ORDER BY {_RUN_CREATED[source]} DESC, {_RUN_ID[source]} DESC
                     LIMIT %(limit)s OFFSET %(offset)s) p""",
        "p.created_at DESC, p.run_uuid DESC",
        {"job": job_uuid, "limit": limit, "offset": offset},
    )


def job_runs(conn: psycopg.Connection, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run history of a job, newest first: `{"runs": [Run], "totalCount": n}` (`job_runs_json`'s args)."""
    return _load(job_runs_json(conn, *args, **kwargs))


def run_json(conn: psycopg.Connection, run_id: str, *, source: Source = "denormalized") -> str:
    """One run by its id (Marquez's `/jobs/runs/{id}`), as JSON text."""
    try:
        key = _uuid.UUID(run_id)
    except ValueError:
        raise NotFound(f"run {run_id!r} is not a run id (a UUID)", hint="pass a runId") from None
    row = conn.execute(
        f"SELECT {_run_json('p')}::text FROM (SELECT {_RUN_COLS[source]} FROM {_RUN_FROM[source]} "
        f"WHERE {_RUN_ID[source]} = %s) p",
        (key,),
        prepare=True,
    ).fetchone()
    if row is None:
        raise NotFound(f"run {run_id} is unknown", hint="list a job's runs: lineage runs NS JOB")
    return row[0]


def run(conn: psycopg.Connection, run_id: str, *, source: Source = "denormalized") -> dict[str, Any]:
    """One run by its id (Marquez's `/jobs/runs/{id}`)."""
    return _load(run_json(conn, run_id, source=source))


# --- jobs ---------------------------------------------------------------------------------------------

# The latest run of each job `jb`: denormalized, one probe of lineage_jobs_latest's key per job (LATERAL
# with OFFSET 0 keeps it a nested loop of index probes: joined plainly, Postgres hash-joins the whole
# table for a page of jobs); normalized, the newest of the job's runs (an index probe on lineage_runs
# per job, then its datasets).
_LATEST = {
    "denormalized": """LEFT JOIN LATERAL (SELECT r.* FROM lineage_jobs_latest r
        WHERE r.job_uuid = jb.uuid OFFSET 0) l ON true""",
    "normalized": f"""LEFT JOIN LATERAL (SELECT {_RUN_COLS["normalized"]} FROM {_RUN_FROM["normalized"]}
        WHERE r.job_uuid = jb.uuid ORDER BY r.first_event_time DESC, r.uuid DESC LIMIT 1) l ON true""",
}


def _namespace_exists(conn: psycopg.Connection, namespace: str) -> None:
    row = conn.execute("SELECT 1 FROM lineage_namespaces WHERE name = %s", (namespace,), prepare=True)
    if row.fetchone() is None:
        raise NotFound(f"namespace {namespace!r} is unknown", hint="list namespaces: lineage namespaces")


def jobs_json(
    conn: psycopg.Connection,
    namespace: str,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    *,
    source: Source = "denormalized",
) -> str:
    """The jobs of a namespace by name, each with its latest run: `{"jobs": [Job], "totalCount": n}`."""
    _page(limit, offset)
    _namespace_exists(conn, namespace)
    return _listing(
        conn,
        "jobs",
        "SELECT count(*) FROM lineage_jobs WHERE namespace_name = %(ns)s",
        f"""SELECT jb.name, ({_job_json(source)})::text AS item
              FROM (SELECT * FROM lineage_jobs WHERE namespace_name = %(ns)s
                     ORDER BY name LIMIT %(limit)s OFFSET %(offset)s) jb {_latest_run(source)}""",
        "p.name",
        {"ns": namespace, "limit": limit, "offset": offset},
    )


def jobs(conn: psycopg.Connection, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The jobs of a namespace by name, each with its latest run (`jobs_json`'s args)."""
    return _load(jobs_json(conn, *args, **kwargs))


# --- datasets and namespaces ---------------------------------------------------------------------------


def datasets_json(
    conn: psycopg.Connection, namespace: str, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> str:
    """The datasets of a namespace by name: `{"datasets": [Dataset], "totalCount": n}`."""
    _page(limit, offset)
    _namespace_exists(conn, namespace)
    return _text(
        conn,
        f"""SELECT json_build_object(
              'datasets', coalesce((SELECT json_agg({_dataset_json("d")} ORDER BY d.name)
                 FROM (SELECT * FROM lineage_datasets WHERE namespace_name = %(ns)s ORDER BY name
                        LIMIT %(limit)s OFFSET %(offset)s) d), '[]'::json),
              'totalCount', (SELECT count(*) FROM lineage_datasets WHERE namespace_name = %(ns)s))::text""",
        {"ns": namespace, "limit": limit, "offset": offset},
    )


def datasets(conn: psycopg.Connection, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The datasets of a namespace by name (`datasets_json`'s args)."""
    return _load(datasets_json(conn, *args, **kwargs))


def namespaces_json(conn: psycopg.Connection, limit: int = DEFAULT_LIMIT, offset: int = 0) -> str:
    """Every namespace by name: `{"namespaces": [Namespace], "totalCount": n}`."""
    _page(limit, offset)
    return _text(
        conn,
        f"""SELECT json_build_object(
              'namespaces', coalesce((SELECT json_agg(json_build_object('name', n.name,
                    'createdAt', {_ts("n.created_at")}, 'updatedAt', {_ts("n.updated_at")},
                    'ownerName', NULL, 'description', NULL, 'isHidden', false) ORDER BY n.name)
                 FROM (SELECT * FROM lineage_namespaces ORDER BY name LIMIT %(limit)s OFFSET %(offset)s) n),
                 '[]'::json),
              'totalCount', (SELECT count(*) FROM lineage_namespaces))::text""",
        {"limit": limit, "offset": offset},
    )


def namespaces(conn: psycopg.Connection, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Every namespace by name (`namespaces_json`'s args)."""
    return _load(namespaces_json(conn, *args, **kwargs))


# --- search -------------------------------------------------------------------------------------------

# `q` matched case-insensitively: `%` is a wildcard, every other character (`_` too) stands for itself.
# - a prefix `TEXT%` (one `%`, at the end): the names from lower(TEXT) up to its successor, a range of the
#   b-tree on lower(name) text_pattern_ops (revision lineage_0007; `~>=~`/`~<~` compare bytes, which is
#   code-point order in UTF-8, so the range is exactly the names starting with the text);
# - a text without `%`: a substring (`%TEXT%`), any other pattern as it is, with ILIKE: the trigram
#   indexes of revision lineage_0006.
_SEARCH_MATCH = {
    "prefix": "lower(name) ~>=~ lower(%(prefix)s) AND lower(name) ~<~ %(successor)s",
    "pattern": "name ILIKE %(pattern)s",
}
_SEARCH = """
SELECT json_build_object('totalCount', count(*), 'results', coalesce(json_agg(json_build_object(
         'type', s.type, 'name', s.name, 'updatedAt', {ts}, 'namespace', s.namespace_name,
         'nodeId', lower(s.type) || ':' || s.namespace_name || ':' || s.name) ORDER BY {order}),
       '[]'::json))::text
  FROM (SELECT * FROM (
    (SELECT lower(name) AS folded, 'JOB' AS type, name, updated_at, namespace_name FROM lineage_jobs
      WHERE {match} AND %(jobs)s AND (%(ns)s::text IS NULL OR namespace_name = %(ns)s)
      ORDER BY {order} LIMIT %(limit)s)
    UNION ALL
    (SELECT lower(name) AS folded, 'DATASET' AS type, name, updated_at, namespace_name FROM lineage_datasets
      WHERE {match} AND %(datasets)s AND (%(ns)s::text IS NULL OR namespace_name = %(ns)s)
      ORDER BY {order} LIMIT %(limit)s)) u
  ORDER BY {order} LIMIT %(limit)s) s"""


def _search_match(conn: psycopg.Connection, q: str) -> tuple[str, dict[str, Any]]:
    """How `q` is matched (`_SEARCH_MATCH`'s key) and its parameters."""
    literal = q.replace("\\", "\\\\").replace("_", "\\_")  # LIKE's escape character is `\`
    if q.count("%") == 1 and q.endswith("%") and len(q) > 1:
        row = conn.execute("SELECT lower(%s)", (q[:-1],), prepare=True).fetchone()
        lowered = row[0] if row else ""
        last = ord(lowered[-1]) + 1 if lowered else 0
        if 0 < last <= 0x10FFFF:  # the first text after every name that starts with the prefix
            successor = lowered[:-1] + chr(0xE000 if 0xD800 <= last < 0xE000 else last)
            return "prefix", {"prefix": q[:-1], "successor": successor}
    return "pattern", {"pattern": literal if "%" in q else f"%{literal}%"}


# `name`: case-insensitive (the lowered name in code-point order, `~<~`, then the name itself), the order of
# the prefix b-tree: each table's prefix search reads only its first `limit` entries instead of sorting
# every match (an ORDER BY over the UNION ALL was planned as a sort of every match)
_SEARCH_ORDER = {
    "name": "folded USING ~<~, name, type, namespace_name",
    "updated_at": "updated_at DESC, folded USING ~<~, name, type, namespace_name",
}


def search_statement(
    conn: psycopg.Connection,
    q: str,
    filter: str | None = None,
    sort: str = "name",
    limit: int = SEARCH_LIMIT,
    namespace: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The statement `search_json` runs for these arguments, and its parameters (checked here): `q`, and
    optionally `filter` (job or dataset), `sort` (name or updated_at), `limit`, `namespace`."""
    if not q.strip():
        raise PreconditionError("search text q is empty", hint="pass q=TEXT (a name or a pattern with %)")
    kind = (filter or "").upper() or None
    if kind not in (None, "JOB", "DATASET"):
        raise PreconditionError(
            f"search filter {filter!r} is unknown", hint="use filter=job or filter=dataset"
        )
    if sort.lower() not in _SEARCH_ORDER:
        raise PreconditionError(f"search sort {sort!r} is unknown", hint="use sort=name or sort=updated_at")
    _page(limit, 0)
    how, match = _search_match(conn, q)
    statement = _SEARCH.format(
        order=_SEARCH_ORDER[sort.lower()], ts=_ts("s.updated_at"), match=_SEARCH_MATCH[how]
    )
    return statement, {**match, "jobs": kind in (None, "JOB"), "datasets": kind in (None, "DATASET"),
                       "ns": namespace, "limit": limit}  # fmt: skip


def search_json(conn: psycopg.Connection, *args: Any, **kwargs: Any) -> str:
    """Jobs and datasets whose name matches `q` (case-insensitive; `%` a wildcard, `_` itself; without `%`
    a substring; `TEXT%` a prefix), the first `limit` by name (case-insensitive) or newest first:
    `{"totalCount": n, "results": [{"type", "name", "updatedAt", "namespace", "nodeId"}]}`
    (`search_statement`'s args)."""
    return _text(conn, *search_statement(conn, *args, **kwargs))


def search(conn: psycopg.Connection, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Jobs and datasets whose name matches `q` (`search_json`'s args)."""
    return _load(search_json(conn, *args, **kwargs))


# --- dashboard ----------------------------------------------------------------------------------------

# Runs per day and Marquez state over the last `days` days. Denormalized: the per-day answers that
# lineage_dashboard_daily stores, one row per day by its unique index, their texts joined (each entry
# written by the macro lineage_dashboard_entry, as the normalized answer's). Normalized: every run of
# those days, counted.
_DASHBOARD = {
    "denormalized": """SELECT '{"days":' || %(days)s::int || ',"runs":['
              || coalesce(string_agg(entries_json, ',' ORDER BY run_date) FILTER (WHERE runs > 0), '')
              || '],"totalCount":' || coalesce(sum(runs), 0) || '}'
              FROM lineage_dashboard_daily WHERE run_date >= current_date - %(days)s""",
    "normalized": f"""SELECT json_build_object('days', %(days)s::int,
              'runs', coalesce(json_agg({shapes.dashboard_entry("c.day", "c.state", "c.runs")}
                               ORDER BY c.day, c.state COLLATE "C"), '[]'::json),
              'totalCount', coalesce(sum(c.runs), 0))::text
              FROM (SELECT (first_event_time AT TIME ZONE 'UTC')::date AS day, {_state("state")} AS state,
                           count(*)::bigint AS runs
                      FROM lineage_runs
                     WHERE first_event_time >= (current_date - %(days)s)::timestamp AT TIME ZONE 'UTC'
                     GROUP BY 1, 2) c""",
}


def dashboard_json(conn: psycopg.Connection, days: int = 7, *, source: Source = "denormalized") -> str:
    """Runs per day and Marquez state over the last `days` days: `{"days", "runs", "totalCount"}`."""
    if days < 0:
        raise PreconditionError(f"dashboard days {days} is negative", hint="pass days=0 or more")
    return _text(conn, _DASHBOARD[source], {"days": days})


def dashboard(conn: psycopg.Connection, days: int = 7, *, source: Source = "denormalized") -> dict[str, Any]:
    """Runs per day and Marquez state over the last `days` days: `{"days": n, "runs": [...]}`."""
    return _load(dashboard_json(conn, days, source=source))


# --- the lineage graph ----------------------------------------------------------------------------------


def _known(conn: psycopg.Connection, node: Node) -> Any:
    """The node's id (migrata_lineage_id, the key of its table), None when the store does not hold it."""
    table = "lineage_jobs" if node[0] == "job" else "lineage_datasets"
    row = conn.execute(
        f"SELECT uuid FROM {table} WHERE namespace_name = %s AND name = %s", node[1:], prepare=True
    ).fetchone()
    return None if row is None else row[0]


def require_node(conn: psycopg.Connection, node: Node) -> Any:
    """The id of a job or dataset; NotFound when the store does not hold it."""
    found = _known(conn, node)
    if found is None:
        raise NotFound(f"lineage node {render(node)} is unknown", hint="find a node: lineage search TEXT")
    return found


def _id(k: str, ns: str, n: str) -> str:
    """A node id in SQL: `job:NS:NAME` / `dataset:NS:NAME` (graph.render)."""
    return f"({k} || ':' || {ns} || ':' || {n})"


def _order(k: str, ns: str, n: str) -> str:
    """Nodes in Python's tuple order (code points: the C collation)."""
    return f'{k} COLLATE "C", {ns} COLLATE "C", {n} COLLATE "C"'


def _graph_statement(source: Source) -> str:
    """The whole LineageGraph in one statement: the walk (graph.edges_query); each node reached as a group
    of its in- and out-edges (one hash aggregate: no join of node lists, which Postgres, misjudging the
    sizes of CTEs, would plan as nested loops); its data by key (a Job with its latest run, a Dataset)."""
    edge = f"json_build_object('origin', {_id('sk', 'sns', 'sn')}, 'destination', {_id('tk', 'tns', 'tn')})"
    job_data = f"""(SELECT {_job_json(source)} FROM lineage_jobs jb {_latest_run(source)}
                     WHERE jb.namespace_name = x.ns AND jb.name = x.n)"""
    dataset_data = f"""(SELECT {_dataset_json("d")} FROM lineage_datasets d
                         WHERE d.namespace_name = x.ns AND d.name = x.n)"""
    return f"""
WITH walked(sk, sns, sn, tk, tns, tn) AS MATERIALIZED ({edges_query(source)}),
e AS MATERIALIZED (SELECT DISTINCT * FROM walked),
-- per node: the start (no edge), each edge into it ('in', ordered by its origin), out of it ('out', by
-- its destination)
pieces(k, ns, n, side, ok, ons, o_n, edge) AS (
    SELECT %(kind)s::text, %(namespace)s::text, %(name)s::text, NULL, NULL, NULL, NULL, NULL::json
    UNION ALL SELECT tk, tns, tn, 'in', sk, sns, sn, {edge} FROM e
    UNION ALL SELECT sk, sns, sn, 'out', tk, tns, tn, {edge} FROM e
),
x AS (
    SELECT k, ns, n,
           json_agg(edge ORDER BY {_order("ok", "ons", "o_n")}) FILTER (WHERE side = 'in') AS ins,
           json_agg(edge ORDER BY {_order("ok", "ons", "o_n")}) FILTER (WHERE side = 'out') AS outs
      FROM pieces GROUP BY k, ns, n
)
SELECT json_build_object('graph', json_agg(json_build_object(
           'id', {_id("x.k", "x.ns", "x.n")}, 'type', upper(x.k),
           'data', CASE WHEN x.k = 'job' THEN {job_data} ELSE {dataset_data} END,
           'inEdges', coalesce(x.ins, '[]'::json), 'outEdges', coalesce(x.outs, '[]'::json))
       ORDER BY {_order("x.k", "x.ns", "x.n")}))::text
  FROM x
"""


# The denormalized LineageGraph's rows in one statement: the breadth-first walk (graph.WALK), then each
# node it reached by its key with its `data` as JSON text (a Job as lineage_jobs_latest stores it, or
# built if out of date; a Dataset), then the walk's edges (rows with a null kind). No aggregate, no
# sort in SQL: `_assemble` joins the texts in the answer's order.
_GRAPH_WALKED = f"""
WITH RECURSIVE {WALK}, {WALK_NODES}
SELECT jb.uuid::text, 'job', jb.namespace_name, jb.name, ({_job_json("denormalized")})::text
  FROM lineage_jobs jb {_latest_run("denormalized")}
 WHERE jb.uuid = any(ARRAY(SELECT w.id FROM walk_nodes w WHERE w.is_job))
UNION ALL
SELECT d.uuid::text, 'dataset', d.namespace_name, d.name, ({_dataset_json("d")})::text
  FROM lineage_datasets d WHERE d.uuid = any(ARRAY(SELECT w.id FROM walk_nodes w WHERE NOT w.is_job))
UNION ALL
SELECT e.s::text, NULL, NULL, NULL, e.t::text FROM ({WALK_EDGES}) e
"""


def _assemble(rows: list[tuple[Any, str | None, str, str, str]]) -> str:
    """The LineageGraph's text from `_GRAPH_WALKED`'s rows, its nodes and its edges (id pairs): nodes in
    (kind, namespace, name) order, code points (the normalized statement's COLLATE "C"), in-edges by
    their origin, out-edges by their destination; strings escaped by orjson. Joining ~1,500 texts here
    takes a few ms, where an aggregate and a sort of the wide rows in SQL took ~25 ms (depth 20, 1M runs).
    An edge to a node its table does not hold is left out, as the normalized walk's joins leave it."""
    nodes = [row for row in rows if row[1] is not None]
    edges = {(s, t) for s, k, _, _, t in rows if k is None}
    key = {u: (k, ns, n) for u, k, ns, n, _ in nodes}
    ids = {u: orjson.dumps(render(k)).decode() for u, k in key.items()}
    ins: dict[Any, list[tuple[Node, str]]] = {u: [] for u in key}
    outs: dict[Any, list[tuple[Node, str]]] = {u: [] for u in key}
    for s, t in edges:
        if s in key and t in key:
            edge = f'{{"origin":{ids[s]},"destination":{ids[t]}}}'
            ins[t].append((key[s], edge))
            outs[s].append((key[t], edge))
    parts = []
    for u, k, _, _, data in sorted(nodes, key=lambda row: key[row[0]]):
        in_edges = ",".join(e for _, e in sorted(ins[u]))
        out_edges = ",".join(e for _, e in sorted(outs[u]))
        parts.append(
            f'{{"id":{ids[u]},"type":"{k.upper()}","data":{data or "null"},'
            f'"inEdges":[{in_edges}],"outEdges":[{out_edges}]}}'
        )
    return '{"graph":[' + ",".join(parts) + "]}"


_GRAPH_NORMALIZED = _graph_statement("normalized")


def lineage_json(
    conn: psycopg.Connection,
    node: str | Node,
    depth: int = DEFAULT_DEPTH,
    direction: Direction = "both",
    *,
    source: Source = "denormalized",
) -> str:
    """Marquez's LineageGraph around `node`: `{"graph": [{"id", "type", "data", "inEdges", "outEdges"}]}`,
    nodes sorted by id, edges by (origin, destination), as JSON text."""
    if depth < 0:
        raise PreconditionError(f"lineage depth {depth} is negative", hint="pass depth=0 or more")
    if direction not in ("up", "down", "both"):
        raise PreconditionError(f"lineage direction {direction!r} is unknown", hint="use up, down or both")
    start = node if isinstance(node, tuple) else parse_node(conn, node)
    down, up = direction in ("down", "both"), direction in ("up", "both")
    params = {
        "kind": start[0],
        "namespace": start[1],
        "name": start[2],
        "depth": depth,
        "down": down,
        "up": up,
    }
    try:
        with _one_snapshot(conn):
            start_id = require_node(conn, start)
            if source == "normalized":
                return _text(conn, _GRAPH_NORMALIZED, params)
            walked = conn.execute(_GRAPH_WALKED, params | {"start": start_id}, prepare=True).fetchall()
            return _assemble(walked)
    except psycopg.errors.UndefinedTable as exc:
        raise PreconditionError(
            f"lineage graph table is missing: {exc.diag.message_primary}",
            hint="build the lineage models first: `migrata lineage refresh` (or `make demo`)",
        ) from None


def lineage(conn: psycopg.Connection, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Marquez's LineageGraph around a node (`lineage_json`'s args)."""
    return _load(lineage_json(conn, *args, **kwargs))


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
    if _known(conn, start) is None:
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


def column_lineage_json(conn: psycopg.Connection, *args: Any, **kwargs: Any) -> str:
    """`column_lineage` as JSON text (the HTTP body)."""
    return orjson.dumps(column_lineage(conn, *args, **kwargs)).decode()
