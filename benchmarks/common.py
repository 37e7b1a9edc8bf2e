"""Own what every benchmark shares: an isolated engine session, timing, the results table and JSON.

A benchmark module `benchmarks/<cap>/bench_<verb>_<size>.py` defines `run(session, scale) -> list[Figure]`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from python_ops.engines.postgres import EmbeddedPostgres, free_port
from python_ops.settings import MigrataSettings

RESULTS = Path(__file__).parent / "results"


@dataclass
class Figure:
    """One measured figure, with the baseline it is compared to and the goal it should reach."""

    benchmark: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    goal: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0) or self.value == 0:
            return None
        return self.value / self.baseline  # type: ignore[operator]


@dataclass
class Session:
    """Engines for one benchmark run: an embedded Postgres and a chDB directory in a temp home."""

    settings: MigrataSettings
    dsn: str
    home: Path


@contextlib.contextmanager
def session(keep: bool = False) -> Iterator[Session]:
    from python_ops import migrations
    from python_ops.engines import control

    home = Path(tempfile.mkdtemp(prefix="migrata-bench-"))
    home.chmod(0o755)
    port = free_port()
    settings = MigrataSettings(home=home, postgres={"port": port})  # type: ignore[arg-type]
    server = EmbeddedPostgres(settings.pg_data_dir, port=port, database=settings.postgres.database)
    server.up()
    try:
        control.configure_clickhouse(settings)
        migrations.migrate(server.dsn, "heads")
        yield Session(settings, server.dsn, home)
    finally:
        server.down()
        if not keep:
            shutil.rmtree(home, ignore_errors=True)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def p50(fn: Callable[[], Any], repeat: int = 7) -> float:
    """Median seconds of `repeat` calls after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def write_results(name: str, figures: list[Figure], scale: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(
        json.dumps(
            {"benchmark": name, "scale": scale, "figures": [asdict(f) | {"ratio": f.ratio} for f in figures]},
            indent=2,
        )
    )
    return path
