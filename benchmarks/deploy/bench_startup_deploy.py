"""How long Dagster takes to serve migrata: the three-process deployment (`scripts/deploy_local.py up`:
code server, webserver, daemon, storage on Postgres) from start to "code location loaded", against
`dagster dev -m dagster_defs` (SQLite storage, everything in one command) measured the same way in
the same run.

"Loaded" is what the UI needs: the webserver's GraphQL API reports the code location `migrata` with
its repository. Both start from warm caches (the dbt manifests parsed and the modules read once
before timing) and alternate, and each figure is the median of the runs; everything started is
stopped by PID (process group) after each run.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

from benchmarks.common import Figure, Session
from python_ops.engines.postgres import free_port

NAME = "bench_startup_deploy"
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_local", REPO / "scripts" / "deploy_local.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _deployment(env: dict[str, str], directory: Path) -> float:
    script = [sys.executable, str(REPO / "scripts" / "deploy_local.py")]
    started = time.perf_counter()
    up = subprocess.run(
        [*script, "up", "--dir", str(directory), "--port", str(free_port()),
         "--code-server-port", str(free_port()), "--timeout", "300"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    subprocess.run([*script, "down", "--dir", str(directory)], env=env, capture_output=True, check=False)
    if up.returncode != 0:
        raise RuntimeError(f"deploy_local up failed: {up.stderr[-1000:]}")
    return seconds


def _dagster_dev(env: dict[str, str], deploy_local: ModuleType) -> float:
    home = Path(tempfile.mkdtemp(prefix="migrata-bench-dev-"))
    shutil.copy(REPO / "dagster_defs" / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    started = time.perf_counter()
    dev = subprocess.Popen(
        [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port), "-m", "dagster_defs"],
        env=env | {"DAGSTER_HOME": str(home)},
        stdout=(home / "dev.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        # `-m dagster_defs` names the location after the module
        while deploy_local.location_state(port, "dagster_defs")[0] != "loaded":
            if dev.poll() is not None or time.perf_counter() - started > 300:
                log = (home / "dev.log").read_text()[-2000:]
                raise RuntimeError(f"dagster dev did not load the code location ({dev.returncode}): {log}")
            time.sleep(0.1)
        return time.perf_counter() - started
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        try:
            dev.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
        shutil.rmtree(home, ignore_errors=True)


def run(session: Session, scale: str) -> list[Figure]:
    repeat = 3 if scale == "full" else 1
    deploy_local = _script()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIGRATA_", "DAGSTER_"))} | {
        "MIGRATA_HOME": str(session.home),
        "MIGRATA_POSTGRES__DSN": session.dsn,
    }
    # warm: parse the dbt manifests under the session's home and read the modules once
    subprocess.run([sys.executable, "-c", "import dagster_defs.definitions"], env=env, check=True)
    deployment, dev = [], []
    directory = session.home / "deploy"
    for _ in range(repeat):
        deployment.append(_deployment(env, directory))
        dev.append(_dagster_dev(env, deploy_local))
    return [
        Figure(NAME, f"three processes (code server, webserver, daemon; Postgres storage): up -> code "
               f"location loaded, median of {repeat}", statistics.median(deployment), "s",
               statistics.median(dev), "dagster dev -m dagster_defs (SQLite): start -> loaded", "—"),
    ]  # fmt: skip
