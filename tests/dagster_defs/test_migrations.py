"""The migration assets: on-demand upgrades run online-safe revisions only; status; the drift check."""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
import pytest

from python_ops import migrations
from python_ops.settings import MigrataSettings

sys.path.insert(0, str(Path(__file__).parents[1] / "plugins"))

import plugin_support as ps


def _checks(result) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_upgrade_job_runs_online_safe_only_and_status_and_check_follow(
    settings_env: MigrataSettings, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dagster_defs.definitions import defs

    ps.install_demo_plugin(monkeypatch, tmp_path)
    dsn = settings_env.postgres.dsn
    assert dsn
    migrations.migrate(dsn, "demoplug@demoplug_0001")  # installed: demoplug_0003 now needs downtime

    job = defs.resolve_job_def("migrations_upgrade_job")
    first = job.execute_in_process(raise_on_error=False)
    assert first.success
    upgrade = first.asset_materializations_for_node("migrations__migrations_upgrade")[0].metadata
    assert upgrade["revisions"].value == ["demoplug_0002"]
    assert upgrade["held_back_needing_downtime"].value == ["demoplug_0003"]
    status = first.asset_materializations_for_node("migrations__migrations_status")[0].metadata
    assert status["demoplug_current"].value == "demoplug_0002" and status["demoplug_pending"].value == 1
    assert status["core_head"].value == "core_0002"
    assert _checks(first) == {  # behind head, not drift; the pending revisions passed lint
        "migrations_pending_revisions_pass_lint": True,
        "migrations_schema_matches_head": False,
    }
    assert migrations.current(dsn)["demoplug"] == "demoplug_0002"

    migrations.migrate(dsn, "heads", allow_downtime=True)  # an operator, in a maintenance window
    second = job.execute_in_process()
    assert (
        second.asset_materializations_for_node("migrations__migrations_upgrade")[0].metadata["applied"].value
        == 0
    )
    assert _checks(second) == {
        "migrations_pending_revisions_pass_lint": True,
        "migrations_schema_matches_head": True,
    }


def test_lint_gate_blocks_the_upgrade_when_a_pending_revision_fails(
    settings_env: MigrataSettings, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dagster_defs.definitions import defs

    ps.install_lint_fixtures(monkeypatch, tmp_path)
    dsn = settings_env.postgres.dsn
    assert dsn
    migrations.migrate(dsn, "linthaz@linthaz_0001")  # installed: its hazards would now run on a live table
    conn.execute("INSERT INTO linthaz_items (id, v) SELECT g, g FROM generate_series(1, 50) g")
    monkeypatch.setenv("MIGRATA_MIGRATIONS__LINT_BIG_TABLE_ROWS", "10")

    result = defs.resolve_job_def("migrations_upgrade_job").execute_in_process(raise_on_error=False)
    assert _checks(result) == {"migrations_pending_revisions_pass_lint": False}
    (evaluation,) = result.get_asset_check_evaluations()
    failures = "\n".join(evaluation.metadata["failures"].value)
    assert "CREATE INDEX linthaz_items_v_idx" in failures and "50 rows" in failures
    assert result.asset_materializations_for_node("migrations__migrations_upgrade") == []  # blocked
    assert migrations.current(dsn)["linthaz"] == "linthaz_0001"
