"""Own the dbt projects Dagster loads: the one dbt project of the package, one `DbtProject` per target.

The manifests live under `<MIGRATA_HOME>/dbt/target/<target>/` and are parsed on first use (and when a
project file changed), like `DbtProject.prepare_if_dev()` does under `dagster dev`: an installed
migrata needs no build step before `dagster dev -m dagster_defs`.
"""

from __future__ import annotations

from dagster_dbt import DbtProject

from python_ops.dbt_project import PROJECT_DIR, ensure_manifest, target_path
from python_ops.settings import load_settings

_settings = load_settings()


def _project(target: str) -> DbtProject:
    ensure_manifest(_settings, target)
    return DbtProject(
        project_dir=PROJECT_DIR,
        profiles_dir=PROJECT_DIR,
        target=target,
        target_path=target_path(_settings, target),
    )


postgres_project = _project("postgres")
clickhouse_project = _project("clickhouse")
