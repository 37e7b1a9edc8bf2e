"""How fast the `migrata` tool starts: `--help` and light verbs as whole processes, against the bare
interpreter start-up and against `python -c "import typer"` (the floor of any Typer CLI), both
measured in the same run.

Each command runs as a user runs it (a new process, the console script, `MIGRATA_*` settings in the
environment) against the session's embedded Postgres; the figure is the median wall time of several
runs after a warm-up. Goal (issue 18): `--help` and the light verbs under 0.5 s.
"""

from __future__ import annotations

import os
import resource
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


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _median(command: list[str], env: dict[str, str], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `command` as a new process. CPU holds on a shared machine,
    where wall time grows with the other load."""
    subprocess.run(command, env=env, capture_output=True, check=False)  # warm the OS caches
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, started = _children_cpu(), time.perf_counter()
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        walls.append(time.perf_counter() - started)
        cpus.append(_children_cpu() - cpu)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr[-500:]}")
    return statistics.median(walls), statistics.median(cpus)


def run(session: Session, scale: str) -> list[Figure]:
    repeat = 11 if scale == "full" else 5
    env = os.environ | {
        "MIGRATA_HOME": str(session.home),
        "MIGRATA_POSTGRES__PORT": str(session.settings.postgres.port),
    }
    # as an installed tool starts: from bytecode caches (the warm-up writes them for a checkout), not
    # compiling every module's source on each start as PYTHONDONTWRITEBYTECODE=1 would make it
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    interpreter, _ = _median([sys.executable, "-c", "pass"], env, repeat)
    typer_only, typer_cpu = _median([sys.executable, "-c", "import typer"], env, repeat)
    figures = [
        Figure(NAME, "python -c 'import typer' (floor of a Typer CLI)", typer_only, "s", interpreter,
               "bare interpreter start-up", "—"),
    ]  # fmt: skip
    for label, command in LIGHT_VERBS.items():
        seconds, cpu = _median(command, env, repeat)
        figures.append(Figure(NAME, label, seconds, "s", typer_only, "python -c 'import typer'", "< 0.5 s"))
        figures.append(Figure(NAME, f"{label}, CPU", cpu, "s", typer_cpu, "python -c 'import typer', CPU"))
    return figures
