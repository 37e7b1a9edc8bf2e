"""Own the HTTP endpoint `POST /api/v1/lineage` (the OpenLineage HTTP transport's default endpoint).

Accepts one event (or a JSON array of events), gzip-compressed or not, as the openlineage-python
client sends them; answers 201 with what was stored, or 400 with a JSON body naming the offending
field — nothing of a rejected request is written. `GET /api/v1/lineage?nodeId=…&depth=…` answers a
lineage graph from the denormalized tables.
"""

from __future__ import annotations

import gzip
import json
import threading
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from python_ops.db import connect
from python_ops.errors import MigrataError
from python_ops.lineage.events import EventError, validate
from python_ops.lineage.graph import lineage_graph
from python_ops.lineage.ingest import ingest


class _Connection:
    """One Postgres connection shared by the requests, one request at a time, reopened if it broke."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.lock = threading.Lock()
        self.conn: psycopg.Connection | None = None

    def get(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.conn = connect(self.dsn)
        return self.conn


def _bad_request(field: str, message: str, location: str | None = None) -> JSONResponse:
    body = {"error": "invalid OpenLineage event", "field": field, "message": message}
    if location:
        body["location"] = location
    return JSONResponse(body, status_code=400)


def create_app(dsn: str) -> FastAPI:
    """The FastAPI app writing to the Postgres at `dsn`."""
    app = FastAPI(title="migrata lineage", version="1")
    shared = _Connection(dsn)

    @app.post("/api/v1/lineage", status_code=201)
    async def receive(request: Request) -> Any:
        """Ingest one OpenLineage event (or an array of them)."""
        raw = await request.body()
        if request.headers.get("content-encoding", "").lower() == "gzip":
            raw = gzip.decompress(raw)
        try:
            decoded = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return _bad_request("body", f"not JSON: {exc}")
        events = decoded if isinstance(decoded, list) else [decoded]
        located = [(f"index {i}", e) for i, e in enumerate(events)]
        for location, event in located:  # all or nothing: validate the whole request first
            try:
                validate(event)
            except EventError as exc:
                return _bad_request(exc.field, exc.message, location if len(events) > 1 else None)
        with shared.lock:
            conn = shared.get()
            result = ingest(conn, located)
            conn.commit()
        if result.rejected:
            r = result.rejected[0]
            return _bad_request(r.field, r.message, r.location)
        return JSONResponse({"received": result.received, "stored": result.stored}, status_code=201)

    @app.get("/api/v1/lineage")
    def graph(nodeId: str, depth: int = 3, direction: str = "both") -> Any:
        """The lineage graph around a node, from the denormalized tables."""
        with shared.lock:
            conn = shared.get()
            try:
                return lineage_graph(conn, nodeId, depth, direction)  # type: ignore[arg-type]
            except MigrataError as exc:
                return JSONResponse({"error": exc.message, "hint": exc.hint}, status_code=400)
            finally:
                conn.rollback()

    return app
