"""Safety: the advisory lock, one transaction per revision, downtime declarations, placeholders."""

from __future__ import annotations

import threading
import time

import plugin_support as ps
import pytest

from python_ops import migrations
from python_ops.errors import MigrataError, PreconditionError


def _slow_tree(monkeypatch, tmp_path) -> None:
    ps.make_tree(
        monkeypatch,
        tmp_path,
        "slow",
        {
            "a.py": ps.revision_source(
                "slow_0001",
                None,
                component="slow",
                upgrade="op.execute('CREATE TABLE slow_t (x int)')\nop.execute('SELECT pg_sleep(1.5)')",
                downgrade="op.execute('DROP TABLE slow_t')",
            )
        },
    )


def _lock_held(conn) -> bool:
    return bool(
        conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('migrata:migrate:schema', 0)"
        ).fetchone()[0]
    )


def test_second_migrator_fails_clearly_or_waits_and_finds_nothing_to_do(monkeypatch, tmp_path, dsn, conn):
    _slow_tree(monkeypatch, tmp_path)
    results: dict[str, object] = {}

    def first() -> None:
        results["first"] = migrations.migrate(dsn, "slow")

    def waiter() -> None:
        results["waiter"] = migrations.migrate(dsn, "slow", lock_timeout_s=30)

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 10
    while not _lock_held(conn) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _lock_held(conn)
    waiting = threading.Thread(target=waiter)
    waiting.start()
    with pytest.raises(
        PreconditionError, match=r"migrate of schema is already running \(pid \d+ on .*gave up after 0.3s"
    ):
        migrations.migrate(dsn, "slow", lock_timeout_s=0.3)
    thread.join()
    waiting.join()
    assert results["first"].applied == ["slow_0001"]  # type: ignore[attr-defined]
    assert results["waiter"].applied == []  # type: ignore[attr-defined]  # planned under the lock
    assert migrations.current(dsn)["slow"] == "slow_0001"


def test_failed_revision_leaves_the_recorded_revision_unchanged(monkeypatch, tmp_path, dsn, conn):
    ps.make_tree(
        monkeypatch,
        tmp_path,
        "failing",
        {
            "a.py": ps.revision_source(
                "failing_0001", None, component="failing",
                upgrade="op.execute('CREATE TABLE failing_a (x int)')",
                downgrade="op.execute('DROP TABLE failing_a')",
            ),
            "b.py": ps.revision_source(
                "failing_0002", "failing_0001",
                upgrade="op.execute('CREATE TABLE failing_b (x int)')\nop.execute('SELECT 1 / 0')",
                downgrade="op.execute('DROP TABLE failing_b')",
            ),
        },
    )  # fmt: skip
    with pytest.raises(
        MigrataError, match=r"revision failing_0002 of component failing failed and was rolled"
    ):
        migrations.migrate(dsn, "failing")
    assert migrations.current(dsn)["failing"] == "failing_0001"  # its own transaction committed
    assert conn.execute("SELECT to_regclass('failing_a') IS NOT NULL").fetchone()[0]
    assert conn.execute("SELECT to_regclass('failing_b')").fetchone()[0] is None  # rolled back


def test_needs_downtime_is_refused_before_anything_runs(demoplug, dsn, conn):
    migrations.migrate(dsn, "demoplug@demoplug_0001")
    conn.execute("INSERT INTO demoplug_items (id, v) VALUES (1, 1), (2, 2)")
    with pytest.raises(PreconditionError, match=r"1 revisions need downtime: demoplug_0003 \(demoplug"):
        migrations.migrate(dsn, "heads")
    assert migrations.current(dsn)["demoplug"] == "demoplug_0001"  # demoplug_0002 was not run either

    held = migrations.migrate(dsn, "heads", stop_before_downtime=True)
    assert held.applied == ["demoplug_0002"] and held.held_back == ["demoplug_0003"]
    assert migrations.plan_upgrade(dsn).needs_downtime[0].info.revision == "demoplug_0003"

    done = migrations.migrate(dsn, "heads", allow_downtime=True)
    assert done.applied == ["demoplug_0003"]
    assert conn.execute("SELECT to_regclass('demoplug_items_v_idx') IS NOT NULL").fetchone()[0]


def test_installing_a_component_from_scratch_needs_no_downtime(demoplug, dsn):
    planned = migrations.plan_upgrade(dsn, "demoplug")
    assert [s.info.revision for s in planned.steps] == ["demoplug_0001", "demoplug_0002", "demoplug_0003"]
    assert planned.steps[2].info.online_safe is False and planned.needs_downtime == []
    migrations.migrate(dsn, "demoplug")
    assert migrations.current(dsn)["demoplug"] == "demoplug_0003"


def test_placeholders_reach_the_revision_as_x_arguments_and_through_the_helper(
    monkeypatch, tmp_path, dsn, conn
):
    upgrade = """
op.execute("CREATE TABLE ph_seen (k text, v text, source text)")
bind = op.get_bind()
for k, v in placeholders().items():
    bind.exec_driver_sql("INSERT INTO ph_seen VALUES (%(k)s, %(v)s, 'helper')", {"k": k, "v": v})
for k, v in context.get_x_argument(as_dictionary=True).items():
    bind.exec_driver_sql("INSERT INTO ph_seen VALUES (%(k)s, %(v)s, 'x')", {"k": k, "v": v})
"""
    ps.make_tree(
        monkeypatch,
        tmp_path,
        "ph",
        {
            "a.py": ps.revision_source(
                "ph_0001", None, component="ph", upgrade=upgrade,
                downgrade="op.execute('DROP TABLE ph_seen')",
                imports="from alembic import context\nfrom python_ops.migrations import placeholders\n",
            )
        },
    )  # fmt: skip
    migrations.migrate(dsn, "ph", chunk_size=50000, label="a=b")
    seen = set(conn.execute("SELECT k, v, source FROM ph_seen").fetchall())
    assert seen == {
        ("chunk_size", "50000", "helper"),
        ("label", "a=b", "helper"),
        ("chunk_size", "50000", "x"),
        ("label", "a=b", "x"),
    }
