"""The partitions assets: maintenance materializes, its blocking checks fail on DEFAULT rows, and the
daily schedule targets the maintenance job."""

from __future__ import annotations

import psycopg
from dagster import AssetKey

from python_ops.engines.context import Engines
from python_ops.partitions import manage
from python_ops.settings import MigrataSettings

MAINTENANCE = AssetKey(["partitions_maintenance"])


def _checks(result) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_maintenance_asset_checks_and_schedule(
    settings_env: MigrataSettings, conn: psycopg.Connection
) -> None:
    from dagster_defs.definitions import defs

    conn.execute("CREATE TABLE ev (at timestamptz NOT NULL) PARTITION BY RANGE (at)")
    conn.execute("CREATE TABLE ev_default PARTITION OF ev DEFAULT")
    conn.execute("INSERT INTO ev VALUES ('2001-01-01')")  # outside every managed range: stays in DEFAULT
    manage(Engines.from_settings(settings_env), "ev", premake=2)
    job = defs.resolve_implicit_global_asset_job_def()

    first = job.execute_in_process(asset_selection=[MAINTENANCE], raise_on_error=False)
    meta = first.asset_materializations_for_node("partitions_maintenance")[0].metadata
    assert meta["units_done"].value == 3 and meta["default_rows"].value == 1
    assert _checks(first) == {"partitions_future_exist": True, "partitions_default_empty": False}

    conn.execute("DELETE FROM ev")
    second = job.execute_in_process(asset_selection=[MAINTENANCE])
    assert second.success and _checks(second) == {
        "partitions_future_exist": True,
        "partitions_default_empty": True,
    }

    schedule = defs.resolve_schedule_def("partitions_daily_schedule")
    assert schedule.job_name == "partitions_maintain_job"
    status = job.execute_in_process(asset_selection=[AssetKey(["partitions_repartitionings"])])
    assert status.success
