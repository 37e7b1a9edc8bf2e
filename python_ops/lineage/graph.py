"""Own lineage-graph queries: from a job or dataset node, the jobs and datasets up/downstream to a depth.

A node is a (kind, namespace, name); its id in the store is `migrata_lineage_id`, and
`job:NAMESPACE:NAME` / `dataset:NAMESPACE:NAME` is only how it is written at the edges (CLI, HTTP),
parsed back against the stored pairs (`parse_node`). Edges go dataset → job (a run of the job
read it) and job → dataset (a run wrote it). `depth` counts edges from the start node; `both` is the
union of the upstream and the downstream graphs. Each answer is one recursive query, on either source:

- denormalized: `lineage_graph_edges` (the dbt model of distinct edges), a few index probes per level;
- normalized: the same walk through runs, run inputs/outputs, jobs and datasets, where every step
  visits every run of a job or every run that touched a dataset.

Both return the same edges, so the answers can be compared exactly (tests, benchmarks/lineage).
Marquez's LineageGraph (reads.lineage_json) walks `lineage_graph_edges` breadth first instead (`WALK`:
a row per level, each node expanded once, all in one statement), which at depth 20 visits each edge once
where the recursive query visits it once per depth it is reached at; `migrata lineage graph` keeps the
recursive query (one prepared statement).
"""

from __future__ import annotations

from typing import Any, Literal

import psycopg

from python_ops.errors import PreconditionError

Direction = Literal["up", "down", "both"]
Source = Literal["denormalized", "normalized"]


# Edges reachable within %(depth)s steps downstream (following source → target) and upstream; UNION
# keeps each (edge, depth) once, so a diamond-shaped graph does not multiply the work level by level.
# Each step probes the index once per node reached (OFFSET 0 keeps the subquery apart: on an edge table
# of a few thousand rows the planner would hash-join the whole table at every level, 2x slower). The
# start node is a sub-select so that no plan is made for one node's statistics: the plan is the same
# for every node, and Postgres' plan cache, finding the per-node plans no cheaper, keeps the generic
# one instead of planning each call. The two walks are concatenated: the caller keeps the edges as a set.
def _walk(name: str, near: str, far: str) -> str:
    """The recursive CTE `name` (`down`/`up`, also its on/off parameter) following edges from their
    `near` end to their `far` end."""
    return f"""{name}(source_uuid, target_uuid, depth) AS (
    SELECT e.source_uuid, e.target_uuid, 1 FROM lineage_graph_edges e
     WHERE e.{near} = (SELECT migrata_lineage_id(%(kind)s, %(namespace)s, %(name)s)) AND %(depth)s > 0
       AND %({name})s
  UNION
    SELECT e.source_uuid, e.target_uuid, w.depth + 1
      FROM {name} w, LATERAL (
           SELECT e.source_uuid, e.target_uuid FROM lineage_graph_edges e
            WHERE e.{near} = w.{far} OFFSET 0) e
     WHERE w.depth < %(depth)s
)"""


_DENORMALIZED = f"""
WITH RECURSIVE {_walk("down", "source_uuid", "target_uuid")},
{_walk("up", "target_uuid", "source_uuid")},
found AS (SELECT source_uuid, target_uuid FROM down UNION SELECT source_uuid, target_uuid FROM up)
SELECT e.source_kind, e.source_namespace, e.source_name, e.target_kind, e.target_namespace, e.target_name
  FROM found f JOIN lineage_graph_edges e USING (source_uuid, target_uuid)
"""


# One step of the normalized walk from node ({kind}, {id}): its edges as (source kind, source uuid,
# target kind, target uuid), distinct (a job's ~100 runs give the same edges ~100 times). An input
# row is a dataset → job edge, an output row a job → dataset edge; `by` is the side the node is on.
# A job's static inputs/outputs (lineage_job_io) are edges too.
def _edges_via(side: str, by: str) -> str:
    pair = (
        "'dataset'::text, x.dataset_uuid, 'job'::text, r.job_uuid"
        if side == "inputs"
        else "'job'::text, r.job_uuid, 'dataset'::text, x.dataset_uuid"
    )
    static = (
        "'dataset'::text, s.dataset_uuid, 'job'::text, s.job_uuid"
        if side == "inputs"
        else "'job'::text, s.job_uuid, 'dataset'::text, s.dataset_uuid"
    )
    match = "x.dataset_uuid" if by == "dataset" else "r.job_uuid"
    smatch = "s.dataset_uuid" if by == "dataset" else "s.job_uuid"
    return (
        f"SELECT {pair} FROM lineage_run_{side} x JOIN lineage_runs r ON r.uuid = x.run_uuid "
        f"WHERE {{kind}} = '{by}' AND {match} = {{id}} "
        f"UNION ALL SELECT {static} FROM lineage_job_io s "
        f"WHERE {{kind}} = '{by}' AND s.direction = '{side[:-1]}' AND {smatch} = {{id}}"
    )


def _step(dataset_side: str, job_side: str) -> str:
    both = f"{_edges_via(dataset_side, 'dataset')} UNION ALL {_edges_via(job_side, 'job')}"
    return f"SELECT DISTINCT * FROM ({both}) s"


_STEP = {"down": _step("inputs", "outputs"), "up": _step("outputs", "inputs")}
# UNION ALL between levels with DISTINCT inside each step: with UNION, Postgres sizes the recursive
# hash table from its (huge) estimate of run-level rows, which alone costs ~50 ms per query.
_NORMALIZED = f"""
WITH RECURSIVE start(kind, id) AS (
    SELECT %(kind)s::text, migrata_lineage_id(%(kind)s, %(namespace)s, %(name)s)
), down(sk, s, tk, t, depth) AS (
    SELECT e.*, 1 FROM start, LATERAL ({_STEP["down"].format(kind="start.kind", id="start.id")}) e
     WHERE %(depth)s > 0 AND %(down)s
  UNION ALL
    SELECT e.*, w.depth + 1 FROM down w, LATERAL ({_STEP["down"].format(kind="w.tk", id="w.t")}) e
     WHERE w.depth < %(depth)s
), up(sk, s, tk, t, depth) AS (
    SELECT e.*, 1 FROM start, LATERAL ({_STEP["up"].format(kind="start.kind", id="start.id")}) e
     WHERE %(depth)s > 0 AND %(up)s
  UNION ALL
    SELECT e.*, w.depth + 1 FROM up w, LATERAL ({_STEP["up"].format(kind="w.sk", id="w.s")}) e
     WHERE w.depth < %(depth)s
), edges AS (
    SELECT sk, s, tk, t FROM down UNION SELECT sk, s, tk, t FROM up
)
SELECT e.sk, coalesce(sj.namespace_name, sd.namespace_name), coalesce(sj.name, sd.name),
       e.tk, coalesce(tj.namespace_name, td.namespace_name), coalesce(tj.name, td.name)
  FROM edges e
  LEFT JOIN lineage_jobs sj ON e.sk = 'job' AND sj.uuid = e.s
  LEFT JOIN lineage_datasets sd ON e.sk = 'dataset' AND sd.uuid = e.s
  LEFT JOIN lineage_jobs tj ON e.tk = 'job' AND tj.uuid = e.t
  LEFT JOIN lineage_datasets td ON e.tk = 'dataset' AND td.uuid = e.t
"""

Node = tuple[str, str, str]  # (kind, namespace, name)


# The breadth-first walk of `lineage_graph_edges` as one recursive CTE, `walk`: a row per level `n` (1 to
# depth) with that level's frontiers (the nodes first reached at distance n - 1, downstream `down` and
# upstream `up`; the start in each direction asked for), the nodes seen so far in each direction, and the
# edges out of the down frontier (`ds` → `dt`) and into the up frontier (`us` → `ut`), each frontier one
# index-only scan (`= any`). The next frontier is the far ends not seen yet (EXCEPT: each node is expanded
# once, at its shortest distance), so the walk visits each edge once where the recursive walk of
# `edges_query` visits it once per depth it is reached at (~8K rows for ~2K edges at depth 20). In one
# statement it costs ~5 ms at depth 20 (1M runs) where a round trip per level cost ~10-13 ms.
# Parameters: start (the node's id), kind, depth, down, up. OFFSET 0 keeps the frontier a subquery
# evaluated once per level (pulled up, its two arrays were computed twice).
def _edges_of(frontier: str, near: str) -> str:
    return (
        "(SELECT coalesce(array_agg(e.source_uuid), '{}'), coalesce(array_agg(e.target_uuid), '{}') "
        f"FROM lineage_graph_edges e WHERE e.{near} = any({frontier}))"
    )


WALK = f"""walk(n, down, up, seen_down, seen_up, ds, dt, us, ut) AS (
    SELECT 1, f.down, f.up, ARRAY[%(start)s::uuid], ARRAY[%(start)s::uuid], d.s, d.t, u.s, u.t
      FROM (SELECT CASE WHEN %(down)s THEN ARRAY[%(start)s::uuid] ELSE '{{}}' END,
                   CASE WHEN %(up)s THEN ARRAY[%(start)s::uuid] ELSE '{{}}' END) f(down, up),
           LATERAL {_edges_of("f.down", "source_uuid")} d(s, t),
           LATERAL {_edges_of("f.up", "target_uuid")} u(s, t)
     WHERE %(depth)s > 0
  UNION ALL
    SELECT w.n + 1, f.down, f.up, w.seen_down || f.down, w.seen_up || f.up, d.s, d.t, u.s, u.t
      FROM walk w,
           LATERAL (SELECT ARRAY(SELECT unnest(w.dt) EXCEPT SELECT unnest(w.seen_down)),
                           ARRAY(SELECT unnest(w.us) EXCEPT SELECT unnest(w.seen_up)) OFFSET 0) f(down, up),
           LATERAL {_edges_of("f.down", "source_uuid")} d(s, t),
           LATERAL {_edges_of("f.up", "target_uuid")} u(s, t)
     WHERE w.n < %(depth)s AND (f.down <> '{{}}' OR f.up <> '{{}}')
)"""

# The walk's edges (source id, target id), an edge reached both ways once per way.
WALK_EDGES = """SELECT x.s, x.t FROM walk w, unnest(w.ds, w.dt) x(s, t)
UNION ALL SELECT x.s, x.t FROM walk w, unnest(w.us, w.ut) x(s, t)"""

# Every node the walk reached, once, and whether it is a job. The graph is bipartite (an edge joins a
# dataset and a job), so a node's kind is the start's when its distance is even: the far end of an
# edge of level n is at distance n (or reached before at a distance of the same parity).
WALK_NODES = """walk_nodes(id, is_job) AS (
    SELECT %(start)s::uuid, %(kind)s = 'job'
    UNION SELECT x.t, (mod(w.n, 2) = 0) = (%(kind)s = 'job') FROM walk w, unnest(w.dt) x(t)
    UNION SELECT x.s, (mod(w.n, 2) = 0) = (%(kind)s = 'job') FROM walk w, unnest(w.us) x(s)
)"""


def render(node: Node) -> str:
    """Marquez-style node id: `dataset:NS:NAME` / `job:NS:NAME` (for output only: it is ambiguous)."""
    return f"{node[0]}:{node[1]}:{node[2]}"


def parse_node(conn: psycopg.Connection, node: str) -> Node:
    """`job:NS:NAME` / `dataset:NS:NAME` → (kind, namespace, name), resolved against the stored pairs.

    A namespace or a name may hold colons (`postgres://host:5432`), so every split is tried; one
    stored match wins, several are refused naming each (pass --namespace/--name), none takes the
    first split (an unknown node: an empty graph).
    """
    kind, _, rest = node.partition(":")
    if kind not in ("job", "dataset") or ":" not in rest:
        raise PreconditionError(
            f"lineage node {node!r} is not job:NAMESPACE:NAME or dataset:NAMESPACE:NAME",
            hint="for example dataset:food_delivery:public.orders or job:food_delivery:etl_orders",
        )
    splits = [(rest[:i], rest[i + 1 :]) for i, c in enumerate(rest) if c == ":" and 0 < i < len(rest) - 1]
    table = "lineage_jobs" if kind == "job" else "lineage_datasets"
    found = conn.execute(
        f"SELECT namespace_name, name FROM {table} WHERE (namespace_name, name) IN "
        "(SELECT * FROM unnest(%s::text[], %s::text[])) ORDER BY 1, 2",
        ([a for a, _ in splits], [b for _, b in splits]),
    ).fetchall()
    if len(found) > 1:
        listed = "; ".join(f"namespace {ns!r} name {name!r}" for ns, name in found)
        raise PreconditionError(
            f"lineage node {node!r} names {len(found)} {kind}s: {listed}",
            hint="pass the pair apart: --namespace NS --name NAME (HTTP: namespace= and name=)",
        )
    ns, name = found[0] if found else (splits[0] if splits else (rest, ""))
    return kind, ns, name


def edges_query(source: Source) -> str:
    """The walk's statement: (source kind, namespace, name, target kind, namespace, name) rows; parameters
    kind, namespace, name (the start node), depth, down, up."""
    return _DENORMALIZED if source == "denormalized" else _NORMALIZED


def graph_edges(
    conn: psycopg.Connection, node: Node, depth: int, direction: Direction, source: Source
) -> set[tuple[Node, Node]]:
    """The (source node, target node) edges within `depth` steps of `node`: one prepared query."""
    params = {
        "kind": node[0],
        "namespace": node[1],
        "name": node[2],
        "depth": depth,
        "down": direction in ("down", "both"),
        "up": direction in ("up", "both"),
    }
    try:
        rows = conn.execute(edges_query(source), params, prepare=True).fetchall()
    except psycopg.errors.UndefinedTable as exc:
        raise PreconditionError(
            f"lineage graph table is missing: {exc.diag.message_primary}",
            hint="build the lineage models first: `migrata lineage refresh` (or `make demo`)",
        ) from None
    return {((a, b, c), (d, e, f)) for a, b, c, d, e, f in rows}


def lineage_graph(
    conn: psycopg.Connection,
    node: str | Node,
    depth: int = 3,
    direction: Direction = "both",
    *,
    source: Source = "denormalized",
) -> dict[str, Any]:
    """The lineage graph around `node` as JSON-able dict: sorted nodes and edges."""
    if depth < 0:
        raise PreconditionError(f"lineage depth {depth} is negative", hint="pass --depth 0 or more")
    if direction not in ("up", "down", "both"):
        raise PreconditionError(f"lineage direction {direction!r} is unknown", hint="use up, down or both")
    start = node if isinstance(node, tuple) else parse_node(conn, node)
    edges = graph_edges(conn, start, depth, direction, source)
    # every node reached is the start or an end of an edge taken
    nodes = {start} | {a for a, _ in edges} | {b for _, b in edges}
    return {
        "node": render(start),
        "depth": depth,
        "direction": direction,
        "nodes": [{"id": render(n), "type": n[0], "namespace": n[1], "name": n[2]} for n in sorted(nodes)],
        "edges": [{"source": render(a), "target": render(b)} for a, b in sorted(edges)],
    }
