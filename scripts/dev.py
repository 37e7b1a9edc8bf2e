"""Serve the Dagster UI on 127.0.0.1 with the embedded engines; stop everything on Ctrl-C or SIGTERM.

Engines: this script holds a lease on them for its lifetime (`python_ops.engines.control.running`):
it starts the embedded Postgres only if it is down, and on exit stops it only if it (or another
lease holder such as a Dagster run) started it and nobody still uses it. Engines started before with
`migrata engines up` stay up.

`dagster dev` started from a script can inherit SIGINT as ignored and then ignore SIGTERM too, so it
is started in its own process group with default signal handling, and signals are forwarded to it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from migrata_samples import dagster_home
from python_ops.engines import control
from python_ops.errors import MigrataError
from python_ops.settings import load_settings

BIN = Path(sys.executable).parent


def serve(port: str) -> int:
    """Run `dagster dev` until it exits or this process gets SIGINT/SIGTERM; return its exit code."""
    child = subprocess.Popen(
        [BIN / "dagster", "dev", "-h", "127.0.0.1", "-p", port, "-m", "dagster_defs"],
        preexec_fn=lambda: (
            signal.signal(signal.SIGINT, signal.SIG_DFL),
            signal.signal(signal.SIGTERM, signal.SIG_DFL),
        ),
        start_new_session=True,
    )

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM if signum == signal.SIGTERM else signal.SIGINT)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    print(
        f"Dagster UI on http://127.0.0.1:{port} (pid {os.getpid()}; Ctrl-C or SIGTERM stops it)", flush=True
    )
    try:
        return child.wait()
    finally:
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)


def main() -> int:
    port = os.environ.get("DAGSTER_PORT", "3000")
    try:
        settings = load_settings()
        os.environ["DAGSTER_HOME"] = str(dagster_home.prepare(settings.home / "dagster"))
        with control.running(settings) as engines:
            print(f"engines: Postgres {engines.postgres_target}, ClickHouse {engines.clickhouse_target}")
            code = serve(port)
    except MigrataError as exc:
        print(f"error: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return exc.exit_code
    return 0 if code in (0, -signal.SIGINT, -signal.SIGTERM, 130, 143) else code


if __name__ == "__main__":
    sys.exit(main())
