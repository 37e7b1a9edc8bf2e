"""Serve the Dagster UI on 127.0.0.1 with the embedded engines; stop everything on Ctrl-C or SIGTERM.

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

BIN = Path(sys.executable).parent


def main() -> int:
    port = os.environ.get("DAGSTER_PORT", "3000")
    os.environ["DAGSTER_HOME"] = str(dagster_home.prepare(Path(".migrata") / "dagster"))
    subprocess.run([BIN / "migrata", "-q", "engines", "up"], check=True)
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
        code = child.wait()
    finally:
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
        subprocess.run([BIN / "migrata", "-q", "engines", "down"], check=False)
    return 0 if code in (0, -signal.SIGINT, -signal.SIGTERM, 130, 143) else code


if __name__ == "__main__":
    sys.exit(main())
