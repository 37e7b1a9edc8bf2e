"""Own migrata's dbt project glue: where it is, its per-target manifests, and the env dbt reads.

The project's models depend on the target (lineage on Postgres, archive on ClickHouse), so each
target has its own manifest under `target/<target>/`. Nothing here runs at import time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from python_ops.errors import MigrataError
from python_ops.settings import MigrataSettings

PROJECT_DIR = Path(__file__).resolve().parents[1]
TARGETS = ("postgres", "clickhouse")


def target_path(target: str) -> Path:
    return PROJECT_DIR / "target" / target


def manifest_path(target: str) -> Path:
    return target_path(target) / "manifest.json"


def dbt_env(settings: MigrataSettings) -> dict[str, str]:
    """The MIGRATA_DBT_* variables `profiles.yml` reads, derived from migrata's settings."""
    env = {
        "MIGRATA_HOME": str(settings.home),
        "MIGRATA_CLICKHOUSE__PG_COLLECTION": settings.clickhouse.pg_collection,
    }
    if settings.postgres.dsn:
        parts = conninfo_to_dict(settings.postgres.dsn)
        env |= {
            "MIGRATA_DBT_PG_HOST": str(parts.get("host") or "127.0.0.1"),
            "MIGRATA_DBT_PG_PORT": str(parts.get("port") or 5432),
            "MIGRATA_DBT_PG_USER": str(parts.get("user") or "postgres"),
            "DBT_ENV_SECRET_MIGRATA_PG_PASSWORD": str(parts.get("password") or ""),
            "MIGRATA_DBT_PG_DBNAME": str(parts.get("dbname") or "postgres"),
        }
    else:
        env |= {
            "MIGRATA_DBT_PG_HOST": "127.0.0.1",
            "MIGRATA_DBT_PG_PORT": str(settings.postgres.port),
            "MIGRATA_DBT_PG_USER": settings.postgres.user,
            "MIGRATA_DBT_PG_DBNAME": settings.postgres.database,
        }
    if settings.clickhouse.url:
        from urllib.parse import unquote, urlparse

        url = urlparse(settings.clickhouse.url)
        env |= {
            "MIGRATA_DBT_CH_DRIVER": "http",
            "MIGRATA_DBT_CH_HOST": url.hostname or "localhost",
            "MIGRATA_DBT_CH_PORT": str(url.port or (8443 if url.scheme == "https" else 8123)),
            "MIGRATA_DBT_CH_USER": unquote(url.username or "default"),
            "DBT_ENV_SECRET_MIGRATA_CH_PASSWORD": unquote(url.password or ""),
            "MIGRATA_DBT_CH_SECURE": "true" if url.scheme == "https" else "false",
        }
    else:
        env |= {"MIGRATA_DBT_CH_DRIVER": "chdb", "MIGRATA_DBT_CH_HOST": str(settings.chdb_path)}
    env["MIGRATA_DBT_CH_DATABASE"] = settings.clickhouse.database
    return env


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(
    args: list[str], settings: MigrataSettings, *, capture: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the dbt CLI in the project with migrata's settings; raise a `MigrataError` if it fails."""
    env = os.environ | dbt_env(settings)
    result = subprocess.run(
        [dbt_executable(), *args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)],
        cwd=PROJECT_DIR,
        env=env,
        text=True,
        capture_output=capture,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stdout or "")[-2000:] if capture else ""
        raise MigrataError(
            f"dbt {' '.join(args)} failed (exit {result.returncode}){': ' + tail if tail else ''}",
            hint="read dbt's output above, or logs/dbt.log",
        )
    return result


def ensure_manifests(settings: MigrataSettings, *, force: bool = False) -> list[Path]:
    """Parse the project for each target whose manifest is missing or older than the project files."""
    newest = max(
        p.stat().st_mtime
        for p in [*PROJECT_DIR.joinpath("dbt_project").rglob("*"), PROJECT_DIR / "dbt_project.yml"]
        if p.is_file()
    )
    written = []
    for target in TARGETS:
        manifest = manifest_path(target)
        if force or not manifest.exists() or manifest.stat().st_mtime < newest:
            run_dbt(
                ["parse", "--quiet", "--target", target, "--target-path", str(target_path(target))],
                settings,
                capture=True,
            )
            written.append(manifest)
    return written


if __name__ == "__main__":  # `python -m python_ops.dbt_project`: what `make` runs before Dagster
    from python_ops.settings import load_settings

    for path in ensure_manifests(load_settings()):
        print(f"parsed {path.relative_to(PROJECT_DIR)}")
