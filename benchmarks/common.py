"""Own what every benchmark shares: an isolated engine session, timing, the results table and JSON.

A benchmark module `benchmarks/<cap>/bench_<verb>_<size>.py` defines `run(session, scale) -> list[Figure]`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import tempfile
import threading
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
    size: float | None = None  # the work measured (rows, runs, entries): a point on the capability's curve

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

    def meter(self) -> Meter:
        return Meter(self.settings.pg_data_dir / "data", self.home)


def status_kb(pid: int | str, *fields: str) -> dict[str, int]:
    """`VmRSS`-style fields (kB) of /proc/<pid>/status; empty when the process is gone."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in fields:
                out[key] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return kids


def disk_bytes(path: Path) -> int:
    total = 0
    for f in path.rglob("*"):
        with contextlib.suppress(OSError):
            if f.is_file() and not f.is_symlink():
                total += f.stat().st_blocks * 512
    return total


def cpu_seconds(pg_data: Path) -> tuple[float, float]:
    """(this process's CPU seconds incl. chDB's threads, the Postgres server's CPU seconds so far).

    Postgres: the postmaster's own and its reaped children's time (backends that exited, e.g. the
    connections chDB's `postgresql()` opens) plus every live child's.
    """
    tick = os.sysconf("SC_CLK_TCK")
    own = time.process_time()
    try:
        master = int((pg_data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return own, 0.0

    def fields(pid: int) -> list[str]:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return []

    f = fields(master)
    total = sum(int(x) for x in f[11:15]) if f else 0  # utime, stime, cutime, cstime
    for child in _children(master):
        c = fields(child)
        total += sum(int(x) for x in c[11:13]) if c else 0
    return own, total / tick


class Meter:
    """Peak memory of one measured operation and the disk its session holds afterwards.

    migrata: this process's peak RSS (`VmHWM`, reset at the start through /proc/self/clear_refs); chDB runs
    in this process, so its memory is part of that figure. Postgres: sampled every 0.2 s, the private
    memory of all the server's processes (`RssAnon`, summed) plus the largest shared-memory footprint
    (`RssShmem`, the buffer pages touched, counted once). Disk: the session home (Postgres and chDB).
    """

    def __init__(self, pg_data: Path, home: Path, every_s: float = 0.2) -> None:
        self.pg_data, self.home, self.every_s = pg_data, home, every_s
        self.migrata_mb = self.engine_mb = self.disk_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _postmaster(self) -> int | None:
        try:
            return int((self.pg_data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _sample(self) -> None:
        master = self._postmaster()
        while not self._stop.is_set():
            if master:
                pids = [master, *_children(master)]
                stats = [status_kb(p, "RssAnon", "RssShmem") for p in pids]
                anon = sum(s.get("RssAnon", 0) for s in stats)
                shmem = max((s.get("RssShmem", 0) for s in stats), default=0)
                self.engine_mb = max(self.engine_mb, (anon + shmem) / 1024)
            self._stop.wait(self.every_s)

    def __enter__(self) -> Meter:
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.migrata_mb = status_kb("self", "VmHWM").get("VmHWM", 0) / 1024
        self.disk_mb = disk_bytes(self.home) / 2**20

    def figures(self, benchmark: str, what: str) -> list[Figure]:
        return [
            Figure(
                benchmark, f"{what}: peak RSS migrata (incl. chDB)", self.migrata_mb, "MB", goal="≤ 1024 MB"
            ),
            Figure(
                benchmark,
                f"{what}: peak RSS Postgres (private, all processes + shared once)",
                self.engine_mb,
                "MB",
            ),
            Figure(benchmark, f"{what}: disk used by the session", self.disk_mb, "MB"),
        ]


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
