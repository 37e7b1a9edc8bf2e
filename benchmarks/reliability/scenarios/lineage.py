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
    """The shared template: a synthetic store of `runs` runs at lineage_0004, then upgraded to the heads
    with heavy data migrations deferred, so `lineage_0005` (the rebuild of the denormalized tables with
    the new ids) is recorded as pending and the denormalized tables are empty (created by dbt)."""
    name = f"{STORE}_{runs}"
    with env.connect("postgres") as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return name
    from migrata_samples.lineage_store import generate_store
    from python_ops import migrations

    env.create_database(name)
    migrations.migrate(env.dsn(name), "lineage@lineage_0004")  # an empty store: lineage_0003 runs at once
    with env.connect(name) as conn:
        generate_store(conn, runs, months=6)
    migrations.migrate(env.dsn(name), "heads", heavy="defer")
    # dbt creates the models' (empty) tables here, once: a run then starts on its chunks at once, so the
    # kills land in the chunked work rather than in a dbt build every trial would repeat
    from python_ops.lineage.batch import ensure_tables
    from python_ops.lineage.compiled import lineage_models

    with env.connect(name) as conn:
        ensure_tables(conn, lineage_models(env.settings(name)))
    with env.connect(name) as conn:
        pending = conn.execute(
            "SELECT name FROM migrata_pending_migrations WHERE status = 'pending'"
        ).fetchall()
    if pending != [("lineage_rebuild_ids",)]:
        raise RuntimeError(f"{name}: expected lineage_0005 pending, found {pending}")
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
    """`migrata migrate run-pending`: lineage_0005's rebuild of the denormalized tables with the new ids,
    deferred by the upgrade. Besides the tables, the pending record must end `done`."""

    name = "run-pending (lineage_0005 id rebuild)"

    def command(self, env: Env, db: str) -> list[str]:
        return ["migrate", "run-pending", "--set", f"chunk_size={self.CHUNK[self.scale]}"]

    def check(self, env: Env, db: str, control: Any, load: Any) -> Outcome:
        outcome = super().check(env, db, control, load)
        with env.connect(db) as conn:
            status = conn.execute(
                "SELECT status FROM migrata_pending_migrations WHERE name = 'lineage_rebuild_ids'"
            ).fetchone()
        if status != ("done",):
            outcome.problems.append(f"lineage_rebuild_ids is {status[0] if status else 'gone'}, not done")
        return outcome


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
            # the kill point as a share of the events acknowledged (at_s over the calibrated run's
            # length): how fast the server answers swings with the machine's load
            share = at_s / self.total_s if kill is not None else 1.0
            while not posters.done() and len(posters.acked) < share * len(self.events):
                time.sleep(0.005)
            if kill is not None:
                phase = "mid-run" if not posters.done() else "after-finish"
                killed = time.monotonic()
                self.killed_at_s = killed - started
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
        self.total_s = total
        return Calibration(total, 0.0)

    def trial(self, env: Env, number: int, kill: Kill, at_s: float) -> TrialResult:
        db = self.fresh(env)
        control = self.control(env, db)
        stats, recovery, phase, posters = self._run(env, db, kill, at_s)
        outcome = self.check(env, db, control, posters)
        result = TrialResult(
            self.name, kill, number, round(self.killed_at_s, 3), phase, 0, outcome.ok, outcome.lost,
            outcome.duplicated, round(recovery, 3), outcome.problems, {"load": stats},
        )  # fmt: skip
        if result.converged:
            self.cleanup(env, db)
        return result


class Retain(Scenario):
    """`migrata lineage retain --older-than 3months --export FILE --yes` on six months of ingested lineage.

    The template holds events ingested through `lineage ingest` (raw events by month, the normalized
    store, the denormalized tables and the edge table built by `lineage backfill`). Control, computed
    before the run from the cutoff the operation uses (the start of the UTC month 3 months ago): the
    rows that must stay (raw events, runs with their inputs and outputs, denormalized rows), counted
    and checksummed, and the raw events that must be exported; the edge table is compared with one
    uninterrupted run's. After the rerun nothing older than the cutoff remains, every kept row is there
    once and unchanged, and the export holds every dropped raw event exactly once.
    """

    name = "lineage retain"
    RUNS_PER_MONTH = {"small": 100, "full": 1_500}
    BATCH = {"small": 40, "full": 300}
    MONTHS = 6
    AGE = "3months"

    def prepare(self, env: Env) -> None:
        import datetime as dt

        from migrata_samples.lineage_store import new_run_events

        env.create_database(self.template, env.heads())
        now = dt.datetime.now(dt.UTC)
        events = []
        for k in range(self.MONTHS):
            at = now - dt.timedelta(days=30 * k + 1)
            events += new_run_events(50, self.RUNS_PER_MONTH[self.scale], at=at, offset=k)
        path = env.home / f"{self.template}.ndjson"
        path.write_text("".join(json.dumps(e) + "\n" for e in events))
        for args in (["lineage", "ingest", str(path)], ["lineage", "backfill"]):
            done = run_cli(args, env.cli_env(self.template), self.timeout_s)
            if done.code != 0:
                raise RuntimeError(f"{self.name}: {' '.join(args)} on the template failed: {done.output}")
        probe = self.fresh(env)  # the edge table after one uninterrupted run
        done = run_cli(self.command(env, probe), env.cli_env(probe), self.timeout_s)
        if done.code != 0:
            raise RuntimeError(f"{self.name}: the control run failed: {done.output}")
        with env.connect(probe) as conn:
            self.edges = table_digest(conn, "lineage_graph_edges", ("built_xmin",))
        self.cleanup(env, probe)

    def _export(self, env: Env, db: str):  # type: ignore[no-untyped-def]
        return env.home / f"export-{db}.ndjson"

    def control(self, env: Env, db: str) -> dict[str, Any]:
        with env.connect(db) as conn:
            row = conn.execute(
                "SELECT date_trunc('month', now() AT TIME ZONE 'UTC' - %s::interval) AT TIME ZONE 'UTC'",
                (self.AGE.replace("months", " months"),),
            ).fetchone()
            assert row is not None
            cutoff = row[0]
            kept = self._kept(conn, cutoff)
            dropped = conn.execute(
                "SELECT run_id::text, event_type FROM lineage_events_raw WHERE event_time < %s", (cutoff,)
            ).fetchall()
        if not dropped or not kept["lineage_events_raw"][0]:
            raise RuntimeError(f"{self.name}: the template has nothing to drop or nothing to keep")
        return {"cutoff": cutoff, "kept": kept, "dropped": sorted(dropped)}

    @staticmethod
    def _kept(conn: Any, cutoff: Any) -> dict[str, tuple[int, int, str]]:
        at = conn.execute("SELECT %s::timestamptz::text", (cutoff,)).fetchone()[0]
        day = f"'{at}'::timestamptz AT TIME ZONE 'UTC'"  # the partitions' run_date is a UTC date
        runs = f"run_uuid IN (SELECT uuid FROM lineage_runs WHERE first_event_time >= '{at}')"
        wheres = {
            "lineage_events_raw": f"event_time >= '{at}'",
            "lineage_runs": f"first_event_time >= '{at}'",
            "lineage_run_inputs": runs,
            "lineage_run_outputs": runs,
            "run_lineage_denormalized": f"run_date >= ({day})::date",
        }
        return {t: table_digest(conn, t, VOLATILE, w) for t, w in wheres.items()}

    def command(self, env: Env, db: str) -> list[str]:
        return ["lineage", "retain", "--older-than", self.AGE, "--export", str(self._export(env, db)),
                "--batch-size", str(self.BATCH[self.scale]), "--yes"]  # fmt: skip

    def rerun_command(self, env: Env, db: str) -> list[str]:
        return [*self.command(env, db), "--wait"]

    def started(self, env: Env, db: str) -> bool:
        with env.connect(db) as conn:
            row = conn.execute("SELECT count(*) FROM migrata_checkpoints WHERE operation = 'lineage_retain'")
            return row.fetchone() != (0,)

    def check(self, env: Env, db: str, control: dict[str, Any], load: Any) -> Outcome:
        lost = duplicated = 0
        problems: list[str] = []
        cutoff = control["cutoff"]
        with env.connect(db) as conn:
            now = self._kept(conn, cutoff)
            for table, (rows, distinct, digest) in now.items():
                want_rows, _, want = control["kept"][table]
                lost += max(0, want_rows - distinct)
                duplicated += rows - distinct + max(0, distinct - want_rows)
                if digest != want:
                    problems.append(f"{table}: kept rows differ from the control ({rows} vs {want_rows})")
            old = conn.execute(
                "SELECT (SELECT count(*) FROM lineage_events_raw WHERE event_time < %(c)s) "
                "+ (SELECT count(*) FROM lineage_runs WHERE first_event_time < %(c)s)",
                {"c": cutoff},
            ).fetchone()
            if old != (0,):
                problems.append(f"{old[0] if old else '?'} raw events or runs older than the cutoff remain")
            edges = table_digest(conn, "lineage_graph_edges", ("built_xmin",))
        if edges != self.edges:
            problems.append(f"lineage_graph_edges differs from the uninterrupted run's ({edges[0]} rows)")
        path = self._export(env, db)
        exported = []
        if path.exists():
            for line in path.read_text().splitlines():
                event = json.loads(line)
                exported.append((event["run"]["runId"], event["eventType"]))
        want = set(control["dropped"])
        lost += len(want - set(exported))
        duplicated += len(exported) - len(set(exported))
        if set(exported) - want:
            problems.append(f"{len(set(exported) - want)} exported events that were not to be dropped")
        return Outcome(lost, duplicated, problems)

    def cleanup(self, env: Env, db: str) -> None:
        self._export(env, db).unlink(missing_ok=True)
        super().cleanup(env, db)
