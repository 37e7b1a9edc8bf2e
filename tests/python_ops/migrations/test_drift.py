"""Drift: the live schema of each component against what its revisions create in a scratch database."""

from __future__ import annotations

from python_ops import migrations


def test_schema_at_heads_matches_and_drift_is_attributed_to_its_component(demoplug, dsn, conn):
    migrations.migrate(dsn, "demoplug@demoplug_0002")
    report = migrations.check(dsn)
    states = {c.component: c.state for c in report.components}
    assert states.pop("demoplug") == "behind head"  # not drift: demoplug_0003 is simply not applied
    assert set(states.values()) == {"ok"}, report.as_dict()
    assert not report.ok
    core = next(c for c in report.components if c.component == "core")
    assert core.objects >= 2 and core.expected_digest == core.live_digest

    migrations.migrate(dsn, "heads", allow_downtime=True)
    conn.execute("CREATE TABLE some_dbt_model (x int)")  # made by something else: ignored
    clean = migrations.check(dsn)
    assert clean.ok, clean.as_dict()
    assert "table:public.some_dbt_model" in clean.untracked

    conn.execute("CREATE INDEX by_hand_idx ON migrata_checkpoints (updated_at)")
    conn.execute("ALTER TABLE demoplug_items ALTER COLUMN doubled TYPE bigint")
    conn.execute("DROP INDEX demoplug_items_v_idx")
    drifted = migrations.check(dsn)
    assert not drifted.ok
    by_component = {c.component: c for c in drifted.components}
    assert by_component["core"].state == "drift"
    assert any("by_hand_idx is not created by any revision" in p for p in by_component["core"].problems)
    problems = " | ".join(by_component["demoplug"].problems)
    assert "-doubled integer" in problems and "+doubled bigint" in problems
    assert "index:public.demoplug_items_v_idx is missing" in problems
    assert by_component["core"].expected_digest != by_component["core"].live_digest
    assert {c.component for c in drifted.components if c.state == "drift"} == {"core", "demoplug"}
