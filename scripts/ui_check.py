"""Check the Dagster UI as a user drives it (`make ui-check`): start `make dev`'s server on a fresh home,
materialize everything for the current month through the webserver's GraphQL API, provoke a failing
gate (a row in a DEFAULT partition) and check that exactly that check fails on that month and that the
models downstream of it are not rebuilt. Everything it starts it stops by PID; exit 0 when all holds.

Not part of `make test` (it takes minutes on a shared machine); run it before a release.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent

from python_ops.engines.postgres import free_port  # noqa: E402

GATE = "assert_lineage_default_partitions_empty"
RLD = ["run_lineage_denormalized"]
PARTITIONED = [RLD, ["run_parent_lineage_denormalized"], ["lineage_graph_edges"], ["lineage_jobs_latest"],
               ["lineage_run_counts_daily"], ["lineage_dashboard_daily"]]  # fmt: skip
REPOS = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name assetNodes { assetKey { path } " \
    "isExecutable partitionDefinition { name } } } } } }"  # fmt: skip
LAUNCH = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
  ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on InvalidSubsetError { message } } }"""
EVENTS = "import json; from migrata_samples.openlineage import food_delivery_events as f; " \
    "print('\\n'.join(json.dumps(e) for e in f()))"  # fmt: skip
STRAY_ROW = (  # a run no month owns: it lands in the DEFAULT partition
    "INSERT INTO run_lineage_denormalized SELECT (jsonb_populate_record(r, jsonb_build_object('run_uuid', "
    "gen_random_uuid(), 'run_date', '1999-06-01'))).* FROM run_lineage_denormalized r LIMIT 1"
)
RUN_STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
CHECKS = """query($key: AssetKeyInput!, $name: String!, $partition: String) {
  assetCheckExecutions(assetKey: $key, checkName: $name, partition: $partition, limit: 5) {
    runId status partition evaluation { success description } } }"""
LAST = """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) {
  ... on Asset { assetMaterializations(limit: 1) { runId partition } } } }"""


def _deploy_local() -> Any:
    spec = importlib.util.spec_from_file_location("deploy_local", REPO / "scripts" / "deploy_local.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wait(what: str, probe: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
        except Exception:
            value = None
        if value:
            return value
        time.sleep(1)
    raise SystemExit(f"ui-check: {what} did not happen within {timeout:.0f} s")


def _migrata(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    subprocess.run([BIN / "migrata", "--quiet", *args], env=env, input=stdin, text=True, check=True)


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="migrata-ui-check-"))
    home.chmod(0o755)
    (home / "objects").mkdir()  # the parquet object storage root (empty: nothing to repair)
    port = free_port()
    env = {**os.environ, "MIGRATA_HOME": str(home), "MIGRATA_POSTGRES__PORT": str(free_port()),
           "DAGSTER_PORT": str(port), "DAGSTER_HOME": str(home / "dagster")}  # fmt: skip
    env.pop("MIGRATA_POSTGRES__DSN", None)
    month = datetime.now(UTC).date().replace(day=1).isoformat()
    dev = None
    failures: list[str] = []
    gql = _deploy_local().graphql
    try:
        _migrata(env, "engines", "up")
        _migrata(env, "migrate", "upgrade", "heads")
        events = subprocess.run(
            [sys.executable, "-c", EVENTS], env=env, capture_output=True, text=True, check=True, cwd=REPO
        ).stdout
        _migrata(env, "lineage", "ingest", "-", stdin=events)
        dev = subprocess.Popen([sys.executable, str(REPO / "scripts" / "dev.py")], env=env, cwd=REPO)
        nodes = _wait(
            "the code location loads", lambda: gql(port, REPOS)["repositoriesOrError"]["nodes"], 300
        )
        repo = nodes[0]["name"]
        assets = [n for n in nodes[0]["assetNodes"] if n["isExecutable"]]
        plain = [n["assetKey"]["path"] for n in assets if not n["partitionDefinition"]]
        plain = [k for k in plain if k != ["archive_cleanup"]]  # deletes: never from a check

        def launch(keys: list[list[str]], partition: str | None) -> str:
            tags = [{"key": "dagster/partition", "value": partition}] if partition else []
            params = {
                "selector": {"repositoryLocationName": "dagster_defs", "repositoryName": repo,
                             "jobName": "__ASSET_JOB", "assetSelection": [{"path": k} for k in keys]},
                "executionMetadata": {"tags": tags},
            }  # fmt: skip
            result = gql(port, LAUNCH, {"params": params})["launchRun"]
            if result["__typename"] != "LaunchRunSuccess":
                raise SystemExit(f"ui-check: launch failed: {result}")
            run_id = result["run"]["runId"]
            done = ("SUCCESS", "FAILURE", "CANCELED")
            status = _wait(f"run {run_id}", lambda: (s := gql(port, RUN_STATUS, {"id": run_id})["runOrError"]
                                                     ["status"]) in done and s, 900)  # fmt: skip
            print(f"ui-check: run {run_id} ({len(keys)} assets, partition {partition}): {status}", flush=True)
            return run_id if status == "SUCCESS" else f"FAILED:{run_id}"

        first = launch(plain, None)
        second = launch(PARTITIONED, month)
        if first.startswith("FAILED") or second.startswith("FAILED"):
            failures.append("materializing everything for the current month did not succeed")
        with __import__("psycopg").connect(
            f"postgresql://postgres@127.0.0.1:{env['MIGRATA_POSTGRES__PORT']}/migrata", autocommit=True
        ) as conn:
            conn.execute(STRAY_ROW)
        failed = launch(PARTITIONED, month)
        if not failed.startswith("FAILED"):
            failures.append("the run with a row in the DEFAULT partition succeeded")
        run_id = failed.removeprefix("FAILED:")
        executions = gql(port, CHECKS, {"key": {"path": RLD}, "name": GATE, "partition": month})
        mine = [e for e in executions["assetCheckExecutions"] if e["runId"] == run_id]
        if not mine or mine[0]["evaluation"] is None or mine[0]["evaluation"]["success"]:
            failures.append(f"{GATE} did not fail on {month}: {mine}")
        elif "\x1b[" in str(mine[0]):
            failures.append("the failing check's text carries ANSI codes")
        edges = gql(port, LAST, {"key": {"path": ["lineage_graph_edges"]}})["assetOrError"]
        if edges["assetMaterializations"] and edges["assetMaterializations"][0]["runId"] == run_id:
            failures.append("lineage_graph_edges was rebuilt downstream of the failing gate")
    finally:
        if dev is not None and dev.poll() is None:
            dev.send_signal(signal.SIGTERM)
            dev.wait(timeout=120)
        subprocess.run([BIN / "migrata", "engines", "down"], env=env, check=False)
        shutil.rmtree(home, ignore_errors=True)
    for failure in failures:
        print(f"ui-check: FAIL {failure}", file=sys.stderr)
    print("ui-check: ok" if not failures else f"ui-check: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
