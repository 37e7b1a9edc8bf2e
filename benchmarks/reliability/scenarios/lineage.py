"""Own the lineage scenarios: the deferred backfill run by `migrate run-pending`, `lineage backfill` with
one and two workers, and ingestion through `lineage serve` under HTTP load.

The backfills share one template: a synthetic normalized store whose backfill revision (`lineage_0003`)
was deferred. Their control is the result of one uninterrupted run on a clone of that template, made
before the trials: the denormalized tables' rows (volatile columns left out), counted and checksummed.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from benchmarks.reliability.harness import (
    Env,
    Kill,
    Outcome,
    Scenario,
    TrialResult,
    finish,
    kill_group,
    run_cli,
    start_cli,
    table_digest,
)
from python_ops.engines.postgres import free_port

DENORMALIZED = ("run_lineage_denormalized", "run_parent_lineage_denormalized")
VOLATILE = ("denormalized_at", "denormalized_xid")  # when and in which transaction a row was written
STORE = "tpl_lineage_store"


def lineage_store(env: Env, runs: int) -> str:
    """The shared template: lineage_0002 + a synthetic store of `runs` runs, lineage_0003 deferred."""
    name = f"{STORE}_{runs}"
    with env.connect("postgres") as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return name
    from migrata_samples.lineage_store import generate_store
    from python_ops import migrations

    env.create_database(name)
    migrations.migrate(env.dsn(name), "lineage@lineage_0002")
    with env.connect(name) as conn:
        generate_store(conn, runs, months=6)
    migrations.migrate(env.dsn(name), "heads", heavy="defer")
    return name


def digests(env: Env, db: str) -> dict[str, tuple[int, int, str]]:
    with env.connect(db) as conn:
        return {t: table_digest(conn, t, VOLATILE) for t in DENORMALIZED}


class _Backfill(Scenario):
    RUNS = {"small": 3_000, "full": 100_000}
    CHUNK = {"small": 300, "full": 5_000}

    def prepare(self, env: Env) -> None:
        env.create_database(self.template, lineage_store(env, self.RUNS[self.scale]))
        probe = self.fresh(env)  # the control: one uninterrupted run, before any trial
        done = run_cli(self.command(env, probe), env.cli_env(probe), self.timeout_s)
        if done.code != 0:
            raise RuntimeError(f"{self.name}: the control run failed: {done.output}")
        self.expected = digests(env, probe)
        self.cleanup(env, probe)

    def control(self, env: Env, db: str) -> dict[str, tuple[int, int, str]]:
        return self.expected

    def started(self, env: Env, db: str) -> bool:
        with env.connect(db) as conn:
            row = conn.execute(
                "SELECT count(*) FROM migrata_checkpoints WHERE operation LIKE 'lineage_backfill%%'"
            )
            return row.fetchone() != (0,)

    def check(self, env: Env, db: str, control: Any, load: Any) -> Outcome:
        lost = duplicated = 0
        problems = []
        for table, (rows, distinct, digest) in digests(env, db).items():
            want_rows, _, want = control[table]
            lost += max(0, want_rows - distinct)
            duplicated += rows - distinct + max(0, distinct - want_rows)
            if digest != want:
                problems.append(f"{table}: content differs from the uninterrupted run ({rows} rows)")
        return Outcome(lost, duplicated, problems)


class RunPending(_Backfill):
    """`migrata migrate run-pending`: the lineage backfill an upgrade deferred."""

    name = "run-pending"

    def command(self, env: Env, db: str) -> list[str]:
        return ["migrate", "run-pending", "--set", f"chunk_size={self.CHUNK[self.scale]}"]


class Backfill(_Backfill):
    """`migrata lineage backfill --workers N` (then the graph-edges model)."""

    def __init__(self, scale: str = "full", workers: int = 1) -> None:
        self.workers = workers
        self.name = f"lineage backfill, {workers} worker{'s' if workers > 1 else ''}"
        super().__init__(scale)

    def command(self, env: Env, db: str) -> list[str]:
        return [
            "lineage",
            "backfill",
            "--chunk-size",
            str(self.CHUNK[self.scale]),
            "--workers",
            str(self.workers),
        ]


class Backfill2(Backfill):
    def __init__(self, scale: str = "full") -> None:
        super().__init__(scale, workers=2)


class _Posters:
    """Client threads posting events to the server, each retried until it is acknowledged (2xx)."""

    def __init__(self, url: str, events: list[dict[str, Any]], threads: int = 4) -> None:
        self.url, self.todo, self.lock = url, list(enumerate(events)), threading.Lock()
        self.acked: set[int] = set()
        self.retries = 0
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        while not self.stop_event.is_set():
            with self.lock:
                if not self.todo:
                    return
                n, event = self.todo.pop()
            body = json.dumps(event).encode()
            while not self.stop_event.is_set():
                request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        if 200 <= response.status < 300:
                            with self.lock:
                                self.acked.add(n)
                            break
                except (OSError, http.client.HTTPException):  # refused, reset, cut short: retry
                    pass
                with self.lock:
                    self.retries += 1
                time.sleep(0.05)

    def done(self) -> bool:
        return all(not t.is_alive() for t in self.threads)

    def stop(self) -> dict[str, Any]:
        self.stop_event.set()
        for t in self.threads:
            t.join()
        return {"acked": len(self.acked), "retries": self.retries}


class Ingestion(Scenario):
    """`migrata lineage serve` killed while clients post events; restarted; every acked event kept once.

    Control: the events to send (run ids, START and COMPLETE of each). The clients retry every event
    until the server acknowledges it. Afterwards each event is stored exactly once (raw events), and
    every run exists with its final state.
    """

    name = "lineage ingestion under HTTP load"
    RUNS = {"small": 150, "full": 1_500}

    def prepare(self, env: Env) -> None:
        env.create_database(self.template, lineage_store(env, 1_000))
        from migrata_samples.lineage_store import new_run_events

        self.events = new_run_events(10, self.RUNS[self.scale], offset=random.Random(5).randrange(1000))

    def control(self, env: Env, db: str) -> dict[str, Any]:
        keys = [(e["run"]["runId"], e["eventType"]) for e in self.events]
        return {"runs": {run for run, _ in keys}, "keys": keys}

    def command(self, env: Env, db: str) -> list[str]:
        return ["lineage", "serve", "--port", str(self.port)]

    def started(self, env: Env, db: str) -> bool:
        with env.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM lineage_events_raw").fetchone() != (0,)

    def _serve(self, env: Env, db: str):  # type: ignore[no-untyped-def]
        proc = start_cli(self.command(env, db), env.cli_env(db), log=env.home / f"serve-{db}.log")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(self.url(), timeout=1):
                    break
            except urllib.error.HTTPError:
                break  # it answers (a GET without a node is a 4xx): it is up
            except OSError:
                time.sleep(0.1)
        return proc

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/lineage"

    def _run(self, env: Env, db: str, kill: Kill | None, at_s: float) -> tuple[Any, float, str, Any]:
        self.port = free_port()
        server = self._serve(env, db)
        posters = _Posters(self.url(), self.events)
        started = time.monotonic()
        phase, recovery = "after-finish", 0.0
        try:
            while not posters.done() and time.monotonic() - started < at_s:
                time.sleep(0.01)
            if kill is not None:
                phase = "mid-run" if not posters.done() else "after-finish"
                killed = time.monotonic()
                if kill == "tool":
                    kill_group(server)
                    finish(server, started, 30)
                else:
                    env.kill_postmaster()
                    env.restart()
                if server.poll() is not None:  # the tool is gone: start it again (the "rerun")
                    server = self._serve(env, db)
                while not posters.done() and time.monotonic() - killed < self.timeout_s:
                    time.sleep(0.05)
                recovery = time.monotonic() - killed
            else:
                while not posters.done():
                    time.sleep(0.05)
        finally:
            stats = posters.stop()
            kill_group(server)
            finish(server, started, 30)
        return stats, recovery, phase, posters

    def check(self, env: Env, db: str, control: dict[str, Any], load: Any) -> Outcome:
        with env.connect(db) as conn:
            stored = conn.execute(
                "SELECT run_id::text, event_type FROM lineage_events_raw WHERE run_id = ANY(%s)",
                (list(control["runs"]),),
            ).fetchall()
            runs = conn.execute(
                "SELECT count(*) FROM lineage_runs WHERE uuid = ANY(%s) AND state = 'COMPLETE'",
                (list(control["runs"]),),
            ).fetchone()
        assert runs is not None
        keys = control["keys"]
        acked = [keys[n] for n in load.acked] if load is not None else keys
        lost = len(set(acked) - set(stored))  # acknowledged to a client, yet not stored
        problems = [] if len(acked) == len(keys) else [f"only {len(acked)} of {len(keys)} events acked"]
        if runs[0] != len(control["runs"]):
            problems.append(f"{runs[0]} of {len(control['runs'])} runs complete")
        return Outcome(lost, len(stored) - len(set(stored)), problems)

    def calibrate(self, env: Env):  # type: ignore[no-untyped-def]
        from benchmarks.reliability.harness import Calibration

        db = self.fresh(env)
        t0 = time.monotonic()
        stats, _, _, posters = self._run(env, db, None, 0)
        total = time.monotonic() - t0
        outcome = self.check(env, db, self.control(env, db), posters)
        if not outcome.ok:
            raise RuntimeError(f"{self.name}: the uninterrupted run did not converge: {outcome}")
        self.cleanup(env, db)
        env.log(f"{self.name}: calibrated, {total:.1f}s for {len(self.events)} events ({stats})")
        return Calibration(total, 0.0)

    def trial(self, env: Env, number: int, kill: Kill, at_s: float) -> TrialResult:
        db = self.fresh(env)
        control = self.control(env, db)
        stats, recovery, phase, posters = self._run(env, db, kill, at_s)
        outcome = self.check(env, db, control, posters)
        result = TrialResult(
            self.name, kill, number, round(at_s, 3), phase, 0, outcome.ok, outcome.lost,
            outcome.duplicated, round(recovery, 3), outcome.problems, {"load": stats},
        )  # fmt: skip
        if result.converged:
            self.cleanup(env, db)
        return result
