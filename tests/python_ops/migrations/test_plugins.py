"""Plugins: trees discovered through the `migrata.migrations` entry points; faults are one clear error."""

from __future__ import annotations

import plugin_support as ps
import psycopg
import pytest

from python_ops import migrations
from python_ops.errors import ConfigError, EngineError


def _nothing_applied(dsn: str, before: dict[str, str | None]) -> None:
    assert migrations.current(dsn) == before


def test_plugin_tree_is_discovered_and_upgraded(demoplug, dsn, conn):
    assert "demoplug" in migrations.components()
    before = migrations.current(dsn)
    assert before["demoplug"] is None
    result = migrations.migrate(dsn, "demoplug")  # component alone means demoplug@head
    assert result.applied == ["demoplug_0001", "demoplug_0002", "demoplug_0003"]
    assert migrations.current(dsn)["demoplug"] == "demoplug_0003"
    assert conn.execute("SELECT to_regclass('demoplug_items') IS NOT NULL").fetchone()[0]
    migrations.downgrade(dsn, "demoplug@base")
    assert migrations.current(dsn)["demoplug"] is None
    assert migrations.current(dsn) == before


def test_plugin_that_fails_to_import_is_one_clear_error(monkeypatch, tmp_path, empty_dsn):
    site = ps.write_dist(tmp_path / "site", "broken_plugin", {"broken": "no_such_module_xyz:locations"})
    ps.install(monkeypatch, site)
    with pytest.raises(
        ConfigError, match=r"plugin 'broken' \(no_such_module_xyz:locations\) failed to import"
    ):
        migrations.migrate(empty_dsn, "heads")
    with psycopg.connect(empty_dsn) as conn:  # nothing applied, not even the version table
        assert conn.execute("SELECT to_regclass('alembic_version')").fetchone()[0] is None


def test_two_heads_in_one_tree_is_one_clear_error(monkeypatch, tmp_path, dsn):
    before = migrations.current(dsn)
    ps.make_tree(
        monkeypatch,
        tmp_path,
        "forked",
        {
            "a.py": ps.revision_source(
                "forked_0001", None, component="forked", upgrade="op.execute('CREATE TABLE f (x int)')",
                downgrade="op.execute('DROP TABLE f')",
            ),
            "b.py": ps.revision_source(
                "forked_0002", "forked_0001", upgrade="op.execute('SELECT 1')", downgrade="pass"
            ),
            "c.py": ps.revision_source(
                "forked_0003", "forked_0001", upgrade="op.execute('SELECT 1')", downgrade="pass"
            ),
        },
    )  # fmt: skip
    with pytest.raises(ConfigError, match="component 'forked' has 2 heads: forked_0002, forked_0003"):
        migrations.migrate(dsn, "heads")
    monkeypatch.undo()
    _nothing_applied(dsn, before)


def test_missing_declarations_are_refused_before_anything_runs(monkeypatch, tmp_path, dsn):
    before = migrations.current(dsn)
    ps.make_tree(
        monkeypatch,
        tmp_path,
        "undeclared",
        {
            "a.py": ps.revision_source(
                "undeclared_0001", None, component="undeclared", declarations="online_safe = True",
                upgrade="op.execute('CREATE TABLE u (x int)')", downgrade="op.execute('DROP TABLE u')",
            )
        },
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"undeclared_0001 .* lacks backward_compatible, forward_"):
        migrations.migrate(dsn, "heads")
    assert migrations.current(dsn) == before | {"undeclared": None}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nosuch", "unknown component or revision 'nosuch'"),
        ("nosuch@head", "unknown component 'nosuch'"),
        ("core@lineage_0001", "unknown revision 'lineage_0001' in component 'core'"),
        ("core@core_9999", "unknown revision 'core_9999' in component 'core'"),
    ],
)
def test_unknown_component_or_revision_is_one_clear_error(empty_dsn, target, message):
    with pytest.raises(ConfigError, match=message):
        migrations.migrate(empty_dsn, target)
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT to_regclass('alembic_version')").fetchone()[0] is None


def test_uri_that_does_not_connect_is_one_clear_error(pg_server):
    with pytest.raises(EngineError, match=r"cannot connect to Postgres at postgres@127\.0\.0\.1:1/nowhere"):
        migrations.migrate("postgresql://postgres@127.0.0.1:1/nowhere", "heads")
    with pytest.raises(ConfigError, match="cannot parse the repository URI"):
        migrations.migrate("postgresql://bad uri with spaces:xx/", "heads")
