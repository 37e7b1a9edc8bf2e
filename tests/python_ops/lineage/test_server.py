"""`POST /api/v1/lineage` with the real openlineage-python client (HTTP transport) against uvicorn."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
import uvicorn
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated import parent_run
from openlineage.client.transport.http import HttpCompression, HttpConfig, HttpTransport

from python_ops.lineage.server import create_app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server_url(dsn: str) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(dsn), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    assert not thread.is_alive()


def _client(url: str, **config: object) -> OpenLineageClient:
    return OpenLineageClient(transport=HttpTransport(HttpConfig(url=url, **config)))  # type: ignore[arg-type]


def test_openlineage_client_events_are_stored(server_url: str, conn: psycopg.Connection) -> None:
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
    row = conn.execute(
        "SELECT r.state, r.parent_run_uuid::text, j.name, (SELECT count(*) FROM lineage_events_raw) "
        "FROM lineage_runs r JOIN lineage_jobs j ON j.uuid = r.job_uuid"
    ).fetchone()
    assert row == ("COMPLETE", parent_id, "étl_ünïcode", 2)


def test_malformed_event_gets_400_naming_the_field(server_url: str, conn: psycopg.Connection) -> None:
    good = {
        "eventType": "START",
        "eventTime": "2026-01-01T00:00:00Z",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "ns", "name": "j"},
    }
    bad = {**good, "run": {"runId": "nope"}}
    answer = httpx.post(f"{server_url}/api/v1/lineage", json=bad)
    assert answer.status_code == 400
    assert answer.json()["field"] == "run.runId"
    batch = httpx.post(f"{server_url}/api/v1/lineage", json=[good, {**good, "eventTime": "soon"}])
    assert batch.status_code == 400 and batch.json()["field"] == "eventTime"
    assert batch.json()["location"] == "index 1"
    assert conn.execute("SELECT count(*) FROM lineage_events_raw").fetchone() == (0,)  # nothing half-written
    not_json = httpx.post(f"{server_url}/api/v1/lineage", content=b"{oops")
    assert not_json.status_code == 400 and not_json.json()["field"] == "body"
    ok = httpx.post(f"{server_url}/api/v1/lineage", json=good)
    assert ok.status_code == 201 and ok.json() == {"received": 1, "stored": 1}
