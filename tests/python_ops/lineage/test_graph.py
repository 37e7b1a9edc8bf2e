"""Lineage-graph queries: the answer from lineage_graph_edges equals the one from the normalized tables,
node for node, edge for edge."""

from __future__ import annotations

import psycopg
import pytest

from migrata_samples.lineage_store import generate_store, new_run_events
from migrata_samples.openlineage import food_delivery_events
from python_ops.engines.context import Engines
from python_ops.errors import PreconditionError
from python_ops.lineage.backfill import backfill
from python_ops.lineage.compiled import lineage_models
from python_ops.lineage.graph import lineage_graph
from python_ops.lineage.ingest import ingest_events
from python_ops.lineage.refresh import GRAPH_MODEL, refresh
from python_ops.settings import MigrataSettings


def _backfill_and_build_edges(settings: MigrataSettings, chunk_size: int = 10_000) -> None:
    """The backfill builds the edges too (the edge model once over every run)."""
    report = backfill(Engines.from_settings(settings), models=lineage_models(settings), chunk_size=chunk_size)
    assert report.ok and report.details["edges"] > 0, report.summary()


def test_food_delivery_graph_is_the_same_from_both_sources(
    settings: MigrataSettings, conn: psycopg.Connection
) -> None:
    ingest_events(conn, food_delivery_events())
    with pytest.raises(PreconditionError, match="lineage_graph_edges"):
        lineage_graph(conn, "job:food_delivery:etl_orders")  # not built yet: a clear error, not a crash
    _backfill_and_build_edges(settings)
    node = "dataset:food_delivery:public.delivery_7_days"
    up = lineage_graph(conn, node, 2, "up")
    assert up == lineage_graph(conn, node, 2, "up", source="normalized")
    ids = {n["id"] for n in up["nodes"]}
    assert "job:food_delivery:etl_delivery_7_days" in ids
    assert {"source": "job:food_delivery:etl_delivery_7_days", "target": node} in up["edges"]
    assert lineage_graph(conn, node, 0, "both")["nodes"] == [
        {"id": node, "type": "dataset", "namespace": "food_delivery", "name": "public.delivery_7_days"}
    ]


def test_synthetic_graphs_match_at_every_depth(settings: MigrataSettings, conn: psycopg.Connection) -> None:
    generate_store(conn, 3000, months=4)
    _backfill_and_build_edges(settings, chunk_size=1000)
    sizes = []
    for node in ("dataset:ns_3:ds_103", "job:ns_7:job_17", "dataset:ns_0:ds_0", "job:ns_9:job_29"):
        for depth in (1, 3, 6):
            for direction in ("up", "down", "both"):
                fast = lineage_graph(conn, node, depth, direction)  # type: ignore[arg-type]
                slow = lineage_graph(conn, node, depth, direction, source="normalized")  # type: ignore[arg-type]
                assert fast == slow, (node, depth, direction)
                sizes.append(len(fast["edges"]))
    assert max(sizes) > 20
    # one prepared edge walk serves every call (parsed once); whether Postgres then runs a generic or
    # a custom plan depends on the statistics of the moment (an autoanalyze mid-loop changes it), so
    # only the count of executions is asserted
    plans = conn.execute(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
        "WHERE statement LIKE '%%FROM lineage_graph_edges e%%'"
    ).fetchall()
    assert len(plans) == 1 and plans[0][0] + plans[0][1] == 36, plans
    # a new run of job_17 reads ds_84 and ds_83 and writes ds_85 and ds_86, which it always writes
    job, read = "job:ns_7:job_17", "dataset:ns_4:ds_84"
    down_before = lineage_graph(conn, job, 1, "down")
    ingest_events(conn, new_run_events(jobs=30, count=1, offset=17))
    refresh(settings, command="run")
    up = lineage_graph(conn, job, 1, "up")
    assert {"source": read, "target": job} in up["edges"]
    assert up == lineage_graph(conn, job, 1, "up", source="normalized")
    assert lineage_graph(conn, job, 1, "down") == down_before  # edges seen again: no duplicate
    assert conn.execute(
        "SELECT last_run_date = (now() AT TIME ZONE 'UTC')::date, first_run_date < last_run_date "
        "FROM lineage_graph_edges "
        "WHERE source_name = 'job_17' AND target_namespace = 'ns_5' AND target_name = 'ds_85'",
    ).fetchone() == (True, True)  # an edge seen again keeps its first run date, extends its last


def test_bad_nodes_are_refused(conn: psycopg.Connection) -> None:
    with pytest.raises(PreconditionError):
        lineage_graph(conn, "table:x:y")
    with pytest.raises(PreconditionError):
        lineage_graph(conn, "job:x:y", direction="sideways")  # type: ignore[arg-type]


def test_colliding_names_stay_apart_and_node_ids_resolve(
    settings: MigrataSettings, conn: psycopg.Connection
) -> None:
    """Namespace `a:b` + name `c` and namespace `a` + name `b:c` are two datasets, everywhere."""
    run1, run2 = "00000000-0000-0000-0000-0000000000a1", "00000000-0000-0000-0000-0000000000a2"
    when = "2026-01-05T10:00:00Z"
    events = [
        {"eventType": "COMPLETE", "eventTime": when, "run": {"runId": run1},
         "job": {"namespace": "a:b", "name": "c"}, "outputs": [{"namespace": "a:b", "name": "c"}]},
        {"eventType": "COMPLETE", "eventTime": when, "run": {"runId": run2},
         "job": {"namespace": "a", "name": "b:c"}, "inputs": [{"namespace": "a", "name": "b:c"}]},
    ]  # fmt: skip
    assert ingest_events(conn, events).ok
    assert conn.execute("SELECT count(*) FROM lineage_datasets").fetchone() == (2,)
    assert conn.execute("SELECT count(*) FROM lineage_jobs").fetchone() == (2,)
    _backfill_and_build_edges(settings)
    assert conn.execute("SELECT count(*) FROM lineage_graph_edges").fetchone() == (2,)
    with pytest.raises(PreconditionError, match="names 2 datasets"):
        lineage_graph(conn, "dataset:a:b:c")  # ambiguous: both pairs are stored
    left = lineage_graph(conn, ("dataset", "a:b", "c"), 1)
    assert left["edges"] == [{"source": "job:a:b:c", "target": "dataset:a:b:c"}]
    assert [n["namespace"] for n in left["nodes"]] == ["a:b", "a:b"]
    right = lineage_graph(conn, ("dataset", "a", "b:c"), 1)
    assert [(n["type"], n["namespace"], n["name"]) for n in right["nodes"]] == [
        ("dataset", "a", "b:c"),
        ("job", "a", "b:c"),
    ]
    assert right == lineage_graph(conn, ("dataset", "a", "b:c"), 1, source="normalized")


def test_ui_queries_from_the_denormalized_table(settings: MigrataSettings, conn: psycopg.Connection) -> None:
    from python_ops.lineage import queries

    ingest_events(conn, food_delivery_events())
    _backfill_and_build_edges(settings)
    listing = queries.job_listing(conn)
    assert len(listing) == 13 and all(j["latest_state"] in ("COMPLETE", "FAIL") for j in listing)
    history = queries.run_history(conn, "food_delivery", "etl_orders_7_days")
    assert len(history) == 1 and history[0]["input_count"] >= 2
    assert sum(row["runs"] for row in queries.dashboard(conn)) == 13
    found = queries.search(conn, "DELIVERY_7")
    assert {"type": "dataset", "namespace": "food_delivery", "name": "public.delivery_7_days"} in found
    assert {"type": "job", "namespace": "food_delivery", "name": "etl_delivery_7_days"} in found


def test_concurrent_edge_builds_are_serialized(settings: MigrataSettings, conn: psycopg.Connection) -> None:
    """Two builds at once (two Dagster month runs) both succeed: the model's lock orders their writes."""
    from concurrent.futures import ThreadPoolExecutor

    generate_store(conn, 600, months=2)
    _backfill_and_build_edges(settings, chunk_size=200)
    ingest_events(conn, new_run_events(jobs=6, count=30))
    refresh(
        settings,
        command="run",
        select=["fqn:lineage.staging", "run_lineage_denormalized"],
    )
    with ThreadPoolExecutor(2) as pool:
        builds = [pool.submit(refresh, settings, command="run", select=[GRAPH_MODEL]) for _ in range(2)]
        for build in builds:
            build.result()  # raises if dbt failed (a duplicate key, a deadlock)
    for node in ("job:ns_1:job_1", "dataset:ns_0:ds_10"):
        assert lineage_graph(conn, node, 3) == lineage_graph(conn, node, 3, source="normalized")
