"""The deployment recipe (docs/deploy.md) as `scripts/deploy_local.py` runs it: a code server, the
webserver and the daemon as three processes, Dagster's storage on Postgres, the metadata store by DSN.
Checked through the webserver's GraphQL API as the UI and tools use it, then stopped by PID."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest

from python_ops.engines.postgres import free_port
from python_ops.settings import MigrataSettings
from tests.deploy.conftest import REPO, migrata, own_env, scratch_dir

STATUS_KEY = ["migrations", "migrations_status"]

LAUNCH = """
mutation($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
  ... on LaunchRunSuccess { run { runId } }
  ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } }
  ... on InvalidSubsetError { message } } }
"""
RUN_STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
DAEMONS = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"
ASSETS = """
{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name }
    assetNodes { assetKey { path } } } } } }
"""
LAST_MATERIALIZATION = """
query($key: AssetKeyInput!) { assetOrError(assetKey: $key) {
  ... on Asset { assetMaterializations(limit: 1) { runId } } } }
"""


def _script() -> ModuleType:
    """scripts/deploy_local.py as a module, for its GraphQL helper and process checks."""
    spec = importlib.util.spec_from_file_location("deploy_local", REPO / "scripts" / "deploy_local.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


deploy_local = _script()


@pytest.fixture
def deployment(
    engine_home: Path, dsn: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[MigrataSettings, Path, int]]:
    """Settings naming a migrated database of the session's server by DSN (the session's home keeps
    chDB and the parsed dbt manifests), a deployment directory, a webserver port; stopped afterwards."""
    settings = MigrataSettings(home=engine_home, postgres={"dsn": dsn})  # type: ignore[arg-type]
    with scratch_dir("migrata-deploy-dir-") as directory:
        try:
            yield settings, directory, free_port()
        finally:
            subprocess.run(
                [sys.executable, str(REPO / "scripts" / "deploy_local.py"), "down", "--dir", str(directory)],
                env=own_env(settings),
                capture_output=True,
                timeout=120,
                check=False,
            )


def _wait(what: str, probe: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f} s"
        time.sleep(0.5)


def test_three_process_deployment_loads_runs_on_postgres_storage_and_stops_by_pid(
    deployment: tuple[MigrataSettings, Path, int],
) -> None:
    settings, directory, port = deployment
    script = [sys.executable, str(REPO / "scripts" / "deploy_local.py")]
    up = subprocess.run(
        [*script, "up", "--dir", str(directory), "--port", str(port),
         "--code-server-port", str(free_port()), "--timeout", "120"],
        env=own_env(settings), capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr + "".join(
        f"\n--- {log.name}\n{log.read_text()[-3000:]}" for log in (directory / "logs").glob("*.log")
    )
    assert "code location `migrata` loaded" in up.stdout
    processes = json.loads((directory / "processes.json").read_text())["processes"]
    assert set(processes) == {"code_server", "webserver", "daemon"}
    assert all(deploy_local._ours(entry) for entry in processes.values())
    assert len({entry["pid"] for entry in processes.values()}) == 3, "three separate processes"

    # the code location loaded, with the product's assets (a Python asset and a dbt model)
    nodes = deploy_local.graphql(port, ASSETS)["repositoriesOrError"]["nodes"]
    assert [n["location"]["name"] for n in nodes] == ["migrata"]
    keys = {tuple(a["assetKey"]["path"]) for a in nodes[0]["assetNodes"]}
    assert tuple(STATUS_KEY) in keys and ("run_lineage_denormalized",) in keys, sorted(keys)[:20]

    # the daemon runs apart and reports healthy: every daemon this instance requires has a heartbeat
    def daemons_healthy() -> dict[str, bool] | None:
        statuses = deploy_local.graphql(port, DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
        required = {d["daemonType"]: d["healthy"] for d in statuses if d["required"]}
        return required if required and all(required.values()) else None

    healthy = _wait("every required daemon healthy", daemons_healthy, 60)
    assert {"QUEUED_RUN_COORDINATOR", "SCHEDULER", "SENSOR"} <= set(healthy)

    # a run launched through the webserver is queued, started by the daemon, run by the code server
    params = {
        "selector": {
            "repositoryLocationName": "migrata",
            "repositoryName": nodes[0]["name"],
            "jobName": "__ASSET_JOB",
            "assetSelection": [{"path": STATUS_KEY}],
            "assetCheckSelection": [],
        }
    }
    launched = deploy_local.graphql(port, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    def finished() -> str | None:
        status = deploy_local.graphql(port, RUN_STATUS, {"id": run_id})["runOrError"]["status"]
        return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None

    assert _wait("the run finished", finished, 90) == "SUCCESS"
    last = deploy_local.graphql(port, LAST_MATERIALIZATION, {"key": {"path": STATUS_KEY}})
    assert last["assetOrError"]["assetMaterializations"][0]["runId"] == run_id

    # Dagster's own state is in Postgres (schema `dagster` of the metadata store), not SQLite
    assert settings.postgres.dsn
    with psycopg.connect(settings.postgres.dsn) as conn:
        stored = conn.execute("SELECT status FROM dagster.runs WHERE run_id = %s", (run_id,)).fetchone()
        events = conn.execute(
            "SELECT count(*) FROM dagster.event_logs WHERE run_id = %s", (run_id,)
        ).fetchone()
    assert stored == ("SUCCESS",) and events and events[0] > 0
    assert not list((directory / "dagster_home").rglob("*.db")), "no SQLite storage in the deployment"
    # Dagster's schema is not migrata's drift: `migrate check` ignores objects no revision creates
    check = migrata(settings, "migrate", "check")
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]

    status = subprocess.run(
        [*script, "status", "--dir", str(directory)],
        env=own_env(settings), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert status.returncode == 0 and "loaded" in status.stdout

    down = subprocess.run(
        [*script, "down", "--dir", str(directory)],
        env=own_env(settings), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert down.returncode == 0, down.stderr
    for name, entry in processes.items():
        assert f"{name}: stopped (pid {entry['pid']})" in down.stdout
        assert not deploy_local._ours(entry), f"{name} still runs"
        assert not deploy_local._group_alive(entry["pid"]), f"a process of {name}'s group still runs"
    assert not (directory / "processes.json").exists()
