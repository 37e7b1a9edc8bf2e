"""Own the lineage part of the demo: food_delivery events → normalized store → denormalized tables → graph."""

from __future__ import annotations

from typing import Any

from migrata_samples.demo.section import Section
from migrata_samples.openlineage import food_delivery_events
from python_ops.engines.context import Engines
from python_ops.lineage.backfill import backfill
from python_ops.lineage.compiled import lineage_models
from python_ops.lineage.graph import lineage_graph
from python_ops.lineage.ingest import ingest_events
from python_ops.settings import MigrataSettings

GRAPH_NODE = "dataset:food_delivery:public.delivery_7_days"


def prepare(settings: MigrataSettings) -> None:
    """Ingest the food_delivery events (idempotent) and backfill the denormalized tables from them."""
    engines = Engines.from_settings(settings)
    with engines.connect(autocommit=True) as conn:
        ingest_events(conn, food_delivery_events())
    backfill(engines, models=lineage_models(settings), chunk_size=settings.lineage.chunk_size)


def _endpoint_calls(settings: MigrataSettings) -> list[tuple[str, str]]:
    """One call of each read endpoint of `migrata lineage serve` (its app, in-process), summarized."""
    from fastapi.testclient import TestClient

    from python_ops.lineage.server import ServerConfig, create_app

    app = create_app(Engines.from_settings(settings), None, ServerConfig(refresher=False))
    calls: list[tuple[str, str]] = []
    with TestClient(app) as http:

        def get(path: str, summary: Any) -> None:
            body = http.get(path).json()
            calls.append((path, summary(body)))

        job = "etl_delivery_7_days"
        get("/api/v1/namespaces", lambda b: ", ".join(n["name"] for n in b["namespaces"]))
        get(
            "/api/v1/namespaces/food_delivery/jobs?limit=3",
            lambda b: (
                f"{b['totalCount']} jobs; "
                + ", ".join(f"{j['name']} {(j['latestRun'] or {}).get('state')}" for j in b["jobs"])
            ),
        )
        get(
            "/api/v1/namespaces/food_delivery/datasets?limit=3",
            lambda b: f"{b['totalCount']} datasets; " + ", ".join(d["name"] for d in b["datasets"]),
        )
        runs = http.get(f"/api/v1/namespaces/food_delivery/jobs/{job}/runs").json()
        calls.append(
            (
                f"/api/v1/namespaces/food_delivery/jobs/{job}/runs",
                f"{runs['totalCount']} runs; latest {runs['runs'][0]['state']}",
            )
        )
        get(
            f"/api/v1/jobs/runs/{runs['runs'][0]['id']}",
            lambda b: f"{b['jobName']} {b['state']} {b['durationMs']} ms",
        )
        get("/api/v1/search?q=delivery", lambda b: ", ".join(r["nodeId"] for r in b["results"]))
        get(
            f"/api/v1/lineage?nodeId={GRAPH_NODE}",
            lambda b: (
                f"{len(b['graph'])} nodes, {sum(len(n['outEdges']) for n in b['graph'])} edges (depth 20)"
            ),
        )
        get(
            f"/api/v1/column-lineage?nodeId={GRAPH_NODE}&depth=1",
            lambda b: f"{len(b['graph'])} fields, e.g. " + ", ".join(n["id"] for n in b["graph"][:2]),
        )
        get("/api/v1/stats/runs?days=3650", lambda b: f"{b['totalCount']} runs")
        get("/api/v1/lineage?nodeId=job:food_delivery:no_such_job", lambda b: f"404 {b['message']}")
    return calls


def report(settings: MigrataSettings) -> Section:
    with Engines.from_settings(settings).connect(autocommit=True) as conn:
        row = conn.execute(
            """SELECT (SELECT count(*) FROM lineage_events_raw), (SELECT count(*) FROM lineage_jobs),
                      (SELECT count(*) FROM lineage_datasets), (SELECT count(*) FROM lineage_runs),
                      (SELECT count(*) FROM run_lineage_denormalized),
                      (SELECT count(*) FROM run_parent_lineage_denormalized),
                      (SELECT count(*) FROM lineage_graph_edges),
                      (SELECT count(*) FROM pg_inherits
                        WHERE inhparent = 'run_lineage_denormalized'::regclass),
                      (SELECT count(*) FROM lineage_column_lineage)"""
        ).fetchone()
        assert row is not None
        graph = lineage_graph(conn, GRAPH_NODE, 3, "up")
    events, jobs, datasets, runs, rld, rpld, edges, partitions, columns = row
    rows: list[list[object]] = [
        ["lineage_events_raw", events],
        ["lineage_jobs / lineage_datasets", f"{jobs} / {datasets}"],
        ["lineage_runs", runs],
        [f"run_lineage_denormalized ({partitions} partitions incl. default)", rld],
        ["run_parent_lineage_denormalized", rpld],
        ["lineage_graph_edges", edges],
        ["lineage_column_lineage (columnLineage facets)", columns],
    ]
    rows += [
        [f"graph edge (up from {GRAPH_NODE}, depth 3)", f"{e['source']} → {e['target']}"]
        for e in graph["edges"]
    ]
    rows += [[f"GET {call}", answer] for call, answer in _endpoint_calls(settings)]
    return Section(
        "lineage (food_delivery sample)",
        ["what", "value"],
        rows,
        f"{events} events → {runs} runs, all {rld} denormalized; lineage graph of "
        f"{len(graph['nodes'])} nodes and {len(graph['edges'])} edges read from lineage_graph_edges",
    )
