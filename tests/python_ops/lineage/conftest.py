"""Fixtures of the lineage tests: the compiled lineage models bound to this test's database, and the
server's app run by uvicorn in a thread."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from python_ops.engines.context import Engines
from python_ops.engines.postgres import free_port
from python_ops.lineage.batch import LineageModels
from python_ops.lineage.compiled import lineage_models
from python_ops.settings import MigrataSettings


@pytest.fixture
def models(settings: MigrataSettings) -> LineageModels:
    """The lineage models compiled once per session (cached under MIGRATA_HOME), dbt bound to this test."""
    return lineage_models(settings)


@pytest.fixture
def engines(settings: MigrataSettings) -> Engines:
    return Engines.from_settings(settings)


@contextlib.contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free port in a thread; yield its base URL; stop it on exit."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)
    assert not thread.is_alive(), "uvicorn did not stop"
