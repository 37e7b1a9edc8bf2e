"""From scratch and at any point: every tree that exists at test time goes up and down keeping its rows."""

from __future__ import annotations

import migration_rows as rows
import psycopg

from python_ops import migrations
from python_ops.migrations.graph import load_graph
from python_ops.migrations.models import RevisionInfo

# migrata's own bookkeeping: a downgrade rightly forgets the checkpoints and records of what it undoes
BOOKKEEPING = {"migrata_checkpoints", "migrata_pending_migrations"}


def _data(conn: psycopg.Connection) -> dict[str, int]:
    return {t: n for t, n in rows.counts(conn).items() if t not in BOOKKEEPING}


def _below(info: RevisionInfo) -> str:
    """The downgrade target that undoes exactly `info`."""
    same_tree = [d for d in info.down_revision if d.startswith(f"{info.component}_")]
    return f"{info.component}@{same_tree[0]}" if same_tree else f"{info.component}@base"


def test_empty_database_to_heads_then_every_component_to_base_and_back(empty_dsn):
    graph = load_graph()
    result = migrations.migrate(empty_dsn, "heads")
    assert len(result.applied) == len(graph.revisions)
    assert result.applied[: len(graph.component_revisions("core"))] == ["core_0001", "core_0002"]
    assert migrations.current(empty_dsn) == {c: graph.head(c) for c in graph.components}
    assert migrations.status(empty_dsn).pending_total == 0

    # core last: the other trees' data migrations use its tables
    for component in sorted(graph.components, key=lambda c: c == "core"):
        migrations.downgrade(empty_dsn, f"{component}@base")
        assert migrations.current(empty_dsn)[component] is None
    with psycopg.connect(empty_dsn) as conn:
        assert rows.tables(conn) == []
    migrations.migrate(empty_dsn, "heads")
    assert migrations.current(empty_dsn) == {c: graph.head(c) for c in graph.components}


def test_every_revision_steps_down_and_up_with_rows_present(empty_dsn):
    order = [s.info for s in migrations.plan_upgrade(empty_dsn, "heads").steps]
    assert order, "no revisions at all"
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        for info in order:
            migrations.migrate(empty_dsn, info.revision, allow_downtime=True)
            rows.seed(conn)
        seeded = rows.counts(conn)
        assert sum(n > 0 for n in seeded.values()) >= 0.75 * len(seeded), seeded

        for info in reversed(order):
            before = _data(conn)
            migrations.downgrade(empty_dsn, _below(info))
            down = _data(conn)
            lost = {t: (before[t], down[t]) for t in before.keys() & down.keys() if down[t] < before[t]}
            assert not lost, f"{info.revision} downgrade lost rows: {lost}"

            migrations.migrate(empty_dsn, info.revision, allow_downtime=True)
            up = _data(conn)
            lost = {t: (down[t], up[t]) for t in down.keys() & up.keys() if up[t] < down[t]}
            assert not lost, f"{info.revision} upgrade lost rows: {lost}"
            assert migrations.current(empty_dsn)[info.component] == info.revision

            migrations.downgrade(empty_dsn, _below(info))
        assert set(migrations.current(empty_dsn).values()) == {None}
