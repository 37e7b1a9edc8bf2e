"""Own the read endpoints of `migrata lineage serve` in Marquez's paths and shapes (the reads: reads.py).

Every read runs in the thread pool on a pooled connection (the read pool: `MIGRATA_POSTGRES__READ_DSN`
when set), from the denormalized tables and `lineage_graph_edges`; the JSON text the read's statement
built is the response body as is (no decoding, no re-encoding in Python). Answers go through the
snapshot-validated `ReadCache` (read_cache.py): a repeated request with nothing committed since is one
round trip; the dashboard, which depends on the date, is always read. Bad parameters are a 400, an
unknown namespace, job, run or node a 404, each with a JSON body `{"code", "message", "hint"}` (Marquez
answers errors as `{"code", "message"}`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from python_ops.errors import MigrataError
from python_ops.lineage import reads
from python_ops.lineage.read_cache import ReadCache


def marquez_router(state: dict[str, Any]) -> APIRouter:
    """GET /api/v1/{lineage, column-lineage, namespaces, namespaces/{ns}/jobs|datasets,
    namespaces/{ns}/jobs/{job}/runs, jobs/runs/{id}, search, stats/runs}."""
    router = APIRouter()

    async def answer(read: Callable[..., str], *args: Any, cached: bool = True, **kwargs: Any) -> Any:
        cache: ReadCache | None = state.get("read_cache") if cached else None

        def call() -> bytes | str:
            with state["read_pool"].connection() as conn:
                if cache is None:
                    return read(conn, *args, **kwargs)
                key = (read.__name__, args, tuple(sorted(kwargs.items())))
                return cache.read(conn, key, lambda c: read(c, *args, **kwargs))

        try:
            return Response(await run_in_threadpool(call), media_type="application/json")
        except reads.NotFound as exc:
            return JSONResponse({"code": 404, "message": exc.message, "hint": exc.hint}, status_code=404)
        except MigrataError as exc:
            return JSONResponse({"code": 400, "message": exc.message, "hint": exc.hint}, status_code=400)

    limit_q = Query(reads.DEFAULT_LIMIT, ge=0, description="Page size (Marquez's default 100).")
    offset_q = Query(0, ge=0, description="Rows to skip.")

    @router.get("/api/v1/lineage")
    async def lineage(
        nodeId: str | None = None,  # Marquez's parameter name
        depth: int = Query(reads.DEFAULT_DEPTH, ge=0),
        direction: str = "both",
        type: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
    ) -> Any:
        """Marquez's LineageGraph around a node, from lineage_graph_edges (nodeId, or type+namespace+name)."""
        node: str | tuple[str, str, str] | None = nodeId
        if type and namespace and name:
            node = (type, namespace, name)
        if node is None:
            return JSONResponse(
                {"code": 400, "message": "nodeId is required (or type, namespace and name)"}, status_code=400
            )
        return await answer(reads.lineage_json, node, depth, direction)

    @router.get("/api/v1/column-lineage")
    async def column_lineage(
        nodeId: str, depth: int = Query(reads.DEFAULT_DEPTH, ge=0), withDownstream: bool = False
    ) -> Any:
        """Field-level lineage of a dataset (`dataset:NS:NAME`) or a field (`datasetField:NS:NAME:FIELD`)."""
        return await answer(reads.column_lineage_json, nodeId, depth, withDownstream)

    @router.get("/api/v1/namespaces")
    async def namespaces(limit: int = limit_q, offset: int = offset_q) -> Any:
        """Every namespace."""
        return await answer(reads.namespaces_json, limit, offset)

    @router.get("/api/v1/namespaces/{namespace}/jobs")
    async def jobs(namespace: str, limit: int = limit_q, offset: int = offset_q) -> Any:
        """The jobs of a namespace, each with its latest run and state."""
        return await answer(reads.jobs_json, namespace, limit, offset)

    @router.get("/api/v1/namespaces/{namespace}/datasets")
    async def datasets(namespace: str, limit: int = limit_q, offset: int = offset_q) -> Any:
        """The datasets of a namespace."""
        return await answer(reads.datasets_json, namespace, limit, offset)

    @router.get("/api/v1/namespaces/{namespace}/jobs/{job}/runs")
    async def job_runs(namespace: str, job: str, limit: int = limit_q, offset: int = offset_q) -> Any:
        """Run history of a job, newest first."""
        return await answer(reads.job_runs_json, namespace, job, limit, offset)

    @router.get("/api/v1/jobs/runs/{run_id}")
    async def run(run_id: str) -> Any:
        """One run."""
        return await answer(reads.run_json, run_id)

    @router.get("/api/v1/search")
    async def search(
        q: str,
        filter: str | None = None,
        sort: str = "name",
        limit: int = Query(reads.SEARCH_LIMIT, ge=0),
        namespace: str | None = None,
    ) -> Any:
        """Jobs and datasets whose name matches q (Marquez's default limit 10)."""
        return await answer(reads.search_json, q, filter, sort, limit, namespace)

    @router.get("/api/v1/stats/runs")
    async def stats_runs(days: int = Query(7, ge=0)) -> Any:
        """Dashboard counts: runs per day and state over the last `days` days (migrata's shape)."""
        return await answer(reads.dashboard_json, days, cached=False)  # "the last days": depends on the date

    return router
