"""Compatibility with Marquez's API: every read endpoint of `migrata lineage serve` answers with the fields
and JSON types of Marquez's examples (fixtures/marquez/, taken from Marquez's spec and API test resources),
pages, and answers an unknown object with a 404 and a JSON body."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from migrata_samples.openlineage import food_delivery_events
from python_ops.engines.context import Engines
from python_ops.lineage.backfill import backfill
from python_ops.lineage.compiled import lineage_models
from python_ops.lineage.ingest import ingest_events
from python_ops.lineage.server import ServerConfig, create_app
from python_ops.settings import MigrataSettings

FIXTURES = Path(__file__).parent / "fixtures" / "marquez"


def _example(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def _same_shape(got: Any, example: Any, where: str) -> None:
    """`got` has every field of `example` with the same JSON type (null in the example: any type or null)."""
    if example is None:
        return
    if isinstance(example, dict):
        assert isinstance(got, dict), where
        missing = set(example) - set(got)
        assert not missing, f"{where}: missing {sorted(missing)}"
        for key, value in example.items():
            if got[key] is not None or key in ("id", "name", "type", "namespace", "createdAt"):
                _same_shape(got[key], value, f"{where}.{key}")
        return
    if isinstance(example, list):
        assert isinstance(got, list), where
        for item in got[:5]:
            if example:
                _same_shape(item, example[0], f"{where}[]")
        return
    assert type(got) is type(example) or (isinstance(example, int) and isinstance(got, int)), (
        f"{where}: {type(got).__name__} is not {type(example).__name__}"
    )


def test_every_read_endpoint_has_marquez_fields_pages_and_404s(
    settings: MigrataSettings, conn: psycopg.Connection
) -> None:
    ingest_events(conn, food_delivery_events())
    engines = Engines.from_settings(settings)
    assert backfill(engines, models=lineage_models(settings), chunk_size=1000).ok
    app = create_app(engines, None, ServerConfig(refresher=False))
    lists = _example("lists")
    with TestClient(app) as http:

        def get(path: str, status: int = 200, **params: Any) -> Any:
            answer = http.get(f"/api/v1/{path}", params=params)
            assert answer.status_code == status, (path, answer.text)
            assert answer.headers["content-type"].startswith("application/json")
            return answer.json()

        spaces = get("namespaces")
        assert set(lists["namespaces"]) <= set(spaces)
        _same_shape(spaces["namespaces"][0], _example("namespace"), "namespace")
        jobs = get("namespaces/food_delivery/jobs")
        assert set(lists["jobs"]) <= set(jobs) and jobs["totalCount"] == len(jobs["jobs"]) > 3
        for job in jobs["jobs"]:
            _same_shape(job, _example("job"), "job")
            if job["latestRun"]:
                _same_shape(job["latestRun"], _example("run"), "job.latestRun")
        ran = next(j for j in jobs["jobs"] if j["latestRun"])
        page = get("namespaces/food_delivery/jobs", limit=2, offset=1)
        assert page["jobs"] == jobs["jobs"][1:3] and page["totalCount"] == jobs["totalCount"]
        sets = get("namespaces/food_delivery/datasets")
        assert set(lists["datasets"]) <= set(sets)
        for ds in sets["datasets"]:
            _same_shape(ds, _example("dataset"), "dataset")
        runs = get(f"namespaces/food_delivery/jobs/{ran['name']}/runs", limit=1)
        assert set(lists["runs"]) <= set(runs) and runs["runs"] == [ran["latestRun"]]
        _same_shape(runs["runs"][0], _example("run"), "run")
        assert get(f"jobs/runs/{ran['latestRun']['id']}") == ran["latestRun"]
        found = get("search", q="delivery", filter="dataset", sort="name", limit=1)
        assert set(lists["search"]) <= set(found) and found["totalCount"] == 1
        for result in found["results"]:
            _same_shape(result, _example("search_result"), "search")
            assert result["type"] == "DATASET"
        graph = get("lineage", nodeId="dataset:food_delivery:public.delivery_7_days", depth=2)
        assert set(lists["lineage"]) <= set(graph) and len(graph["graph"]) > 2
        for node in graph["graph"]:
            _same_shape(node, _example("lineage_node"), "lineage node")
            _same_shape(node["data"], _example("job" if node["type"] == "JOB" else "dataset"), "node data")
        deep = get("lineage", nodeId="dataset:food_delivery:public.delivery_7_days")  # Marquez's depth 20
        assert len(deep["graph"]) >= len(graph["graph"])
        stats = get("stats/runs", days=3650)
        assert stats["totalCount"] > 0
        # column lineage from the food_delivery events' columnLineage facets
        column = get("column-lineage", nodeId="dataset:food_delivery:public.delivery_7_days", depth=1)
        assert column["graph"], "the example pipeline declares column lineage for delivery_7_days"
        for node in column["graph"]:
            _same_shape(node, _example("column_lineage_node"), "column-lineage node")
        assert any(
            n["id"].startswith("datasetField:food_delivery:public.delivery_7_days:") for n in column["graph"]
        )
        # 404s and 400s with a JSON body naming the object
        for path, params in (
            ("lineage", {"nodeId": "job:food_delivery:no_such_job"}),
            ("namespaces/nowhere/jobs", {}),
            ("namespaces/nowhere/datasets", {}),
            ("namespaces/food_delivery/jobs/no_such_job/runs", {}),
            (f"jobs/runs/{uuid.uuid4()}", {}),
            ("column-lineage", {"nodeId": "dataset:food_delivery:no_such_table"}),
        ):
            body = get(path, 404, **params)
            assert body["code"] == 404 and body["message"], path
        assert "nodeId" in get("lineage", 400)["message"]
        assert "not job:NAMESPACE:NAME" in get("lineage", 400, nodeId="table:x")["message"]
        assert get("search", 400, q="x", filter="run")["code"] == 400
        assert http.get("/api/v1/namespaces", params={"limit": -1}).status_code == 422


def test_column_lineage_node_has_marquez_fields(conn: psycopg.Connection, settings: MigrataSettings) -> None:
    from tests.python_ops.lineage.test_reads import _column_event

    ingest_events(conn, [_column_event("j", ["src"], "dst", {"c": [("src", "a")]})])
    app = create_app(Engines.from_settings(settings), None, ServerConfig(refresher=False))
    with TestClient(app) as http:
        answer = http.get("/api/v1/column-lineage", params={"nodeId": "datasetField:cl:dst:c", "depth": 3})
    assert answer.status_code == 200
    graph = answer.json()["graph"]
    assert [n["id"] for n in graph] == ["datasetField:cl:dst:c", "datasetField:cl:src:a"]
    for node in graph:
        _same_shape(node, _example("column_lineage_node"), "column-lineage node")
