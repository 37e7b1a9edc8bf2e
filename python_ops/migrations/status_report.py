"""Own `migrate status`: each component's current revision, head and pending count, and the recorded
data migrations.

It reads the revision files' source and one connection, and never loads Alembic, so the verb starts
like a light tool.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from python_ops.db import connect
from python_ops.migrations import pending as pending_store
from python_ops.migrations.graph import Graph, load_graph
from python_ops.migrations.models import ComponentStatus, StatusReport
from python_ops.migrations.plan import current_by_component, read_heads
from python_ops.migrations.uri import resolve_uri


@contextmanager
def session(repository_uri: str) -> Iterator[tuple[str, Graph, psycopg.Connection]]:
    """Load the graph first (a broken tree or plugin fails before any connection), then connect."""
    graph = load_graph()
    dsn = resolve_uri(repository_uri)
    with connect(dsn, autocommit=True) as conn:
        yield dsn, graph, conn


def status(repository_uri: str) -> StatusReport:
    """Each component's current revision, head and pending count, plus recorded data migrations."""
    with session(repository_uri) as (_dsn, graph, conn):
        cur = current_by_component(graph, read_heads(conn))
        rows = []
        for component in graph.components:
            revs = graph.component_revisions(component)
            ids = [r.revision for r in revs]
            at = ids.index(cur[component]) + 1 if cur.get(component) in ids else 0
            todo = revs[at:]
            rows.append(
                ComponentStatus(
                    component,
                    cur.get(component),
                    graph.head(component),
                    len(todo),
                    sum(r.online_safe is False for r in todo) if at else 0,
                )
            )
        data = [p.as_dict() for p in pending_store.load(conn)]
    return StatusReport(rows, data)
