"""Lineage-graph queries: the denormalized answer equals the normalized one, node for node, edge for edge."""

from __future__ import annotations

import psycopg
import pytest

from python_ops.errors import PreconditionError
from python_ops.lineage.backfill import backfill
from python_ops.lineage.graph import lineage_graph
from python_ops.lineage.ingest import ingest_events
from python_ops.lineage.sample import food_delivery_events
from python_ops.lineage.synthetic import generate_store


def test_food_delivery_graph_is_the_same_from_both_sources(dsn: str, conn: psycopg.Connection) -> None:
    ingest_events(conn, food_delivery_events())
    assert backfill(dsn).ok
    node = "dataset:food_delivery:public.delivery_7_days"
    up = lineage_graph(conn, node, 2, "up")
    assert up == lineage_graph(conn, node, 2, "up", source="normalized")
    ids = {n["id"] for n in up["nodes"]}
    assert "job:food_delivery:etl_delivery_7_days" in ids
    assert {"source": "job:food_delivery:etl_delivery_7_days", "target": node} in up["edges"]
    assert lineage_graph(conn, node, 0, "both")["nodes"] == [
        {"id": node, "type": "dataset", "key": "food_delivery:public.delivery_7_days"}
    ]


def test_synthetic_graphs_match_at_depth_3(dsn: str, conn: psycopg.Connection) -> None:
    generate_store(conn, 3000, months=4)
    assert backfill(dsn, chunk_size=1000).ok
    sizes = []
    for node in ("dataset:ns_3:ds_103", "job:ns_7:job_17", "dataset:ns_0:ds_0", "job:ns_9:job_29"):
        for direction in ("up", "down", "both"):
            fast = lineage_graph(conn, node, 3, direction)  # type: ignore[arg-type]
            assert fast == lineage_graph(conn, node, 3, direction, source="normalized")  # type: ignore[arg-type]
            sizes.append(len(fast["edges"]))
    assert max(sizes) > 5


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
