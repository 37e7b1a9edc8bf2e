"""Own migrata's dbt project glue: where the project is, where its artifacts go, the env dbt reads.

The dbt project ships inside the package (`python_ops/dbt/`), so an installed migrata runs it from any
directory. Nothing is written next to it: targets, manifests and logs go under `<MIGRATA_HOME>/dbt/`.
The project's models depend on the target (lineage on Postgres, archive on ClickHouse), so each
target has its own manifest, parsed on first use and again whenever a project file is newer.
Nothing here runs at import time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from python_ops.errors import MigrataError
from python_ops.settings import MigrataSettings

PROJECT_DIR = Path(__file__).resolve().parent / "dbt"
TARGETS = ("postgres", "clickhouse")


def artifacts_dir(settings: MigrataSettings) -> Path:
    """Where dbt writes targets and logs for this MIGRATA_HOME."""
    return settings.home / "dbt"


def target_path(settings: MigrataSettings, target: str) -> Path:
    return artifacts_dir(settings) / "target" / target


def manifest_path(settings: MigrataSettings, target: str) -> Path:
    return target_path(settings, target) / "manifest.json"


SSL_FILES = ("sslrootcert", "sslcert", "sslkey")  # DSN parameters dbt's Postgres profile takes too


def dbt_env(settings: MigrataSettings) -> dict[str, str]:
    """The variables `profiles.yml` and dbt read, derived from migrata's settings."""
    env = {
        "MIGRATA_HOME": str(settings.home),
        "MIGRATA_CLICKHOUSE__PG_COLLECTION": settings.clickhouse.pg_collection,
        "DBT_LOG_PATH": str(artifacts_dir(settings) / "logs"),
        # dagster-dbt runs each invocation in a subdirectory of this (a relative one lands in the package)
        "DBT_TARGET_PATH": str(artifacts_dir(settings) / "target" / "runs"),
        # no `.user.yml` written beside profiles.yml (inside the package) and no tracking calls
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    if settings.postgres.dsn:
        parts = conninfo_to_dict(settings.postgres.dsn)
        env |= {
            "MIGRATA_DBT_PG_HOST": str(parts.get("host") or "127.0.0.1"),
            "MIGRATA_DBT_PG_PORT": str(parts.get("port") or 5432),
            "MIGRATA_DBT_PG_USER": str(parts.get("user") or "postgres"),
            "DBT_ENV_SECRET_MIGRATA_PG_PASSWORD": str(parts.get("password") or ""),
            "MIGRATA_DBT_PG_DBNAME": str(parts.get("dbname") or "postgres"),
            # TLS as the DSN asks (dbt-postgres' own profile fields; libpq's default is `prefer`, and it
            # ignores an empty file name). Always set: the Dagster resource exports these into its process.
            "MIGRATA_DBT_PG_SSLMODE": str(parts.get("sslmode") or "prefer"),
            **{f"MIGRATA_DBT_PG_{k.upper()}": str(parts.get(k) or "") for k in SSL_FILES},
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


def _target_of(args: list[str]) -> str:
    return args[args.index("--target") + 1] if "--target" in args else "postgres"


def dbt_command(args: list[str], settings: MigrataSettings) -> list[str]:
    """The full dbt command line for `args`: this project, its profiles, the target's artifact dir."""
    if not args or args[0].startswith("-"):  # `--version`, `--help`: dbt itself, no project
        return [dbt_executable(), *args]
    command = [dbt_executable(), *args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    if "--target-path" not in args:
        command += ["--target-path", str(target_path(settings, _target_of(args)))]
    return command


def run_dbt(
    args: list[str], settings: MigrataSettings, *, capture: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the dbt CLI in the project with migrata's settings; raise a `MigrataError` if it fails."""
    artifacts_dir(settings).mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        dbt_command(args, settings),
        cwd=artifacts_dir(settings),
        env=os.environ | dbt_env(settings),
        text=True,
        capture_output=capture,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stdout or "")[-2000:] if capture else ""
        raise MigrataError(
            f"dbt {' '.join(args)} failed (exit {result.returncode}){': ' + tail if tail else ''}",
            hint=f"read dbt's output above, or {artifacts_dir(settings) / 'logs' / 'dbt.log'}",
        )
    return result


def _newest_project_file() -> float:
    return max(p.stat().st_mtime for p in PROJECT_DIR.rglob("*") if p.is_file())


def ensure_manifest(settings: MigrataSettings, target: str, *, force: bool = False) -> Path:
    """The manifest of `target`, parsed first if it is missing or older than a project file."""
    manifest = manifest_path(settings, target)
    if force or not manifest.exists() or manifest.stat().st_mtime < _newest_project_file():
        run_dbt(["parse", "--quiet", "--target", target], settings, capture=True)
    return manifest
