"""Fixtures of the deployment tests: a migrata home of their own (embedded Postgres on a free port, chDB),
and helpers to run migrata's commands and scripts as separate processes, as users and services do."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from python_ops.engines import control
from python_ops.engines.postgres import EmbeddedPostgres, free_port
from python_ops.settings import MigrataSettings

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A directory in /tmp the service user `nobody` can traverse (0755), removed afterwards.

    Not under pytest's tmp_path: every pytest session on the machine resets /tmp/pytest-of-<user> to
    0700, which would cut the embedded server off its data directory in the middle of a test.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def own_settings(monkeypatch: pytest.MonkeyPatch, pg_server: EmbeddedPostgres) -> Iterator[MigrataSettings]:
    """Settings of a home of this test's own: an embedded Postgres (not started) and chDB under it.

    Asks for the session's server first, so modules that read settings at import (dagster_defs) have
    done so with the session's home before the environment points here.
    """
    import dagster_defs.project  # noqa: F401  (parses the dbt manifests under the session's home)

    with scratch_dir("migrata-deploy-") as home:
        port = free_port()
        monkeypatch.setenv("MIGRATA_HOME", str(home))
        monkeypatch.setenv("MIGRATA_POSTGRES__PORT", str(port))
        monkeypatch.delenv("MIGRATA_POSTGRES__DSN", raising=False)
        settings = MigrataSettings(home=home, postgres={"port": port})  # type: ignore[arg-type]
        try:
            yield settings
        finally:
            control.down(settings)


def server_pid(settings: MigrataSettings) -> int | None:
    """The embedded server's pid, or None when it is not running."""
    state = control.embedded_postgres(settings).status()
    return state.pid if state.running else None


def own_env(settings: MigrataSettings, **extra: str) -> dict[str, str]:
    """The environment of a child process using `settings`' engines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIGRATA_", "DAGSTER_"))}
    return env | {
        "MIGRATA_HOME": str(settings.home),
        "MIGRATA_POSTGRES__PORT": str(settings.postgres.port),
        **({"MIGRATA_POSTGRES__DSN": settings.postgres.dsn} if settings.postgres.dsn else {}),
        **extra,
    }


def migrata(settings: MigrataSettings, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """Run the `migrata` console script as a user does."""
    return subprocess.run(
        [str(BIN / "migrata"), *args],
        env=own_env(settings, **extra_env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
