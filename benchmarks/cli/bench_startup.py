"""How fast the `migrata` tool starts: `--help` and light verbs as whole processes, against the bare
interpreter start-up and against `python -c "import typer"` (the floor of any Typer CLI), both
measured in the same run.

Each command runs as a user runs it (a new process, the console script, `MIGRATA_*` settings in the
environment) against the session's embedded Postgres; the figure is the median wall time of several
runs after a warm-up. Goal (issue 18): `--help` and the light verbs under 0.5 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import Figure, Session

NAME = "bench_startup"
MIGRATA = str(Path(sys.executable).with_name("migrata"))
LIGHT_VERBS = {
    "migrata --help": [MIGRATA, "--help"],
    "migrata engines status": [MIGRATA, "engines", "status"],
    "migrata migrate status": [MIGRATA, "migrate", "status"],
    "migrata lineage --help": [MIGRATA, "lineage", "--help"],
}


def _median_wall(command: list[str], env: dict[str, str], repeat: int) -> float:
    subprocess.run(command, env=env, capture_output=True, check=False)  # warm the OS caches
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        samples.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr[-500:]}")
    return statistics.median(samples)


def run(session: Session, scale: str) -> list[Figure]:
    repeat = 11 if scale == "full" else 5
    env = os.environ | {
        "MIGRATA_HOME": str(session.home),
        "MIGRATA_POSTGRES__PORT": str(session.settings.postgres.port),
    }
    interpreter = _median_wall([sys.executable, "-c", "pass"], env, repeat)
    typer_only = _median_wall([sys.executable, "-c", "import typer"], env, repeat)
    figures = [
        Figure(NAME, "python -c 'import typer' (floor of a Typer CLI)", typer_only, "s", interpreter,
               "bare interpreter start-up", "—"),
    ]  # fmt: skip
    for label, command in LIGHT_VERBS.items():
        seconds = _median_wall(command, env, repeat)
        figures.append(Figure(NAME, label, seconds, "s", typer_only, "python -c 'import typer'", "< 0.5 s"))
    return figures
