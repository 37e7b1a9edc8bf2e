"""Who owns the embedded Postgres' lifetime: `migrata engines up` (an operator) or a lease holder
(`make dev`, `make demo`, a Dagster run), which stops only a server that lease holders started, and
only when the last of them is out."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request

from python_ops.engines import control
from python_ops.engines.postgres import free_port
from python_ops.settings import MigrataSettings
from tests.deploy.conftest import REPO, migrata, own_env, server_pid

HOLD_A_LEASE = """
import sys
from python_ops.engines import control
from python_ops.settings import load_settings
with control.running(load_settings(), prepare=False):
    print("held", flush=True)
    sys.stdin.readline()
"""


def _hold(settings: MigrataSettings) -> subprocess.Popen[str]:
    """Another process holding a lease until its stdin gets a line (or it is killed)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_LEASE],
        env=own_env(settings),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_block_stops_the_server_it_started_and_leaves_operators_up(own_settings: MigrataSettings) -> None:
    assert server_pid(own_settings) is None
    with control.running(own_settings) as engines:
        assert engines.postgres is not None and engines.postgres.running
    assert server_pid(own_settings) is None, "a server the block started must stop with it"

    up = migrata(own_settings, "engines", "up")
    assert up.returncode == 0, up.stderr
    pid = server_pid(own_settings)
    assert pid
    with control.running(own_settings):
        pass
    assert server_pid(own_settings) == pid, "a server started with `engines up` must stay up"


def test_the_last_lease_holder_out_stops_a_server_started_on_demand(own_settings: MigrataSettings) -> None:
    with control.running(own_settings, prepare=False):
        pid = server_pid(own_settings)
        assert pid
        other = _hold(own_settings)
    assert server_pid(own_settings) == pid, "another process still holds a lease"
    assert other.stdin is not None
    other.stdin.write("\n")
    other.stdin.flush()
    assert other.wait(timeout=60) == 0
    assert server_pid(own_settings) is None

    # a holder killed outright releases its lease with its process (flock)
    killed = _hold(own_settings)
    assert server_pid(own_settings)
    with control.running(own_settings, prepare=False):
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
    assert server_pid(own_settings) is None


def test_engines_up_during_a_block_claims_the_server_for_the_operator(own_settings: MigrataSettings) -> None:
    with control.running(own_settings, prepare=False):
        pid = server_pid(own_settings)
        assert migrata(own_settings, "engines", "up").returncode == 0
    assert server_pid(own_settings) == pid
    down = migrata(own_settings, "engines", "down")
    assert down.returncode == 0 and "postgres stopped" in down.stdout
    assert server_pid(own_settings) is None


def test_a_dagster_run_stops_only_the_server_it_started(own_settings: MigrataSettings) -> None:
    from dagster import materialize

    from dagster_defs.migrations import migrations_status
    from dagster_defs.resources import MigrataResource

    def run() -> None:
        result = materialize([migrations_status], resources={"migrata": MigrataResource()})
        assert result.success
        meta = result.asset_materializations_for_node("migrations__migrations_status")[0].metadata
        assert "core_head" in meta

    run()
    assert server_pid(own_settings) is None, "the run started the server, so the run stops it"
    assert migrata(own_settings, "engines", "up").returncode == 0
    pid = server_pid(own_settings)
    run()
    assert server_pid(own_settings) == pid, "the run must not stop a server `engines up` started"


def _serve_dev_until_up_then_stop(settings: MigrataSettings, tmp_dagster_home: str) -> None:
    port = free_port()
    dev = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "dev.py")],
        env=own_env(settings, DAGSTER_PORT=str(port), DAGSTER_HOME=tmp_dagster_home),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # a hang guard, not a timing claim: the first start parses both dbt projects (2.5 min measured
        # on the 2 cores while other suites ran; the start-up time is a benchmark figure, not a test)
        deadline = time.monotonic() + 300
        while True:
            assert dev.poll() is None, "make dev exited before serving"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the Dagster UI did not come up within 300 s"
            time.sleep(0.5)
        assert server_pid(settings), "make dev serves with the engines up"
    finally:
        dev.send_signal(signal.SIGTERM)
        assert dev.wait(timeout=60) == 0


def test_make_dev_stops_only_engines_it_started(own_settings: MigrataSettings) -> None:
    dagster_home = str(own_settings.home / "dagster")
    _serve_dev_until_up_then_stop(own_settings, dagster_home)
    assert server_pid(own_settings) is None, "not up before make dev: down after"

    assert migrata(own_settings, "engines", "up").returncode == 0
    pid = server_pid(own_settings)
    _serve_dev_until_up_then_stop(own_settings, dagster_home)
    assert server_pid(own_settings) == pid, "up before make dev (engines up): still up after"
