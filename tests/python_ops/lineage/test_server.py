"""`migrata lineage serve`'s app against uvicorn and the real openlineage-python client: every event
kind, every bad input answered 4xx with nothing written, runId reuse, the eventTime window, fresh reads
without a manual refresh, concurrent clients reconciled exactly."""

from __future__ import annotations

import dataclasses
import gzip
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.generated import parent_run
from openlineage.client.transport.http import HttpCompression, HttpConfig, HttpTransport

from python_ops.engines.context import Engines
from python_ops.lineage.batch import LineageModels
from python_ops.lineage.server import ServerConfig, create_app
from tests.python_ops.lineage.conftest import serve_in_thread

CONFIG = ServerConfig(max_body_bytes=64 * 1024, max_decompressed_bytes=256 * 1024, refresh_interval_s=0.2)


@pytest.fixture
def server_url(engines: Engines, models: LineageModels) -> Iterator[str]:
    from python_ops.lineage.batch import ensure_tables

    with engines.connect(autocommit=True) as conn:
        ensure_tables(conn, models)  # as `migrata lineage serve` does before it starts the workers
    with serve_in_thread(create_app(engines, models, CONFIG)) as base:
        yield base


def _client(url: str, **config: object) -> OpenLineageClient:
    return OpenLineageClient(transport=HttpTransport(HttpConfig(url=url, **config)))  # type: ignore[arg-type]


def _event(run: str | None = None, job: str = "j", time_: str | None = None, **extra: object) -> dict:
    return {
        "eventType": "START",
        "eventTime": time_ or datetime.now(UTC).isoformat(),
        "run": {"runId": run or str(uuid.uuid4())},
        "job": {"namespace": "ns", "name": job},
        "producer": "https://example.com/test",
        **extra,
    }


def _nested(depth: int) -> list:
    value: list = [1]
    for _ in range(depth):
        value = [value]
    return value


def _wait_for_edge(url: str, node: str, source: str, target: str, timeout_s: float = 10) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        answer = httpx.get(f"{url}/api/v1/lineage", params={"nodeId": node, "depth": 1})
        edges = [e for n in answer.json().get("graph", []) for e in n["outEdges"]]
        if answer.status_code == 200 and {"origin": source, "destination": target} in edges:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"edge {source} -> {target} not visible after {timeout_s}s")


def test_every_event_kind_from_the_client_is_stored_and_fresh(
    server_url: str, conn: psycopg.Connection
) -> None:
    client = _client(server_url)
    gz_client = _client(server_url, compression=HttpCompression.GZIP)
    run_id, parent_id = str(uuid.uuid4()), str(uuid.uuid4())
    parent = parent_run.ParentRunFacet(
        run=parent_run.Run(runId=parent_id), job=parent_run.Job(namespace="airflow", name="dag")
    )
    job = Job(namespace="olc", name="étl_ünïcode")
    start = RunEvent(
        eventType=RunState.START,
        eventTime=datetime.now(UTC).isoformat(),
        run=Run(runId=run_id, facets={"parent": parent}),
        job=job,
        producer="https://example.com/producer",
        inputs=[InputDataset(namespace="olc", name="raw")],
        outputs=[OutputDataset(namespace="olc", name="clean")],
    )
    client.emit(start)
    client.emit(start)  # the same event again changes nothing
    gz_client.emit(
        RunEvent(
            eventType=RunState.COMPLETE,
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=run_id),
            job=job,
            producer="https://example.com/producer",
        )
    )
    # OpenLineage 2.x static lineage: a JobEvent's inputs/outputs and a DatasetEvent's facets
    client.emit(
        JobEvent(
            eventTime=datetime.now(UTC).isoformat(),
            producer="https://example.com/producer",
            job=Job(namespace="olc", name="static_job"),
            inputs=[InputDataset(namespace="olc", name="clean")],
            outputs=[OutputDataset(namespace="olc", name="report")],
        )
    )
    client.emit(
        DatasetEvent(
            eventTime=datetime.now(UTC).isoformat(),
            producer="https://example.com/producer",
            dataset=StaticDataset(
                namespace="olc", name="report", facets={"myFacet": {"_producer": "x", "v": 1}}
            ),
        )
    )
    row = conn.execute(
        "SELECT r.state, r.parent_run_uuid::text, j.name, (SELECT count(*) FROM lineage_events_raw), "
        "(SELECT array_agg(event_kind ORDER BY event_kind) FROM lineage_events_raw) "
        "FROM lineage_runs r JOIN lineage_jobs j ON j.uuid = r.job_uuid"
    ).fetchone()
    assert row == ("COMPLETE", parent_id, "étl_ünïcode", 4, ["dataset", "job", "run", "run"])
    assert conn.execute(
        "SELECT facets->'myFacet'->>'v' FROM lineage_datasets "
        "WHERE namespace_name = 'olc' AND name = 'report'"
    ).fetchone() == ("1",)
    # no refresh by hand: the server's micro-batches put both edges in the graph within seconds
    _wait_for_edge(server_url, "job:olc:étl_ünïcode", "job:olc:étl_ünïcode", "dataset:olc:clean")
    _wait_for_edge(server_url, "job:olc:static_job", "job:olc:static_job", "dataset:olc:report")
    assert conn.execute(
        "SELECT is_static, first_run_date FROM lineage_graph_edges WHERE target_name = 'report'"
    ).fetchone() == (True, None)
    assert conn.execute(
        "SELECT state FROM run_lineage_denormalized WHERE run_uuid = %s", (run_id,)
    ).fetchone() == ("COMPLETE",)
    health = httpx.get(f"{server_url}/api/v1/health").json()
    assert health["status"] == "ok" and health["refresher"]["leader"] is True


def test_bad_input_is_4xx_with_a_json_body_and_writes_nothing(
    server_url: str, conn: psycopg.Connection
) -> None:
    url = f"{server_url}/api/v1/lineage"
    headers = {"Content-Type": "application/json"}
    gz = headers | {"Content-Encoding": "gzip"}
    plain = json.dumps(_event())
    deep = "[" * 5000 + "]" * 5000
    inflates = gzip.compress(b"[" + b" " * (300 * 1024) + b"]")
    cases = [
        ("deep JSON (RecursionError)", {"content": deep, "headers": headers}, 400, "body"),
        ("nesting past the bound", {"json": _event(deep=_nested(80))}, 400, None),
        ("lone surrogate", {"content": json.dumps(_event(job="a\ud800b")), "headers": headers}, 400,
         "job.name"),
        ("gzip header on a plain body", {"content": plain, "headers": gz}, 400, "body"),
        ("body too large", {"content": b"[" + b" " * (70 * 1024) + b"]", "headers": headers}, 413, None),
        ("inflates too large", {"content": inflates, "headers": gz}, 413, None),
        ("wrong content type", {"content": plain, "headers": {"Content-Type": "text/plain"}}, 415, None),
        ("unknown encoding", {"content": plain, "headers": headers | {"Content-Encoding": "br"}}, 415, None),
        ("NaN", {"content": '{"eventTime": NaN}', "headers": headers}, 400, "body"),
        ("1970", {"json": _event(time_="1970-01-01T00:00:00Z")}, 400, "eventTime"),
        ("year 9999", {"json": _event(time_="9999-01-01T00:00:00Z")}, 400, "eventTime"),
        ("NUL", {"json": _event(job="a\u0000b")}, 400, "job.name"),
        ("one bad event of an array", {"json": [_event(), _event(time_="soon")]}, 400, "eventTime"),
    ]  # fmt: skip
    for what, request, status, field in cases:
        answer = httpx.post(url, **request)  # type: ignore[arg-type]
        assert answer.status_code == status, (what, answer.status_code, answer.text)
        body = answer.json()  # a JSON body, never an HTML 500 page
        if field:
            assert body["field"] == field, (what, body)
    assert conn.execute("SELECT count(*) FROM lineage_events_raw").fetchone() == (0,)
    months = conn.execute(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'lineage_events_raw'::regclass"
    ).fetchone()
    assert months == (0,)  # no partition was made for 1970 or 9999

    # a runId that belongs to another job is refused naming both jobs; nothing of the request is stored
    run = str(uuid.uuid4())
    assert httpx.post(url, json=_event(run, job="first")).status_code == 201
    reused = httpx.post(url, json=[_event(job="x"), _event(run, job="second")])
    assert reused.status_code == 400 and reused.json()["field"] == "run.runId", reused.text
    assert "ns/first" in reused.json()["message"] and "ns/second" in reused.json()["message"]
    assert conn.execute("SELECT count(*) FROM lineage_events_raw").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM lineage_runs r JOIN lineage_jobs j ON j.uuid = r.job_uuid "
                        "WHERE j.name = 'first'").fetchone() == (1,)  # fmt: skip


def test_concurrent_clients_counts_reconcile_exactly(server_url: str, conn: psycopg.Connection) -> None:
    """8 clients, single events and arrays, some sent twice: accepted = stored, nothing duplicated."""

    def client(k: int) -> tuple[int, int]:
        accepted = stored = 0
        with httpx.Client() as http:
            for i in range(20):
                events = [
                    _event(job=f"job_{k}", time_=datetime.now(UTC).isoformat()) for _ in range(1 + i % 3)
                ]
                for _ in range(1 + (i % 5 == 0)):  # every fifth request is delivered twice
                    answer = http.post(
                        f"{server_url}/api/v1/lineage", json=events if len(events) > 1 else events[0]
                    )
                    assert answer.status_code == 201, answer.text
                    accepted += answer.json()["received"]
                    stored += answer.json()["stored"]
        return accepted, stored

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(client, range(8)))
    stored = sum(s for _, s in results)
    distinct = sum(sum(1 + i % 3 for i in range(20)) for _ in range(8))
    assert stored == distinct
    assert conn.execute("SELECT count(*), count(DISTINCT event_id) FROM lineage_events_raw").fetchone() == (
        distinct,
        distinct,
    )
    assert conn.execute("SELECT count(*) FROM lineage_runs").fetchone() == (distinct,)


@pytest.fixture
def replica_dsn(pg_server: Any, template_dsn: str) -> Iterator[str]:
    """A second migrated database standing in for a read replica."""
    from tests.conftest import TEMPLATE_DB, _fresh_database

    yield from _fresh_database(pg_server, TEMPLATE_DB)


def test_reads_go_to_the_read_dsn_and_writes_to_the_store(
    engines: Engines, conn: psycopg.Connection, replica_dsn: str, settings: Any
) -> None:
    """MIGRATA_POSTGRES__READ_DSN set: the read endpoints answer from it, POST still writes to the store."""
    from python_ops.lineage.ingest import ingest_events
    from python_ops.lineage.server import config_from_settings

    with psycopg.connect(replica_dsn, autocommit=True) as replica:
        assert ingest_events(
            replica, [_event(job="r") | {"job": {"namespace": "on_replica", "name": "r"}}]
        ).ok
    with_replica = settings.model_copy(
        update={"postgres": settings.postgres.model_copy(update={"read_dsn": replica_dsn})}
    )
    config = config_from_settings(with_replica)
    assert config.read_dsn == replica_dsn
    app = create_app(engines, None, dataclasses.replace(config, refresher=False))
    with TestClient(app) as http:
        posted = http.post(
            "/api/v1/lineage", json=_event(job="w") | {"job": {"namespace": "on_store", "name": "w"}}
        )
        assert posted.status_code == 201, posted.text
        names = [n["name"] for n in http.get("/api/v1/namespaces").json()["namespaces"]]
        assert names == ["on_replica"]
        assert http.get("/api/v1/namespaces/on_store/jobs").status_code == 404
        assert http.get("/api/v1/health").json()["read_pool"]["pool_max"] == config.pool_size
    stored = conn.execute("SELECT array_agg(name ORDER BY name) FROM lineage_namespaces").fetchone()
    assert stored == (["on_store"],)
