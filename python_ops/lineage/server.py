"""Own the HTTP server of `migrata lineage serve`: OpenLineage producers POST here, reads come fresh.

- `POST /api/v1/lineage` (the OpenLineage HTTP transport's endpoint): one event or a JSON array, gzip
  or not. 201 means committed. Every bad input is a 4xx with a JSON body and writes nothing of the
  request: 415 for a Content-Type other than JSON or an unknown Content-Encoding, 413 for a body over
  `max_body_bytes` or a gzip body inflating past `max_decompressed_bytes`, 400 for bad gzip, bad JSON
  (NaN, nesting past the decoder or `max_json_depth`), a lone surrogate or a NUL in a string, an
  eventTime outside the window, a runId that belongs to another job, naming the field.
- Handlers never block the event loop: decoding and validation of a body over 16 KiB (or gzip) run in
  the thread pool (a small one on the loop: tens of microseconds, less than the hop), writes in
  group-commit writer threads (`GroupCommitter`): the events of concurrent requests are written in one
  transaction, each request answered when it committed. Reads use their own psycopg_pool, on the read
  replica `read_dsn` (`MIGRATA_POSTGRES__READ_DSN`) when one is set, else on the store's DSN: a burst of
  reads never waits behind the writers' connections.
- Reads in Marquez's paths and shapes (`api.py`: lineage, column-lineage, namespaces, jobs, datasets,
  runs, search, stats) from the denormalized tables and `lineage_graph_edges`, which the micro-batch
  refresher (`refresher.py`, one leader across the worker processes) keeps within about a second of
  what was accepted; a repeated read with nothing committed since is answered from the per-process
  `ReadCache` (read_cache.py: validated by the database's snapshot, so never stale).
- `GET /api/v1/health`: database reachable, pool and refresher state.
- Shutdown (SIGTERM/SIGINT through uvicorn): no new requests; the writers drain what was accepted,
  the refresher runs a last batch, the pool closes.

Routers are plain FastAPI `APIRouter`s: ingestion and health here, Marquez's reads in `api.py`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from python_ops.db import pin_sessions
from python_ops.engines.context import Engines
from python_ops.lineage.api import marquez_router
from python_ops.lineage.batch import LineageModels
from python_ops.lineage.events import Event, EventError, TimeWindow, loads, validate
from python_ops.lineage.ingest import RunConflict, prepare, write
from python_ops.lineage.raw import forget_partitions
from python_ops.lineage.read_cache import ReadCache
from python_ops.lineage.refresher import Refresher
from python_ops.lineage.states import RunStates, load_run_states

log = logging.getLogger("migrata.lineage.server")
# a body this small is decoded and validated on the event loop (tens of microseconds): the hop to the
# thread pool and back costs more than the work; larger or gzip bodies go to the pool
INLINE_PARSE_BYTES = 16 * 1024


@dataclass(frozen=True)
class ServerConfig:
    """Limits and sizes of one server process (from `LineageSettings`)."""

    max_body_bytes: int = 8 * 1024 * 1024
    max_decompressed_bytes: int = 32 * 1024 * 1024
    max_json_depth: int = 64
    window: TimeWindow = field(default_factory=TimeWindow)
    pool_size: int = 4
    writers: int = 2
    group_max_events: int = 2_000
    refresh_interval_s: float = 0.5
    refresher: bool = True
    read_dsn: str | None = None  # a read replica for the read endpoints; None: the store's DSN
    read_cache_bytes: int = 64 * 1024 * 1024  # per process; 0: no read cache (read_cache.py)


class RequestError(Exception):
    """A request refused before anything is written: HTTP status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


def _invalid(field_: str, message: str, location: str | None = None) -> RequestError:
    body = {"error": "invalid OpenLineage event", "field": field_, "message": message}
    if location:
        body["location"] = location
    return RequestError(400, body)


@dataclass
class _Pending:
    events: list[Event]
    future: concurrent.futures.Future[dict[str, Any]]


class GroupCommitter:
    """Writer threads writing the events of every waiting request in one transaction (group commit).

    A request whose event is refused by the database (a runId of another job) gets its 400 and the
    others are written again without it: a request is all or nothing.
    """

    def __init__(self, pool: ConnectionPool, states: RunStates, *, writers: int, max_events: int) -> None:
        self.pool = pool
        self.states = states
        self.max_events = max_events
        self.queue: queue.Queue[_Pending | None] = queue.Queue()
        self.threads = [
            threading.Thread(target=self._loop, name=f"lineage-writer-{i}", daemon=True)
            for i in range(writers)
        ]
        self.groups = 0

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def submit(self, events: list[Event]) -> concurrent.futures.Future[dict[str, Any]]:
        pending = _Pending(events, concurrent.futures.Future())
        self.queue.put(pending)
        return pending.future

    def stop(self) -> None:
        """Write what is queued, then end the writer threads."""
        for _ in self.threads:
            self.queue.put(None)
        for t in self.threads:
            t.join(timeout=60)

    def _take(self) -> list[_Pending] | None:
        first = self.queue.get()
        if first is None:
            return None
        group, size = [first], len(first.events)
        while size < self.max_events:
            try:
                nxt = self.queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                self.queue.put(None)  # for this thread's next turn: stop after this group
                break
            group.append(nxt)
            size += len(nxt.events)
        return group

    def _loop(self) -> None:
        while True:
            group = self._take()
            if group is None:
                return
            try:
                self._write(group)
            except Exception as exc:  # the database failed: every request of the group gets a 503
                log.warning("lineage writer: %s", exc)
                for p in group:
                    if not p.future.done():
                        p.future.set_exception(exc)

    def _write(self, group: list[_Pending]) -> None:
        for attempt in range(len(group) + 3):
            events = [e for p in group for e in p.events]
            owner = [k for k, p in enumerate(group) for _ in p.events]
            try:
                with self.pool.connection() as conn:
                    prepare(conn, events)
                    with conn.transaction():
                        fresh, _runs = write(conn, events, self.states)
            except RunConflict as exc:  # refuse those requests whole, write the others again
                bad = {owner[i] for i in exc.rejected}
                for k in bad:
                    message = next(m for i, m in exc.rejected.items() if owner[i] == k)
                    group[k].future.set_result({"status": 400, "field": "run.runId", "error": message})
                group = [p for k, p in enumerate(group) if k not in bad]
                if not group:
                    return
                continue
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                if attempt >= 2:
                    raise
                continue
            except psycopg.errors.CheckViolation as exc:  # a month retention dropped: made again once
                if "no partition" not in str(exc) or attempt:
                    raise
                forget_partitions()
                continue
            except psycopg.DataError as exc:
                if len(group) == 1:
                    group[0].future.set_result({"status": 400, "error": str(exc).splitlines()[0]})
                    return
                for p in group:  # find the request the database refuses: one by one
                    self._write([p])
                return
            self.groups += 1
            for p in group:
                stored = sum(1 for e in p.events if e.event_id in fresh)
                fresh -= {e.event_id for e in p.events}
                p.future.set_result({"status": 201, "received": len(p.events), "stored": stored})
            return
        raise RuntimeError("lineage writer: the group could not be written")


def _decode(body: bytes, encoding: str, config: ServerConfig) -> Any:
    if encoding == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(body, config.max_decompressed_bytes + 1)
        except zlib.error as exc:
            raise _invalid("body", f"Content-Encoding is gzip but the body is not gzip data: {exc}") from None
        if len(body) > config.max_decompressed_bytes or inflater.unconsumed_tail:
            raise RequestError(
                413,
                {"error": "request body too large once decompressed",
                 "limit_bytes": config.max_decompressed_bytes},
            )  # fmt: skip
        if not inflater.eof:
            raise _invalid("body", "Content-Encoding is gzip but the gzip data is truncated")
    try:
        return loads(body)
    except EventError as exc:
        raise _invalid("body", exc.message) from None


def _parse(body: bytes, encoding: str, config: ServerConfig, states: RunStates) -> list[Event]:
    """Body → validated events, all or nothing; a `RequestError` names the first problem."""
    decoded = _decode(body, encoding, config)
    items = decoded if isinstance(decoded, list) else [decoded]
    events = []
    for i, item in enumerate(items):
        try:
            events.append(
                validate(item, states=states.names, window=config.window, max_depth=config.max_json_depth)
            )
        except EventError as exc:
            raise _invalid(exc.field, exc.message, f"index {i}" if len(items) > 1 else None) from None
    if not events:
        raise _invalid("body", "an empty array holds no event")
    return events


def create_app(engines: Engines, models: LineageModels | None, config: ServerConfig | None = None) -> FastAPI:
    """The app: `models` None runs no refresher (reads then come from dbt refreshes only)."""
    config = config or ServerConfig()
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        pin_sessions()  # the pools' connections are opened by psycopg_pool, not db.connect
        pool = ConnectionPool(
            engines.postgres_dsn,
            min_size=1,
            max_size=config.pool_size,
            kwargs={"autocommit": True, "application_name": "migrata lineage serve"},
            open=True,
        )
        read_pool = ConnectionPool(
            config.read_dsn or engines.postgres_dsn,
            min_size=1,
            max_size=config.pool_size,
            kwargs={"autocommit": True, "application_name": "migrata lineage serve (reads)"},
            open=True,
        )
        with pool.connection() as conn:
            states = load_run_states(conn)
        committer = GroupCommitter(pool, states, writers=config.writers, max_events=config.group_max_events)
        committer.start()
        refresher = (
            Refresher(engines, models, interval_s=config.refresh_interval_s)
            if models and config.refresher
            else None
        )
        if refresher:
            refresher.start()
        state.update(pool=pool, read_pool=read_pool, states=states, committer=committer, refresher=refresher,
                     read_cache=ReadCache(config.read_cache_bytes))  # fmt: skip
        try:
            yield
        finally:
            committer.stop()  # what was accepted is written before the process ends
            if refresher:
                refresher.stop()
            read_pool.close()
            pool.close()

    app = FastAPI(title="migrata lineage", version="2", lifespan=lifespan)
    app.include_router(ingest_router(config, state))
    app.include_router(read_router(state))
    app.include_router(marquez_router(state))
    return app


def ingest_router(config: ServerConfig, state: dict[str, Any]) -> APIRouter:
    router = APIRouter()

    @router.post("/api/v1/lineage", status_code=201)
    async def receive(request: Request) -> Any:
        """Ingest one OpenLineage event (or an array of them); 201 once committed."""
        try:
            media = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media != "application/json" and not media.endswith("+json"):
                raise RequestError(
                    415, {"error": "unsupported Content-Type", "content_type": media or None,
                          "expected": "application/json"},
                )  # fmt: skip
            encoding = request.headers.get("content-encoding", "identity").strip().lower() or "identity"
            if encoding not in ("identity", "gzip"):
                raise RequestError(
                    415, {"error": "unsupported Content-Encoding", "content_encoding": encoding,
                          "expected": "gzip or none"},
                )  # fmt: skip
            declared = request.headers.get("content-length", "")
            too_large = RequestError(
                413, {"error": "request body too large", "limit_bytes": config.max_body_bytes}
            )
            if declared.isdigit() and int(declared) > config.max_body_bytes:
                raise too_large
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > config.max_body_bytes:
                    raise too_large
            if len(body) <= INLINE_PARSE_BYTES and encoding == "identity":
                events = _parse(bytes(body), encoding, config, state["states"])
            else:
                events = await run_in_threadpool(_parse, bytes(body), encoding, config, state["states"])
        except RequestError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
        try:
            result = await asyncio.wrap_future(state["committer"].submit(events))
        except Exception as exc:
            return JSONResponse(
                {"error": "the store is unavailable", "message": str(exc)[:200]}, status_code=503
            )
        status = result.pop("status")
        if status != 201:
            body_ = {"error": "invalid OpenLineage event", "field": result.get("field", "event"),
                     "message": result["error"]}  # fmt: skip
            return JSONResponse(body_, status_code=status)
        return JSONResponse(result, status_code=201)

    return router


def read_router(state: dict[str, Any]) -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/health")
    async def health() -> Any:
        """Database reachable, pool and refresher state."""

        def check() -> dict[str, Any]:
            with state["pool"].connection(timeout=5) as conn:
                conn.execute("SELECT 1")
            with state["read_pool"].connection(timeout=5) as conn:
                conn.execute("SELECT 1")
            return {"status": "ok", "pool": state["pool"].get_stats(),
                    "read_pool": state["read_pool"].get_stats(),
                    "refresher": state["refresher"].status() if state["refresher"] else None,
                    "read_cache": state["read_cache"].stats(),
                    "groups_committed": state["committer"].groups}  # fmt: skip

        try:
            return await run_in_threadpool(check)
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "message": str(exc)[:200]}, status_code=503)

    return router


def config_from_settings(settings: Any) -> ServerConfig:
    cfg = settings.lineage
    return ServerConfig(
        max_body_bytes=cfg.max_body_bytes,
        max_decompressed_bytes=cfg.max_decompressed_bytes,
        max_json_depth=cfg.max_json_depth,
        window=TimeWindow(cfg.earliest_event_time, timedelta(hours=cfg.max_future_hours)),
        pool_size=cfg.pool_size,
        writers=cfg.writers,
        group_max_events=cfg.group_max_events,
        refresh_interval_s=cfg.refresh_interval_s,
        refresher=cfg.refresher,
        read_dsn=settings.postgres.read_dsn,
    )


def app_from_env() -> FastAPI:
    """uvicorn's app factory in each worker process: settings are read here (an edge)."""
    from python_ops.lineage.compiled import lineage_models
    from python_ops.settings import load_settings

    settings = load_settings()
    config = config_from_settings(settings)
    models = lineage_models(settings) if config.refresher else None
    return create_app(Engines.from_settings(settings), models, config)
