"""Lineage reads in Marquez's shapes (python_ops/lineage/reads.py): p50/p95 from the denormalized tables vs
the same answer from the normalized tables (asserted equal), at 10K / 100K / 1M runs (small: 10K).

- job listing with latest state: a namespace of runs/10,000 jobs (1,000 at 1M runs), one page of 1,000;
- run history: a page of 100 runs of one job;
- search (prefix `job_1%` and substring `ds_12`): the pg_trgm indexes of lineage_0006 vs the same
  statement with index and bitmap scans off (the store before those indexes; there is no normalized twin:
  both read lineage_jobs/lineage_datasets);
- dashboard counts (runs per day and state, last 7 days);
- lineage graph through HTTP (uvicorn in a thread, one httpx client): depth 3 and 20.

The EXPLAIN of each denormalized statement is printed to stderr, so the index each one uses is visible.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import uvicorn

from benchmarks.common import Figure, Session
from benchmarks.lineage.bench_backfill_runs import _database
from migrata_samples.lineage_store import generate_store
from python_ops.engines.context import Engines
from python_ops.engines.postgres import free_port
from python_ops.lineage import reads
from python_ops.lineage.backfill import backfill
from python_ops.lineage.compiled import lineage_models
from python_ops.lineage.server import ServerConfig, create_app

NAME = "lineage"
SIZES = {"small": [10_000], "full": [10_000, 100_000, 1_000_000]}
REPEAT = 30


def _p(fn: Callable[[], Any], repeat: int = REPEAT) -> tuple[float, float]:
    fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def _pair(name: str, fast: Callable[[], Any], slow: Callable[[], Any], base: str, goal: str) -> list[Figure]:
    assert fast() == slow(), name  # the same answer from both sources
    f50, f95 = _p(fast)
    s50, s95 = _p(slow, max(5, REPEAT // 3))
    return [
        Figure(NAME, f"{name} p50", f50 * 1000, "ms", s50 * 1000, base, goal),
        Figure(NAME, f"{name} p95", f95 * 1000, "ms", s95 * 1000, base, goal),
    ]


def _explain(conn: psycopg.Connection, label: str, query: str, params: Any) -> None:
    plan = conn.execute("EXPLAIN (COSTS OFF) " + query, params).fetchall()
    sys.stderr.write(f"--- EXPLAIN {label}\n" + "\n".join(r[0] for r in plan) + "\n")


def run(session: Session, scale: str) -> list[Figure]:
    figures: list[Figure] = []
    for runs in SIZES[scale]:
        label = f"{runs // 1000}K runs" if runs < 1_000_000 else f"{runs // 1_000_000}M runs"
        dsn, settings = _database(session, f"bench_reads_{runs}")
        engines = Engines.from_settings(settings)
        with psycopg.connect(dsn, autocommit=True) as conn:
            counts = generate_store(conn, runs, months=12)
            assert backfill(engines, models=lineage_models(settings), chunk_size=10_000).ok
            conn.execute("VACUUM ANALYZE")
            ns = "ns_0"
            per_ns = conn.execute(
                "SELECT count(*) FROM lineage_jobs WHERE namespace_name = %s", (ns,)
            ).fetchone()
            job = conn.execute(
                "SELECT name FROM lineage_jobs WHERE namespace_name = %s ORDER BY name LIMIT 1", (ns,)
            ).fetchone()[0]  # type: ignore[index]
            figures += _pair(
                f"job listing, {per_ns[0]} jobs with latest run ({label})",  # type: ignore[index]
                lambda: reads.jobs(conn, ns, 1000),  # noqa: B023 (called at once, inside _pair)
                lambda: reads.jobs(conn, ns, 1000, source="normalized"),  # noqa: B023 (called at once, inside _pair)
                "normalized tables",
                "≥ 20x",
            )
            figures += _pair(
                f"run history, page of 100 ({label})",
                lambda: reads.job_runs(conn, ns, job, 100),  # noqa: B023 (called at once, inside _pair)
                lambda: reads.job_runs(conn, ns, job, 100, source="normalized"),  # noqa: B023 (called at once, inside _pair)
                "normalized tables",
                "≥ 15x",
            )
            figures += _pair(
                f"dashboard counts, last 7 days ({label})",
                lambda: reads.dashboard(conn, 7),
                lambda: reads.dashboard(conn, 7, source="normalized"),
                "normalized tables",
                "≥ 50x",
            )

            def no_index(fn: Callable[[], Any]) -> Callable[[], Any]:
                def call() -> Any:
                    with conn.transaction():
                        conn.execute("SET LOCAL enable_bitmapscan = off")
                        conn.execute("SET LOCAL enable_indexscan = off")
                        return fn()

                return call

            for kind, q in (("prefix", "job_1%"), ("substring", "ds_12")):
                fn = lambda q=q: reads.search(conn, q, limit=100)  # noqa: E731
                figures += _pair(
                    f"search {kind} {q!r} ({label})", fn, no_index(fn), "no trigram index", "≥ 10x"
                )
            _explain(conn, "job listing latest run",
                     "SELECT * FROM run_lineage_denormalized WHERE job_uuid = (SELECT uuid FROM lineage_jobs "
                     "LIMIT 1) ORDER BY created_at DESC LIMIT 1", None)  # fmt: skip
            _explain(conn, "search", "SELECT name FROM lineage_jobs WHERE name ILIKE %s", ("%ds_12%",))
            _explain(conn, "dashboard", "SELECT run_date, state, count(*) FROM run_lineage_denormalized "
                     "WHERE run_date >= current_date - 7 GROUP BY 1, 2", None)  # fmt: skip

            port = free_port()
            app = create_app(engines, None, ServerConfig(refresher=False))
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.05)
            try:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
                    node = f"job:{ns}:{job}"
                    for depth in (3, 20):

                        def over_http(depth: int = depth) -> Any:
                            answer = http.get("/api/v1/lineage", params={"nodeId": node, "depth": depth})  # noqa: B023 (called at once, inside _pair)
                            assert answer.status_code == 200
                            return answer.json()

                        figures += _pair(
                            f"lineage graph via HTTP, depth {depth} ({label}, "
                            f"{len(over_http()['graph'])} nodes)",
                            over_http,
                            lambda depth=depth: reads.lineage(conn, node, depth, source="normalized"),  # noqa: B023 (called at once, inside _pair)
                            "normalized tables (in-process, no HTTP)",
                            "p95 < 50 ms at depth 20",
                        )
            finally:
                server.should_exit = True
                thread.join(timeout=30)
            figures.append(Figure(NAME, f"store ({label})", counts["jobs"], "jobs"))
    return figures
