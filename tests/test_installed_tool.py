"""migrata as a tool: the wheel installed into a fresh venv runs every verb from a directory outside the
checkout with only MIGRATA_* settings, and `dagster dev -m dagster_defs` serves from it.

The new venv gets migrata from the wheel only (no editable path to this checkout); its dependencies
come from this environment's site-packages through a `.pth` line (paths added that way do not run
their own `.pth` files, so the checkout's editable hook stays out), and the console scripts of those
dependencies (`dbt`, `dagster`) are written for the new interpreter as pip would write them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

from python_ops.engines.postgres import free_port

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = {"dbt": "from dbt.cli.main import cli as main", "dagster": "from dagster._cli import main"}


@pytest.fixture(scope="module")
def tool(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("installed")
    for directory in (root, *root.parents):  # the embedded server's service user walks through it
        if str(directory).startswith("/tmp"):
            directory.chmod(directory.stat().st_mode | 0o001)
    wheels, venv = root / "wheels", root / "venv"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels, REPO],
        check=True,
    )
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next(wheels.glob("migrata-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel], check=True
    )
    for name, line in SCRIPTS.items():
        script = venv / "bin" / name
        script.write_text(f"#!{python}\nimport sys\n{line}\nsys.exit(main())\n")
        script.chmod(0o755)
    work = root / "elsewhere"
    work.mkdir()
    return {"venv": venv, "home": root / "home", "work": work}


def _default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _env(tool: dict[str, Path], port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIGRATA_", "DBT_", "DAGSTER_"))}
    return env | {
        "PATH": f"{tool['venv'] / 'bin'}:{env.get('PATH', '')}",
        "MIGRATA_HOME": str(tool["home"]),
        "MIGRATA_POSTGRES__PORT": str(port),
        "DAGSTER_HOME": str(tool["home"] / "dagster"),
    }


def _run(tool: dict[str, Path], env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(tool["venv"] / "bin" / args[0]), *args[1:]],
        cwd=tool["work"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{' '.join(args)}: {result.stdout[-1500:]}\n{result.stderr[-1500:]}"
    return result


def test_the_wheel_runs_every_verb_outside_the_checkout(tool: dict[str, Path]) -> None:
    env = _env(tool, free_port())
    where = _run(tool, env, "python", "-c", "import python_ops; print(python_ops.__file__)").stdout
    assert where.startswith(str(tool["venv"])), where  # the wheel, not this checkout
    try:
        up = json.loads(_run(tool, env, "migrata", "--json", "engines", "up").stdout)
        assert up["postgres"]["running"] is True
        _run(tool, env, "migrata", "migrate", "upgrade")
        status = json.loads(_run(tool, env, "migrata", "--json", "migrate", "status").stdout)
        assert status["components"] and all(c["state"] == "at head" for c in status["components"])
        _run(tool, env, "migrata", "lineage", "refresh")
        _run(tool, env, "migrata", "archive", "run")

        tool["home"].joinpath("dagster").mkdir(exist_ok=True)
        port = free_port()
        server = subprocess.Popen(
            [
                str(tool["venv"] / "bin" / "dagster"),
                "dev",
                "-m",
                "dagster_defs",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=tool["work"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            # a test run started in the background inherits SIGINT as ignored, and `dagster dev` then
            # ignores SIGTERM too (DESIGN.md): give it default handling, as scripts/dev.py does
            preexec_fn=_default_signals,
        )
        try:
            deadline, info = time.monotonic() + 180, None
            while time.monotonic() < deadline and info is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as answer:
                        info = json.loads(answer.read())
                except OSError:
                    assert server.poll() is None, "dagster dev exited"
                    time.sleep(1)
            assert info is not None and "dagster_webserver_version" in info
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
        assert not list(REPO.glob("python_ops/dbt/target")), "dbt wrote into the package"
    finally:
        _run(tool, env, "migrata", "engines", "down")
