"""Own migrata's dbt project glue: where the project is, where its artifacts go, the env dbt reads.

The dbt project ships inside the package (`python_ops/dbt/`), so an installed migrata runs it from any
directory. Nothing is written next to it: targets, manifests and logs go under `<MIGRATA_HOME>/dbt/`.
The project's models depend on the target (lineage on Postgres, archive on ClickHouse), so each
target has its own manifest, parsed on first use and again whenever a project file is newer.
Nothing here runs at import time.

The archived tables are a setting (`MIGRATA_ARCHIVE__TABLES`), so an installed migrata archives a new
table without editing its package: `dbt_env` writes the one-line model of every archived table
(`{{ archive_model() }}`) and its source entry into `migrata_archive`, a dbt package under
`<MIGRATA_HOME>/dbt/packages/` (the project's packages-install-path; a package, not a model path, so
dbt's compiled files land under the target path), and hands dbt the settings as the var `archive`.
The SQL of those models lives once, in the project's macros.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from python_ops.engines.dbt_chdb_shim import REHEARSAL_DRIVER, REHEARSAL_LOG_ENV
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

ARCHIVE_PACKAGE = "migrata_archive"


def packages_dir(settings: MigrataSettings) -> Path:
    """The project's packages-install-path: it holds the generated package of the archived tables."""
    return artifacts_dir(settings) / "packages"


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:  # an unchanged file keeps its mtime: no reparse
        path.write_text(text)


def write_archive_models(settings: MigrataSettings) -> Path:
    """Write the model and source entry of every archived table (and remove those of tables dropped)."""
    package = packages_dir(settings) / ARCHIVE_PACKAGE
    folder = package / "models" / "archive"
    folder.mkdir(parents=True, exist_ok=True)
    _write_if_changed(
        package / "dbt_project.yml",
        f'name: {ARCHIVE_PACKAGE}\nversion: "0.1.0"\nconfig-version: 2\nmodel-paths: ["models"]\n',
    )
    tables = [t.name for t in settings.archive.tables]
    for stale in folder.glob("*.sql"):
        if stale.stem not in tables:
            stale.unlink()
    for name in tables:
        _write_if_changed(folder / f"{name}.sql", "{{ archive_model() }}\n")
    # JSON is YAML: the table names need no quoting rules of their own
    properties = {
        "version": 2,
        "sources": [
            {
                "name": "archived",
                "description": "Postgres tables archived to ClickHouse (MIGRATA_ARCHIVE__TABLES).",
                "schema": "public",
                "tables": [{"name": name} for name in tables],
            }
        ],
        "models": [
            {
                "name": t.name,
                "description": f"Archived rows of Postgres {t.name} (macro archive_model).",
                "columns": [
                    {"name": column, "data_tests": ["not_null"]}
                    for column in (t.id_column, t.dataset_column, t.time_column, "__dataset_slug")
                ],
            }
            for t in settings.archive.tables
        ],
    }
    header = f"# written by migrata from its settings: {_archive_var(settings)}\n"
    _write_if_changed(folder / "__archived_tables.yml", header + json.dumps(properties, indent=2) + "\n")
    return package


def _archive_var(settings: MigrataSettings) -> str:
    archive = settings.archive
    return json.dumps(
        {
            "tables": [t.model_dump() for t in archive.tables],
            "target_table": archive.target_table,
            "watermark_table": archive.watermark_table,
        },
        sort_keys=True,
    )


def dbt_env(settings: MigrataSettings) -> dict[str, str]:
    """The variables `profiles.yml` and dbt read, derived from migrata's settings.

    Also writes the archived tables' models (`write_archive_models`) the variables point dbt to.
    """
    return {
        "MIGRATA_HOME": str(settings.home),
        "MIGRATA_DBT_PACKAGES": str(write_archive_models(settings).parent),
        "MIGRATA_DBT_ARCHIVE": _archive_var(settings),
        "MIGRATA_CLICKHOUSE__PG_COLLECTION": settings.clickhouse.pg_collection,
        "DBT_LOG_PATH": str(artifacts_dir(settings) / "logs"),
        # dagster-dbt runs each invocation in a subdirectory of this (a relative one lands in the package)
        "DBT_TARGET_PATH": str(artifacts_dir(settings) / "target" / "runs"),
        # no `.user.yml` written beside profiles.yml (inside the package) and no tracking calls
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        **_connection_env(settings),
    }


def _connection_env(settings: MigrataSettings) -> dict[str, str]:
    """The profile's connection variables (Postgres and ClickHouse), passwords as DBT_ENV_SECRET_*."""
    env: dict[str, str] = {}
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
    elif settings.clickhouse.cluster_rehearsal:
        env |= {
            "MIGRATA_DBT_CH_DRIVER": REHEARSAL_DRIVER,
            "MIGRATA_DBT_CH_HOST": str(settings.chdb_path),
            REHEARSAL_LOG_ENV: str(rehearsal_log(settings)),
        }
    else:
        env |= {"MIGRATA_DBT_CH_DRIVER": "chdb", "MIGRATA_DBT_CH_HOST": str(settings.chdb_path)}
    env["MIGRATA_DBT_CH_DATABASE"] = settings.clickhouse.database
    # the profile's `cluster` and the models' engines (macro cluster_engine) read the same variable
    env["MIGRATA_DBT_CH_CLUSTER"] = settings.clickhouse.cluster or ""
    return env


def rehearsal_log(settings: MigrataSettings) -> Path:
    """Where a cluster rehearsal records the statements dbt sends (python_ops.engines.cluster_rehearsal)."""
    return artifacts_dir(settings) / "cluster_rehearsal.jsonl"


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


# prctl(PR_SET_PDEATHSIG), resolved before any fork: a dbt child dies with the process that started it
_PRCTL = getattr(ctypes.CDLL(None), "prctl", None) if sys.platform == "linux" else None


def _die_with_parent() -> None:
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def run_dbt(
    args: list[str], settings: MigrataSettings, *, capture: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the dbt CLI in the project with migrata's settings; raise a `MigrataError` if it fails.

    dbt is killed if migrata dies (kill -9 included): an orphaned dbt would go on writing, and on chDB
    hold the data directory a rerun needs.
    """
    artifacts_dir(settings).mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        dbt_command(args, settings),
        cwd=artifacts_dir(settings),
        env=os.environ | dbt_env(settings),
        text=True,
        capture_output=capture,
        check=False,
        preexec_fn=_die_with_parent,  # only calls prctl, resolved before the fork
    )
    if result.returncode != 0:
        tail = (result.stdout or "")[-2000:] if capture else ""
        raise MigrataError(
            f"dbt {' '.join(args)} failed (exit {result.returncode}){': ' + tail if tail else ''}",
            hint=f"read dbt's output above, or {artifacts_dir(settings) / 'logs' / 'dbt.log'}",
        )
    return result


def _newest_project_file(settings: MigrataSettings) -> float:
    write_archive_models(settings)
    files = [*PROJECT_DIR.rglob("*"), *packages_dir(settings).rglob("*")]
    return max(p.stat().st_mtime for p in files if p.is_file())


def _connection_key(settings: MigrataSettings) -> str:
    """What a manifest was parsed against: the profile's database names are baked into its nodes."""
    env = _connection_env(settings)  # not dbt_env: that also writes the archive package
    return json.dumps(
        {k: v for k, v in sorted(env.items()) if k.startswith(("MIGRATA_DBT_PG_", "MIGRATA_DBT_CH_"))}
    )


def ensure_manifest(settings: MigrataSettings, target: str, *, force: bool = False) -> Path:
    """The manifest of `target`, parsed first if it is missing, older than a project file, or parsed
    against another database (its nodes name their database, so row counts and column metadata of a
    manifest from another store would ask the wrong one)."""
    manifest = manifest_path(settings, target)
    parsed_for = manifest.with_name("manifest.connection.json")
    key = _connection_key(settings)
    stale = (
        not manifest.exists()
        or manifest.stat().st_mtime < _newest_project_file(settings)
        or not parsed_for.exists()
        or parsed_for.read_text() != key
    )
    if force or stale:
        run_dbt(["parse", "--quiet", "--target", target], settings, capture=True)
        parsed_for.write_text(key)
    return manifest
