"""Lineage-graph queries: the answer from lineage_graph_edges equals the one from the normalized tables,
node for node, edge for edge."""

from __future__ import annotations

import psycopg
import pytest

from migrata_samples.lineage_store import generate_store, new_run_events
from migrata_samples.openlineage import food_delivery_events
from python_ops.errors import PreconditionError
from python_ops.lineage.backfill import backfill
from python_ops.lineage.graph import lineage_graph
from python_ops.lineage.ingest import ingest_events
from python_ops.lineage.refresh import GRAPH_MODEL, refresh
from python_ops.settings import MigrataSettings


def _backfill_and_build_edges(settings: MigrataSettings, chunk_size: int = 10_000) -> None:
    assert settings.postgres.dsn
    assert backfill(settings.postgres.dsn, chunk_size=chunk_size).ok
    refresh(settings, select=[GRAPH_MODEL], command="run")


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
        {"id": node, "type": "dataset", "key": "food_delivery:public.delivery_7_days"}
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
    # after Postgres' five trial plans the prepared edge walk runs one cached plan for every node,
    # rather than being planned again at each call
    plans = conn.execute(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
        "WHERE statement LIKE '%%FROM lineage_graph_edges%%'"
    ).fetchall()
    assert len(plans) == 1 and plans[0][1] == 5 and plans[0][0] == 36 - 5, plans
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
        "WHERE source_node = %s AND target_node = 'dataset:ns_5:ds_85'",
        (job,),
    ).fetchone() == (True, True)  # an edge seen again keeps its first run date, extends its last


def test_bad_nodes_are_refused(conn: psycopg.Connection) -> None:
    with pytest.raises(PreconditionError):
        lineage_graph(conn, "table:x:y")
    with pytest.raises(PreconditionError):
        lineage_graph(conn, "job:x:y", direction="sideways")  # type: ignore[arg-type]


def test_ui_queries_from_the_denormalized_table(dsn: str, conn: psycopg.Connection) -> None:
    from python_ops.lineage import queries

    ingest_events(conn, food_delivery_events())
    assert backfill(dsn).ok
    listing = queries.job_listing(conn)
    assert len(listing) == 13 and all(j["latest_state"] in ("COMPLETE", "FAIL") for j in listing)
    history = queries.run_history(conn, "food_delivery:etl_orders_7_days")
    assert len(history) == 1 and history[0]["input_count"] >= 2
    assert sum(row["runs"] for row in queries.dashboard(conn)) == 13
    found = queries.search(conn, "DELIVERY_7")
    assert {"type": "dataset", "key": "food_delivery:public.delivery_7_days"} in found
    assert {"type": "job", "key": "food_delivery:etl_delivery_7_days"} in found


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
