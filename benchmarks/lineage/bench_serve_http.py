"""HTTP ingestion through `migrata lineage serve --workers 2` (a subprocess on a migrated store, stopped
by its PID), each figure against a baseline measured in the same run:

- 8 concurrent clients, one event per request (keep-alive connections, one thread each) vs the same
  server with 1 client (goal ≥ 500 events/s; the old server did 13.7 req/s with 1 client, 12 with 8);
- 8 concurrent clients, 100 events per request (goal ≥ 5,000 events/s);
- p50/p95 latency of each;
- freshness under the 8-client load: time from a 201 to the new edge in `GET /api/v1/lineage`,
  p95 (goal < 5 s), with no manual refresh;
- heartbeats: 1 run x 200 RUNNING events, one request each at a producer's pace, between START and
  COMPLETE → rows written to run_lineage_denormalized for that run (goal ≤ 3), counted by a trigger
  the benchmark adds to its own store.

Each client is its own process with pre-encoded bodies and one keep-alive connection (a fair load: the
Python threads of one process shared one GIL with the request encoding). Clients and server still share
the machine's 2 cores, so the clients' own CPU is in the figures.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from benchmarks.common import Figure, Session
from python_ops.engines.postgres import free_port

NAME = "lineage"
OLD_SERVER = "old server: 13.7 req/s with 1 client, 12 with 8 (issue 12)"


def _event(job: str, state: str = "START", run: str | None = None, when: datetime | None = None) -> dict:
    return {
        "eventType": state,
        "eventTime": (when or datetime.now(UTC)).isoformat(),
        "run": {"runId": run or str(uuid.uuid4())},
        "job": {"namespace": "bench", "name": job},
        "inputs": [{"namespace": "bench", "name": f"{job}_in"}],
        "outputs": [{"namespace": "bench", "name": f"{job}_out"}],
        "producer": "https://example.com/bench",
    }


class _Server:
    """`migrata lineage serve` as a subprocess in its own process group, stopped by its PID."""

    def __init__(self, session: Session, workers: int = 2) -> None:
        self.port = free_port()
        env = os.environ | {
            "MIGRATA_HOME": str(session.home),
            "MIGRATA_POSTGRES__DSN": session.dsn,
        }
        migrata = str(Path(sys.executable).with_name("migrata"))
        self.log = (session.home / "serve.log").open("w")
        self.proc = subprocess.Popen(
            [migrata, "lineage", "serve", "--port", str(self.port), "--workers", str(workers)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 180
        while True:
            assert self.proc.poll() is None, (session.home / "serve.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "lineage serve did not answer /api/v1/health"
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)  # uvicorn's graceful shutdown drains what was accepted
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


def _client(port: int, bodies: list[bytes], start: Any, out: Any) -> None:
    """One client process: its pre-encoded bodies over one keep-alive connection, after the barrier."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    latencies, stored, error = [], 0, None
    start.wait()
    for body in bodies:
        t0 = time.perf_counter()
        conn.request("POST", "/api/v1/lineage", body, {"Content-Type": "application/json"})
        answer = conn.getresponse()
        payload = answer.read()
        latencies.append(time.perf_counter() - t0)
        if answer.status != 201:
            error = f"{answer.status} {payload[:300]!r}"
            break
        stored += json.loads(payload)["stored"]
    conn.close()
    out.put((latencies, stored, error))


def _load(port: int, clients: int, bodies: list[list[bytes]]) -> tuple[float, list[float], int]:
    """Each client is a process (its own interpreter and GIL: the load generator is not the bottleneck)
    posting its bodies over one keep-alive connection; wall seconds, latencies, events stored."""
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Barrier(clients + 1), ctx.Queue()
    procs = [ctx.Process(target=_client, args=(port, bodies[k], start, out)) for k in range(clients)]
    for p in procs:
        p.start()
    start.wait()
    started = time.perf_counter()
    results = [out.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - started
    for p in procs:
        p.join()
    errors = [e for _, _, e in results if e]
    assert not errors, errors[:3]
    return wall, [x for lat, _, _ in results for x in lat], sum(n for _, n, _ in results)


def _bodies(clients: int, requests: int, per_request: int, tag: str) -> list[list[bytes]]:
    out = []
    for k in range(clients):
        reqs = []
        for i in range(requests):
            events = [_event(f"{tag}_{k}_{i % 50}") for _ in range(per_request)]
            reqs.append(json.dumps(events if per_request > 1 else events[0]).encode())
        out.append(reqs)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _freshness_probe(url: str, stop: threading.Event, out: list[float], failures: list[str]) -> None:
    """Post one event with a new edge, then poll the graph until the edge is there; repeat."""
    with httpx.Client(timeout=30) as http:
        i = 0
        while not stop.is_set():
            job = f"probe_{i}"
            answer = http.post(f"{url}/api/v1/lineage", json=_event(job))
            accepted = time.perf_counter()
            if answer.status_code != 201:
                failures.append(answer.text[:300])
                return
            node = f"job:bench:{job}"
            edge = {"origin": node, "destination": f"dataset:bench:{job}_out"}
            while True:
                got = http.get(f"{url}/api/v1/lineage", params={"nodeId": node, "depth": 1})
                edges = [e for n in got.json().get("graph", []) for e in n["outEdges"]]
                if got.status_code == 200 and edge in edges:
                    out.append(time.perf_counter() - accepted)
                    break
                if time.perf_counter() - accepted > 60:
                    failures.append(f"edge of {job} not visible after 60 s")
                    return
                time.sleep(0.05)
            i += 1


def _during(load: Callable[[], tuple[float, list[float], int]], url: str) -> tuple[tuple, list[float]]:
    stop, fresh, failures = threading.Event(), [], []
    probe = threading.Thread(target=_freshness_probe, args=(url, stop, fresh, failures))
    probe.start()
    try:
        result = load()
    finally:
        stop.set()
        probe.join()
    assert not failures, failures
    return result, fresh


def _heartbeats(session: Session, url: str) -> int:
    run = str(uuid.uuid4())
    with psycopg.connect(session.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_denorm_writes (run_uuid uuid, op text)")
        conn.execute(
            "CREATE OR REPLACE FUNCTION bench_count_denorm_write() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO bench_denorm_writes VALUES (NEW.run_uuid, TG_OP); RETURN NULL; END $$"
        )
        conn.execute(
            "CREATE OR REPLACE TRIGGER bench_count_denorm_write AFTER INSERT OR UPDATE "
            "ON run_lineage_denormalized FOR EACH ROW EXECUTE FUNCTION bench_count_denorm_write()"
        )
        t0 = datetime.now(UTC) - timedelta(minutes=10)
        events = [_event("heartbeat", "START", run, t0)]
        events += [_event("heartbeat", "RUNNING", run, t0 + timedelta(seconds=s)) for s in range(1, 201)]
        events.append(_event("heartbeat", "COMPLETE", run, t0 + timedelta(seconds=300)))
        with httpx.Client(timeout=30) as http:
            for i, event in enumerate(events):  # one request each, 25 ms apart: a producer's pace
                assert http.post(f"{url}/api/v1/lineage", json=event).status_code == 201
                if i in (0, len(events) - 2):  # let START and the last heartbeat reach the tables
                    time.sleep(2)
                time.sleep(0.025)
        deadline = time.monotonic() + 30
        while conn.execute(
            "SELECT state FROM run_lineage_denormalized WHERE run_uuid = %s", (run,)
        ).fetchone() != ("COMPLETE",):
            assert time.monotonic() < deadline, "the COMPLETE state did not reach run_lineage_denormalized"
            time.sleep(0.2)
        raw = conn.execute("SELECT count(*) FROM lineage_events_raw WHERE run_id = %s", (run,)).fetchone()
        assert raw == (len(events),), raw
        writes = conn.execute(
            "SELECT count(*) FROM bench_denorm_writes WHERE run_uuid = %s", (run,)
        ).fetchone()
        conn.execute("DROP TRIGGER bench_count_denorm_write ON run_lineage_denormalized")
    return int(writes[0])


def run(session: Session, scale: str) -> list[Figure]:
    single = 250 if scale == "full" else 60  # requests per client, one event each
    batched = 40 if scale == "full" else 8  # requests per client, 100 events each
    server = _Server(session, workers=2)
    try:
        port = server.port
        _load(port, 2, _bodies(2, 20, 1, "warm"))  # connections, plan caches, partitions of this month
        base_wall, base_lat, base_n = _load(port, 1, _bodies(1, single * 2, 1, "one"))
        (wall8, lat8, n8), fresh = _during(lambda: _load(port, 8, _bodies(8, single, 1, "eight")), server.url)
        (bwall, blat, bn), bfresh = _during(
            lambda: _load(port, 8, _bodies(8, batched, 100, "batch")), server.url
        )
        writes = _heartbeats(session, server.url)
    finally:
        server.stop()
    rate1, rate8, rateb = base_n / base_wall, n8 / wall8, bn / bwall
    fresh_all = fresh + bfresh
    ms = 1000.0
    return [
        Figure(NAME, "HTTP 1 client, 1 event/request", rate1, "events/s", goal=OLD_SERVER),
        Figure(NAME, "HTTP 1 client p50 latency", statistics.median(base_lat) * ms, "ms"),
        Figure(NAME, "HTTP 1 client p95 latency", _pct(base_lat, 0.95) * ms, "ms"),
        Figure(
            NAME,
            "HTTP 8 clients, 1 event/request",
            rate8,
            "events/s",
            baseline=rate1,
            baseline_name="same server, 1 client",
            goal="≥ 500 events/s, ≥ 5x the old server's 13.7 req/s",
        ),
        Figure(NAME, "HTTP 8 clients p50 latency", statistics.median(lat8) * ms, "ms"),
        Figure(NAME, "HTTP 8 clients p95 latency", _pct(lat8, 0.95) * ms, "ms"),
        Figure(
            NAME,
            "HTTP 8 clients, 100 events/request",
            rateb,
            "events/s",
            baseline=rate1,
            baseline_name="same server, 1 client, 1 event/request",
            goal="≥ 5,000 events/s",
        ),
        Figure(NAME, "HTTP 8 clients batched p50 latency", statistics.median(blat) * ms, "ms"),
        Figure(NAME, "HTTP 8 clients batched p95 latency", _pct(blat, 0.95) * ms, "ms"),
        Figure(
            NAME,
            f"freshness 201 -> edge in GET under load p95 ({len(fresh_all)} probes)",
            _pct(fresh_all, 0.95),
            "s",
            goal="< 5 s",
        ),
        Figure(NAME, "freshness p50", statistics.median(fresh_all), "s"),
        Figure(
            NAME, "heartbeats: 1 run x 200 RUNNING -> denormalized row writes", writes, "writes", goal="≤ 3"
        ),
    ]
