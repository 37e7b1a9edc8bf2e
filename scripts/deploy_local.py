"""Start, stop and describe migrata's Dagster deployment on this machine: a code server, the webserver
and the daemon as three processes, Dagster's instance storage on Postgres (docs/deploy.md).

    python scripts/deploy_local.py up [--dir DIR] [--port 3000] [--code-server-port 4266]
    python scripts/deploy_local.py status [--dir DIR]
    python scripts/deploy_local.py down [--dir DIR]

The engines come from `MIGRATA_*` as everywhere: the metadata store by `MIGRATA_POSTGRES__DSN` (or
the embedded server, which `up` starts like `migrata engines up`, and which then stays up until
`migrata engines down`), ClickHouse by `MIGRATA_CLICKHOUSE__URL` (or chDB, one machine only).
Dagster's storage is `MIGRATA_DAGSTER__STORAGE_DSN`; unset, it is the schema `dagster` of the
metadata store's database, created if missing. DIR (default `$MIGRATA_HOME/deploy`) holds
`dagster_home/dagster.yaml` and `workspace.yaml` (copies of `dagster_defs/deploy/`), `logs/`, and
`processes.json`: the PID and start time of each process, so `down` stops exactly those (each with
its process group: the code server's run workers go with it), and never another process.

`up` returns once the webserver reports the code location loaded, printing how long that took.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from python_ops.engines import control
from python_ops.errors import ConfigError, EngineError, MigrataError
from python_ops.settings import MigrataSettings, load_settings

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
LOCATION = "migrata"
RECORD = "processes.json"
STOP_ORDER = ("daemon", "webserver", "code_server")
# the deployment's instance settings and workspace, found without importing dagster_defs (which loads
# every definition)
_DEFS = importlib.util.find_spec("dagster_defs")
assert _DEFS is not None and _DEFS.submodule_search_locations
DEPLOY_FILES = Path(next(iter(_DEFS.submodule_search_locations))) / "deploy"
INSTANCE_YAML, WORKSPACE_YAML = DEPLOY_FILES / "dagster.yaml", DEPLOY_FILES / "workspace.yaml"

LOCATIONS_QUERY = """
{ workspaceOrError { __typename
    ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename
          ... on RepositoryLocation { repositories { name } }
          ... on PythonError { message } } } }
    ... on PythonError { message } } }
"""


# -- the storage database ---------------------------------------------------------------------------
STORAGE_SCHEMA = "dagster"


def default_storage_url(metadata_dsn: str, schema: str = STORAGE_SCHEMA) -> str:
    """A URL of the metadata store's database with `schema` first on the search path (so Dagster's
    tables, its own `alembic_version` included, live there), keeping the user, password and connection
    parameters (sslmode…), in the form Dagster's storage reads (SQLAlchemy with psycopg2)."""
    from psycopg.conninfo import conninfo_to_dict

    parts = {k: str(v) for k, v in conninfo_to_dict(metadata_dsn).items()}
    user, password = parts.pop("user", ""), parts.pop("password", "")
    host, port = parts.pop("host", "localhost"), parts.pop("port", "5432")
    database = parts.pop("dbname", user)
    if host.startswith("/"):  # a Unix socket directory goes in the query
        parts["host"], host = host, ""
    parts["options"] = f"{parts.get('options', '')} -csearch_path={schema}".strip()
    userinfo = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    query = urlencode(parts, quote_via=quote)
    return f"postgresql+psycopg2://{userinfo}@{host}:{port}/{quote(database, safe='')}?{query}"


def ensure_storage(settings: MigrataSettings) -> str:
    """The storage URL to use: the configured one (checked), or schema `dagster` of the metadata store
    (created if missing)."""
    from python_ops.db import connect

    if settings.dagster.storage_dsn:
        storage = settings.dagster.storage_dsn
        connect(storage.replace("postgresql+psycopg2://", "postgresql://", 1)).close()  # libpq's form
        return storage
    from psycopg import sql

    with connect(control.postgres_dsn(settings), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(STORAGE_SCHEMA)))
    return default_storage_url(control.postgres_dsn(settings))


# -- processes --------------------------------------------------------------------------------------
def _start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (field 22 of /proc/PID/stat), or None if it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _ours(entry: dict[str, Any]) -> bool:
    """Whether the recorded process still runs and is the one we started (not a reused PID)."""
    return _start_time(entry["pid"]) == entry["started"]


def _launch(argv: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    with log.open("ab") as out:
        child = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: `down` stops the process and its children
            # a process started from a script may inherit SIGINT ignored, and Dagster then ignores SIGTERM
            preexec_fn=lambda: (
                signal.signal(signal.SIGINT, signal.SIG_DFL),
                signal.signal(signal.SIGTERM, signal.SIG_DFL),
            ),
        )
    return {"pid": child.pid, "started": _start_time(child.pid), "argv": argv, "log": str(log)}


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_all(processes: dict[str, dict[str, Any]], timeout: float = 30) -> list[str]:
    """SIGTERM each recorded process group still ours (daemon first: it launches no more runs), wait
    for all of them together, SIGKILL what is left after `timeout`; return one line per process."""
    lines: dict[str, str] = {}
    for name in STOP_ORDER:
        entry = processes.get(name)
        if entry is None:
            continue
        if _ours(entry):
            os.killpg(entry["pid"], signal.SIGTERM)
        else:
            lines[name] = f"{name}: not running (pid {entry['pid']})"
    deadline = time.monotonic() + timeout
    waiting = [n for n in STOP_ORDER if n in processes and n not in lines]
    while waiting:
        for name in list(waiting):
            pid = processes[name]["pid"]
            with_child_reaped(pid)
            if not _group_alive(pid):
                lines[name] = f"{name}: stopped (pid {pid})"
                waiting.remove(name)
            elif time.monotonic() > deadline:
                os.killpg(pid, signal.SIGKILL)
                lines[name] = f"{name}: killed (pid {pid}) after {timeout:.0f} s"
                waiting.remove(name)
        time.sleep(0.1)
    return [lines[n] for n in STOP_ORDER if n in lines]


def with_child_reaped(pid: int) -> None:
    """Reap `pid` if it is our own child (`up` and `down` in one process, as the tests do)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


# -- the webserver's GraphQL API --------------------------------------------------------------------
def graphql(port: int, query: str, variables: dict[str, Any] | None = None, timeout: float = 30) -> Any:
    """POST a GraphQL query to the webserver on 127.0.0.1:`port`; return its `data`."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://{HOST}:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload = json.loads(response.read())
    if payload.get("errors"):
        first = payload["errors"][0].get("message")
        raise EngineError(f"the Dagster webserver answered with an error: {first}")
    return payload["data"]


def location_state(port: int, location: str = LOCATION) -> tuple[str, str]:
    """(state, detail) of a code location as the webserver sees it: loaded, loading, error, down."""
    try:
        data = graphql(port, LOCATIONS_QUERY, timeout=5)["workspaceOrError"]
    except (OSError, urllib.error.URLError, json.JSONDecodeError):
        return "down", "the webserver does not answer yet"
    if data["__typename"] != "Workspace":
        return "error", data.get("message", data["__typename"])
    for entry in data["locationEntries"]:
        if entry["name"] != location:
            continue
        location = entry["locationOrLoadError"] or {}
        if location.get("__typename") == "RepositoryLocation":
            return "loaded", ", ".join(r["name"] for r in location["repositories"])
        if location.get("__typename") == "PythonError":
            message = location["message"].strip().splitlines()[-1]
            # the code server still loading its definitions; the webserver reconnects once it serves
            return ("loading" if "UserCodeUnreachable" in message else "error"), message
        return "loading", entry["loadStatus"]
    return "loading", "no entry yet"


# -- verbs ------------------------------------------------------------------------------------------
def up(directory: Path, port: int, code_server_port: int, timeout: float) -> int:
    record_file = directory / RECORD
    if record_file.exists():
        record = json.loads(record_file.read_text())
        if any(_ours(e) for e in record["processes"].values()):
            raise ConfigError(
                f"a deployment recorded in {record_file} is running",
                hint=f"stop it with `python scripts/deploy_local.py down --dir {directory}`",
            )
    started = time.monotonic()
    settings = load_settings()
    control.up(settings)  # like `migrata engines up`: the embedded server (if any) stays up after `down`
    storage = ensure_storage(settings)

    home = directory / "dagster_home"
    logs = directory / "logs"
    home.mkdir(parents=True, exist_ok=True)
    logs.mkdir(exist_ok=True)
    shutil.copy(INSTANCE_YAML, home / "dagster.yaml")
    shutil.copy(WORKSPACE_YAML, directory / "workspace.yaml")
    env = os.environ | {
        "MIGRATA_HOME": str(settings.home),
        "DAGSTER_HOME": str(home),
        "MIGRATA_DAGSTER__STORAGE_DSN": storage,
        "MIGRATA_CODE_SERVER_HOST": HOST,
        "MIGRATA_CODE_SERVER_PORT": str(code_server_port),
    }
    workspace = str(directory / "workspace.yaml")
    commands = {
        "code_server": [str(BIN / "dagster"), "code-server", "start", "-m", "dagster_defs",
                        "-h", HOST, "-p", str(code_server_port), "--location-name", LOCATION],
        "webserver": [str(BIN / "dagster-webserver"), "-w", workspace, "-h", HOST, "-p", str(port)],
        "daemon": [str(BIN / "dagster-daemon"), "run", "-w", workspace],
    }  # fmt: skip
    record = {"port": port, "code_server_port": code_server_port, "processes": {}}
    for name, argv in commands.items():
        record["processes"][name] = _launch(argv, env, logs / f"{name}.log")
        record_file.write_text(json.dumps(record, indent=2))  # recorded at once: `down` can always stop it

    deadline = started + timeout
    while True:
        state, detail = location_state(port)
        if state == "loaded":
            break
        gone = [n for n, e in record["processes"].items() if not _ours(e)]
        if state == "error" or gone or time.monotonic() > deadline:
            reason = f"{', '.join(gone)} exited" if gone else (detail if state == "error" else "timed out")
            stop_all(record["processes"])
            record_file.unlink(missing_ok=True)
            raise EngineError(
                f"the deployment did not load the code location `{LOCATION}`: {reason}",
                hint=f"read the logs in {logs}",
            )
        time.sleep(0.5)
    seconds = time.monotonic() - started
    pids = ", ".join(f"{n} {e['pid']}" for n, e in record["processes"].items())
    print(f"deployment up in {seconds:.1f} s: code location `{LOCATION}` loaded ({detail}); {pids}")
    print(f"Dagster UI on http://{HOST}:{port}; stop: python scripts/deploy_local.py down --dir {directory}")
    return 0


def down(directory: Path) -> int:
    record_file = directory / RECORD
    if not record_file.exists():
        print(f"no deployment recorded in {record_file}")
        return 0
    for line in stop_all(json.loads(record_file.read_text())["processes"]):
        print(line)
    record_file.unlink()
    return 0


def status(directory: Path) -> int:
    record_file = directory / RECORD
    if not record_file.exists():
        print(f"no deployment recorded in {record_file}")
        return 1
    record = json.loads(record_file.read_text())
    running = {n: _ours(e) for n, e in record["processes"].items()}
    for name, entry in record["processes"].items():
        state = "running" if running[name] else "not running"
        print(f"{name}: {state} (pid {entry['pid']}, log {entry['log']})")
    state, detail = location_state(record["port"])
    print(f"code location `{LOCATION}`: {state} ({detail}); UI http://{HOST}:{record['port']}")
    return 0 if all(running.values()) and state == "loaded" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("verb", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, help="deployment directory (default: $MIGRATA_HOME/deploy)")
    parser.add_argument("--port", type=int, default=3000, help="webserver port (default 3000)")
    parser.add_argument("--code-server-port", type=int, default=4266, help="code server port (default 4266)")
    parser.add_argument("--timeout", type=float, default=180, help="seconds `up` waits for the code location")
    args = parser.parse_args(argv)
    for option in ("port", "code_server_port", "timeout"):
        if getattr(args, option) <= 0:
            parser.error(f"--{option.replace('_', '-')} must be positive")
    try:
        directory = (args.dir or load_settings().home / "deploy").absolute()
        directory.mkdir(parents=True, exist_ok=True)
        if args.verb == "up":
            return up(directory, args.port, args.code_server_port, args.timeout)
        return down(directory) if args.verb == "down" else status(directory)
    except MigrataError as exc:
        print(f"error: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
