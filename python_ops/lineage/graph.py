"""Own lineage-graph queries: from a job or dataset node, the jobs and datasets up/downstream to a depth.

Nodes are `job:NAMESPACE:NAME` and `dataset:NAMESPACE:NAME`; edges go dataset → job (a run of the job
read it) and job → dataset (a run wrote it). `depth` counts edges from the start node; `both` is the
union of the upstream and the downstream graphs. The same breadth-first walk runs on either source —
the denormalized tables (one indexed lookup per level, no joins) or the normalized tables (joins) — so
both answers can be compared exactly.
"""

from __future__ import annotations

from typing import Any, Literal

import psycopg

from python_ops.errors import PreconditionError

Direction = Literal["up", "down", "both"]
Source = Literal["denormalized", "normalized"]

# Each query takes a text[] of keys and returns (from_key, to_key) pairs along the edge direction.
_DENORMALIZED = {
    # datasets → jobs reading them
    ("down", "dataset"): """SELECT DISTINCT d, job_key FROM run_lineage_denormalized, unnest(input_datasets) d
                             WHERE input_datasets && %(keys)s::text[] AND d = ANY(%(keys)s)""",
    # jobs → datasets they write
    ("down", "job"): """SELECT DISTINCT job_key, d FROM run_lineage_denormalized, unnest(output_datasets) d
                         WHERE job_key = ANY(%(keys)s)""",
    # datasets ← jobs writing them
    ("up", "dataset"): """SELECT DISTINCT job_key, d FROM run_lineage_denormalized, unnest(output_datasets) d
                           WHERE output_datasets && %(keys)s::text[] AND d = ANY(%(keys)s)""",
    # jobs ← datasets they read
    ("up", "job"): """SELECT DISTINCT d, job_key FROM run_lineage_denormalized, unnest(input_datasets) d
                       WHERE job_key = ANY(%(keys)s)""",
}

_JOIN = """FROM lineage_datasets d
           JOIN lineage_run_{side} x ON x.dataset_uuid = d.uuid
           JOIN lineage_runs r ON r.uuid = x.run_uuid
           JOIN lineage_jobs j ON j.uuid = r.job_uuid"""
_DS = "d.namespace_name || ':' || d.name"
_JOB = "j.namespace_name || ':' || j.name"
_NORMALIZED = {
    (
        "down",
        "dataset",
    ): f"SELECT DISTINCT {_DS}, {_JOB} {_JOIN.format(side='inputs')} WHERE {_DS} = ANY(%(keys)s)",
    (
        "down",
        "job",
    ): f"SELECT DISTINCT {_JOB}, {_DS} {_JOIN.format(side='outputs')} WHERE {_JOB} = ANY(%(keys)s)",
    (
        "up",
        "dataset",
    ): f"SELECT DISTINCT {_JOB}, {_DS} {_JOIN.format(side='outputs')} WHERE {_DS} = ANY(%(keys)s)",
    (
        "up",
        "job",
    ): f"SELECT DISTINCT {_DS}, {_JOB} {_JOIN.format(side='inputs')} WHERE {_JOB} = ANY(%(keys)s)",
}


def parse_node(node: str) -> tuple[str, str]:
    """`job:NS:NAME` / `dataset:NS:NAME` → (type, `NS:NAME` key)."""
    kind, _, key = node.partition(":")
    if kind not in ("job", "dataset") or ":" not in key:
        raise PreconditionError(
            f"lineage node {node!r} is not job:NAMESPACE:NAME or dataset:NAMESPACE:NAME",
            hint="for example dataset:food_delivery:public.orders or job:food_delivery:etl_orders",
        )
    return kind, key


def _walk(
    conn: psycopg.Connection,
    queries: dict[tuple[str, str], str],
    start: tuple[str, str],
    depth: int,
    direction: str,
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """Breadth-first walk in one direction; nodes are (type, key), edges (from node id, to node id)."""
    nodes = {start}
    edges: set[tuple[str, str]] = set()
    frontier = {start}
    for _ in range(depth):
        found: set[tuple[str, str]] = set()
        for kind in ("dataset", "job"):
            keys = sorted(k for t, k in frontier if t == kind)
            if not keys:
                continue
            other = "job" if kind == "dataset" else "dataset"
            for a, b in conn.execute(queries[(direction, kind)], {"keys": keys}).fetchall():
                # queries return pairs along the edge; the frontier side is `a` going down, `b` going up
                src_kind, dst_kind = (kind, other) if direction == "down" else (other, kind)
                edges.add((f"{src_kind}:{a}", f"{dst_kind}:{b}"))
                found.add((other, b if direction == "down" else a))
        frontier = found - nodes
        nodes |= found
        if not frontier:
            break
    return nodes, edges


def lineage_graph(
    conn: psycopg.Connection,
    node: str,
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
    start = parse_node(node)
    queries = _DENORMALIZED if source == "denormalized" else _NORMALIZED
    nodes: set[tuple[str, str]] = set()
    edges: set[tuple[str, str]] = set()
    for way in ("up", "down") if direction == "both" else (direction,):
        n, e = _walk(conn, queries, start, depth, way)
        nodes |= n
        edges |= e
    return {
        "node": node,
        "depth": depth,
        "direction": direction,
        "nodes": [{"id": f"{t}:{k}", "type": t, "key": k} for t, k in sorted(nodes)],
        "edges": [{"source": a, "target": b} for a, b in sorted(edges)],
    }
