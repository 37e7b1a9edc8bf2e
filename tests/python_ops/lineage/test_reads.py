"""Lineage reads in Marquez's shapes (python_ops/lineage/reads.py): every read answers the same from the
denormalized tables as from the normalized ones, pages, and refuses unknown objects with NotFound."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from migrata_samples.lineage_store import generate_store
from migrata_samples.openlineage import food_delivery_events
from python_ops.engines.context import Engines
from python_ops.errors import PreconditionError
from python_ops.lineage import reads
from python_ops.lineage.backfill import backfill
from python_ops.lineage.compiled import lineage_models
from python_ops.lineage.ingest import ingest_events
from python_ops.settings import MigrataSettings


def _build(settings: MigrataSettings) -> None:
    report = backfill(Engines.from_settings(settings), models=lineage_models(settings), chunk_size=1000)
    assert report.ok, report.summary()


def test_synthetic_reads_match_the_normalized_answers(
    settings: MigrataSettings, conn: psycopg.Connection
) -> None:
    generate_store(conn, 3000, months=4)
    _build(settings)
    for ns in ("ns_0", "ns_7"):
        fast = reads.jobs(conn, ns)
        assert fast == reads.jobs(conn, ns, source="normalized")
        assert fast["totalCount"] == len(fast["jobs"]) > 0
        assert all(
            j["latestRun"] and j["latestRun"]["state"] in reads.MARQUEZ_STATE.values() for j in fast["jobs"]
        )
        job = fast["jobs"][0]["name"]
        runs = reads.job_runs(conn, ns, job, limit=100)
        assert runs == reads.job_runs(conn, ns, job, limit=100, source="normalized")
        assert runs["runs"][0] == fast["jobs"][0]["latestRun"]  # newest first: the latest run leads
        created = [r["createdAt"] for r in runs["runs"]]
        assert created == sorted(created, reverse=True) and runs["totalCount"] == len(runs["runs"])
        one = runs["runs"][-1]
        assert reads.run(conn, one["id"]) == one == reads.run(conn, one["id"], source="normalized")
    assert reads.dashboard(conn, 400) == reads.dashboard(conn, 400, source="normalized")
    assert reads.dashboard(conn, 400)["totalCount"] == 3000
    for node in ("dataset:ns_3:ds_103", "job:ns_7:job_17", "job:ns_9:job_29"):
        for depth in (0, 1, 3, 6, 20):
            fast = reads.lineage(conn, node, depth)
            assert fast == reads.lineage(conn, node, depth, source="normalized"), (node, depth)
            assert fast["graph"][0]["data"] is not None
    big = reads.lineage(conn, "job:ns_7:job_17", 20)["graph"]
    assert len(big) > 10
    ids = {n["id"] for n in big}
    for n in big:  # every edge joins two nodes of the graph, and shows on both of them
        for e in n["outEdges"]:
            assert e["origin"] == n["id"] and e["destination"] in ids
            assert e in next(m for m in big if m["id"] == e["destination"])["inEdges"]


def test_paging_is_stable_and_complete(settings: MigrataSettings, conn: psycopg.Connection) -> None:
    generate_store(conn, 2000, months=3)
    _build(settings)
    whole = reads.jobs(conn, "ns_1", limit=1000)
    pages = [reads.jobs(conn, "ns_1", limit=3, offset=o)["jobs"] for o in range(0, whole["totalCount"], 3)]
    assert [j for p in pages for j in p] == whole["jobs"]
    assert reads.jobs(conn, "ns_1", limit=3, offset=10_000) == {"jobs": [], "totalCount": whole["totalCount"]}
    job = whole["jobs"][0]["name"]
    history = reads.job_runs(conn, "ns_1", job, limit=1000)["runs"]
    paged = [r for o in (0, 5, 10, 15) for r in reads.job_runs(conn, "ns_1", job, limit=5, offset=o)["runs"]]
    assert paged == history[:20]
    assert reads.job_runs(conn, "ns_1", job, limit=0)["runs"] == []
    sets = reads.datasets(conn, "ns_1", limit=2, offset=1)
    assert len(sets["datasets"]) == 2 and sets["totalCount"] > 2
    spaces = reads.namespaces(conn, limit=2)
    assert [n["name"] for n in spaces["namespaces"]] == ["ns_0", "ns_1"] and spaces["totalCount"] == 10
    with pytest.raises(PreconditionError, match="negative"):
        reads.jobs(conn, "ns_1", limit=-1)


def test_unknown_objects_are_not_found(settings: MigrataSettings, conn: psycopg.Connection) -> None:
    ingest_events(conn, food_delivery_events())
    _build(settings)
    for call in (
        lambda: reads.lineage(conn, "job:food_delivery:no_such_job"),
        lambda: reads.jobs(conn, "no_such_namespace"),
        lambda: reads.datasets(conn, "no_such_namespace"),
        lambda: reads.job_runs(conn, "food_delivery", "no_such_job"),
        lambda: reads.run(conn, str(uuid.uuid4())),
        lambda: reads.run(conn, "not-a-uuid"),
        lambda: reads.column_lineage(conn, "dataset:food_delivery:no_such_table"),
    ):
        with pytest.raises(reads.NotFound):
            call()


def test_food_delivery_reads_and_search(settings: MigrataSettings, conn: psycopg.Connection) -> None:
    ingest_events(conn, food_delivery_events())
    _build(settings)
    jobs = reads.jobs(conn, "food_delivery")
    by_name = {j["name"]: j for j in jobs["jobs"]}
    assert by_name["etl_delivery_7_days"]["latestRun"]["state"] in ("COMPLETED", "FAILED", "RUNNING")
    assert {"namespace": "food_delivery", "name": "public.delivery_7_days"} in by_name["etl_delivery_7_days"][
        "outputs"
    ]
    found = reads.search(conn, "delivery")
    assert found["totalCount"] == len(found["results"]) > 0
    assert all("delivery" in r["name"].lower() for r in found["results"])
    assert [r["name"] for r in found["results"]] == sorted(r["name"] for r in found["results"])
    prefix = reads.search(conn, "etl_%", filter="job", limit=100)
    assert prefix["results"] and all(
        r["type"] == "JOB" and r["name"].startswith("etl_") for r in prefix["results"]
    )
    assert all(r["nodeId"] == f"job:food_delivery:{r['name']}" for r in prefix["results"])
    assert reads.search(conn, "DELIVERY", filter="dataset", limit=2)["totalCount"] == 2
    with pytest.raises(PreconditionError, match="filter"):
        reads.search(conn, "x", filter="run")
    graph = reads.lineage(conn, "dataset:food_delivery:public.delivery_7_days")
    node = next(n for n in graph["graph"] if n["id"] == "dataset:food_delivery:public.delivery_7_days")
    assert node["type"] == "DATASET" and node["data"]["name"] == "public.delivery_7_days"
    assert {"origin": "job:food_delivery:etl_delivery_7_days", "destination": node["id"]} in node["inEdges"]


def _column_event(job: str, inputs: list[str], output: str, fields: dict[str, list[tuple[str, str]]]) -> dict:
    now = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    return {
        "eventType": "COMPLETE",
        "eventTime": now,
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "cl", "name": job},
        "producer": "https://example.com/test",
        "inputs": [{"namespace": "cl", "name": n} for n in inputs],
        "outputs": [
            {
                "namespace": "cl",
                "name": output,
                "facets": {
                    "columnLineage": {
                        "_producer": "https://example.com/test",
                        "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json",
                        "fields": {
                            f: {
                                "inputFields": [
                                    {
                                        "namespace": "cl",
                                        "name": ds,
                                        "field": col,
                                        "transformations": [
                                            {
                                                "type": "DIRECT",
                                                "subtype": "IDENTITY",
                                                "description": "identical",
                                            }
                                        ],
                                    }
                                    for ds, col in src
                                ]
                            }
                            for f, src in fields.items()
                        },
                    }
                },
            }
        ],
    }


def test_column_lineage_walks_the_stored_field_edges(conn: psycopg.Connection) -> None:
    ingest_events(
        conn,
        [
            _column_event("j1", ["raw"], "mid", {"a": [("raw", "x")], "b": [("raw", "y"), ("raw", "z")]}),
            _column_event("j2", ["mid"], "top", {"c": [("mid", "a"), ("mid", "b")]}),
        ],
    )
    full = reads.column_lineage(conn, "datasetField:cl:top:c")
    ids = [n["id"] for n in full["graph"]]
    assert ids == sorted(
        f"datasetField:cl:{x}" for x in ("top:c", "mid:a", "mid:b", "raw:x", "raw:y", "raw:z")
    )
    top = next(n for n in full["graph"] if n["id"] == "datasetField:cl:top:c")
    assert [f["field"] for f in top["data"]["inputFields"]] == ["a", "b"]
    assert top["data"]["transformationType"] == "DIRECT" and top["outEdges"] == []
    one = reads.column_lineage(conn, "datasetField:cl:top:c", depth=1)
    assert {n["id"] for n in one["graph"]} == {
        "datasetField:cl:top:c",
        "datasetField:cl:mid:a",
        "datasetField:cl:mid:b",
    }
    # upstream only by default, as Marquez; withDownstream adds what the field feeds
    assert {n["id"] for n in reads.column_lineage(conn, "datasetField:cl:mid:a", 5)["graph"]} == {
        "datasetField:cl:mid:a", "datasetField:cl:raw:x"
    }  # fmt: skip
    down = reads.column_lineage(conn, "datasetField:cl:mid:a", 5, with_downstream=True)
    assert "datasetField:cl:top:c" in {n["id"] for n in down["graph"]}
    assert len(reads.column_lineage(conn, "dataset:cl:mid")["graph"]) == 6 - 1  # mid's a, b and their inputs
    with pytest.raises(reads.NotFound):
        reads.column_lineage(conn, "datasetField:cl:top:nope")
