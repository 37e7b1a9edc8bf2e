"""Archive N audit rows spread over 30 days (full: 5M, small: 200K) and compare, in the same run:

- archive throughput incl. verification (pull and push) vs the bare `INSERT INTO … SELECT FROM
  postgresql(…)` of the same rows (goal ≤ 3x, ≥ 500K rows/s) and vs the seed's approach (fetch 10K rows
  in Python, insert, repeat; measured on a slice and given as rows/s);
- where a run's time goes: plan (count from the index, late rows), copy (the Postgres digest runs beside
  it), verify (ClickHouse digest, then waiting for Postgres'), finish;
- cleanup delete throughput at batch sizes 1K / 10K / 50K;
- an incremental run with nothing new (goal < 1 s), the compiled models cached: with every archived
  row still in Postgres (cleanup is off by default), then after a cleanup with the defaults, right
  after it and in the steady state (vacuumed); at every scale, xl included;
- once, what a first run adds: dbt building the table from its model and compiling it (not in the
  throughput figures, which run with the table there and the compiled SQL cached, as every later run);
- the peak RSS of the process that runs a pull archive as the CLI does: the same pull run again, in a
  fresh `spawn` process that imports only what `migrata archive run` imports (the in-process figure is
  the benchmark's own process, which also holds its data and libraries).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, Session, cpu_seconds, status_kb, timed
from migrata_samples import archive_rows as sample
from python_ops import archive
from python_ops.archive.apply import specs
from python_ops.db import connect
from python_ops.engines import control
from python_ops.engines.context import Engines
from python_ops.runner import Report
from python_ops.settings import MigrataSettings

TABLE = "lifecycle_audit_log"
NAME = "archive_audit"
XL = True


def _with(settings: MigrataSettings, **values: object) -> MigrataSettings:
    return settings.model_copy(update={"archive": settings.archive.model_copy(update=values)})


def _run(settings: MigrataSettings, **kwargs: Any) -> list[Report]:
    models = archive.archive_models(settings)
    return archive.run(Engines.from_settings(settings), settings.archive, models=models, **kwargs)


def _empty_archive(settings: MigrataSettings, dsn: str) -> None:
    """Before a measured run: the ClickHouse table emptied and no watermark, so it copies every aged row."""
    with control.clickhouse(settings) as ch:
        ch.command(f"TRUNCATE TABLE {TABLE}")
    with connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM migration_watermarks")


def _migrated(reports: list[Report]) -> int:
    """The rows a run copied, over its reports."""
    return sum(int(r.details.get("records_migrated", 0)) for r in reports)


class PhasePeaks:
    """A fault hook noting this process's peak RSS per phase of a run: at each phase's start the peak so
    far (`VmHWM`) closes the previous phase and is reset (/proc/self/clear_refs)."""

    def __init__(self) -> None:
        self.phase = "plan"
        self.peaks: dict[str, float] = {}
        Path("/proc/self/clear_refs").write_text("5")

    def _close(self) -> None:
        self.peaks[self.phase] = status_kb("self", "VmHWM")["VmHWM"] / 1024
        Path("/proc/self/clear_refs").write_text("5")

    def __call__(self, phase: str) -> None:
        name = {"copy": "copy", "verify": "verify", "watermark": "finish"}.get(phase)
        if name and name not in self.peaks and name != self.phase:
            self._close()
            self.phase = name

    def done(self) -> dict[str, float]:
        self._close()
        return self.peaks


def _pull_in_child(
    settings_json: str, table: str, now: datetime
) -> tuple[float, int, float, float, dict[str, float], int]:
    """In a fresh process: one pull run as `migrata archive run` makes it; (seconds, rows, peak RSS MB
    of this process, RSS MB before the run, peak RSS MB per phase, ClickHouse's active parts after it).
    chDB runs in this process, so its memory is counted. `VmHWM`, not `ru_maxrss`: getrusage keeps the
    forking parent's peak across the spawn's exec."""
    settings = MigrataSettings.model_validate_json(settings_json)
    before = status_kb("self", "VmRSS")["VmRSS"] / 1024
    peaks = PhasePeaks()
    seconds, reports = timed(lambda: _run(settings, table=table, now=now, hook=peaks))
    assert all(r.ok for r in reports), [r.summary() for r in reports]
    by_phase = peaks.done()
    with control.clickhouse(settings) as ch:
        parts = int(ch.command(f"SELECT count() FROM system.parts WHERE active AND table = '{table}'"))
    return seconds, _migrated(reports), max(by_phase.values()), before, by_phase, parts


def _cleanup(settings: MigrataSettings, **kwargs: Any) -> list[Report]:
    return archive.run_cleanup(Engines.from_settings(settings), settings.archive, **kwargs)


def _seed_approach(settings: MigrataSettings, dsn: str, cutoff: datetime, limit: int) -> float:
    """The seed's loop: SELECT 10K rows in Python, insert them into ClickHouse, repeat; rows/s."""
    with connect(dsn) as conn, control.clickhouse(settings) as ch:
        ch.command(f"CREATE TABLE seed_copy AS {TABLE}")
        cols = ["id", "dataset_id", "manifest_id", "event_type", "payload", "created_at"]
        started = datetime.now(UTC)
        done, last = 0, (datetime(1970, 1, 1, tzinfo=UTC), "")
        while done < limit:
            rows = conn.execute(
                "SELECT id, dataset_id, manifest_id, event_type, payload::text, created_at "
                "FROM lifecycle_audit_log "
                "WHERE dataset_id = 'ds-1' AND created_at <= %s AND created_at > %s "
                "ORDER BY created_at LIMIT 10000",  # the (dataset_id, created_at) index, like the seed
                (cutoff, last[0]),
            ).fetchall()
            if not rows:
                break
            ch.insert("seed_copy", [list(r) for r in rows], column_names=cols)
            done += len(rows)
            last = (rows[-1][5], rows[-1][0])
        seconds = (datetime.now(UTC) - started).total_seconds()
        ch.command("DROP TABLE seed_copy")
    return done / seconds


class PhaseClock:
    """A fault hook that only notes when a run reaches each phase (first time), to split its time,
    and the CPU seconds of this process (chDB runs in it) and of Postgres at each mark."""

    def __init__(self, pg_data: Path | None = None) -> None:
        self.pg_data = pg_data
        self.started = time.perf_counter()
        self.marks: dict[str, float] = {}
        self.cpu: dict[str, tuple[float, float]] = {"start": self._cpu()}

    def _cpu(self) -> tuple[float, float]:
        return cpu_seconds(self.pg_data) if self.pg_data else (0.0, 0.0)

    def __call__(self, phase: str) -> None:
        if phase not in self.marks:
            self.marks[phase] = time.perf_counter()
            self.cpu[phase] = self._cpu()

    def cpu_split(self) -> dict[str, tuple[float, float]]:
        """Phase → (CPU s of migrata + chDB, CPU s of Postgres)."""
        end = self._cpu()
        order = [("plan", "start", "copy"), ("copy", "copy", "verify"), ("verify", "verify", "watermark"),
                 ("finish", "watermark", None)]  # fmt: skip
        out = {}
        for name, a, b in order:
            x, y = self.cpu[a], self.cpu[b] if b else end
            # a backend exiting between two marks can shift a few ms across them: never below 0
            out[name] = (max(0.0, y[0] - x[0]), max(0.0, y[1] - x[1]))
        return out

    def split(self, ended: float) -> dict[str, float]:
        m = self.marks
        return {
            "plan (count, late rows)": m["copy"] - self.started,
            "copy (Postgres digest beside it)": m["verify"] - m["copy"],
            "verify (ClickHouse digest, wait for Postgres')": m["watermark"] - m["verify"],
            "finish (watermark, audit)": ended - m["watermark"],
        }


def _steady_state(
    settings: MigrataSettings, dsn: str, now: datetime, kept_s: float, aged: int
) -> list[Figure]:
    """Cleanup with the defaults (rows older than watermark - 24 h grace), then the run with nothing new:
    right after the cleanup (its dead rows not vacuumed yet) and once (auto)vacuum has reclaimed them.
    Sizes are the archived rows, as for the run before cleanup, so the figures draw curves across scales."""
    seconds, reports = timed(lambda: _cleanup(settings, table=TABLE))
    assert all(r.ok for r in reports), [r.summary() for r in reports]
    deleted = sum(r.units_done for r in reports)
    fresh_s, idle = timed(lambda: _run(settings, table=TABLE, now=now))
    assert all(r.status == "nothing-to-do" for r in idle)
    with connect(dsn, autocommit=True) as conn:
        conn.execute(f"VACUUM ANALYZE {TABLE}")
        left = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]  # type: ignore[index]
    steady_s, idle = timed(lambda: _run(settings, table=TABLE, now=now))
    assert all(r.status == "nothing-to-do" for r in idle)
    return [
        Figure(NAME, f"cleanup with the defaults (batch {settings.archive.batch_size}), all at once",
               deleted / seconds, "rows/s", size=deleted),
        Figure(NAME, f"the same: rows deleted / left in Postgres ({left})", deleted, "rows"),
        Figure(NAME, "incremental run with nothing new, right after cleanup (dead rows not vacuumed)",
               fresh_s, "s", kept_s, "the same before cleanup", size=aged),
        Figure(NAME, "incremental run with nothing new, steady state (cleaned up, vacuumed)",
               steady_s, "s", kept_s, "the same before cleanup", "< 1 s", size=aged),
    ]  # fmt: skip


def run(session: Session, scale: str) -> list[Figure]:
    n = {"small": 200_000, "full": 5_000_000, "xl": 50_000_000}[scale]
    now = datetime.now(UTC)
    settings = _with(session.settings, max_age_hours=168, grace_period_hours=24)
    with connect(session.dsn, autocommit=True) as conn:
        sample.generate(conn, rows=n, days=30, datasets=1, now=now, tables=(TABLE,))
        conn.execute(f"VACUUM ANALYZE {TABLE}")
    cutoff = now - timedelta(hours=168)
    figures: list[Figure] = []

    # bare copy: the same rows with one INSERT … SELECT FROM postgresql(…), no verification
    with control.clickhouse(settings) as ch:
        ch.command(
            "CREATE TABLE bare (id String, dataset_id String, manifest_id Nullable(String), "
            "event_type String, payload String, created_at DateTime64(6, 'UTC')) "
            "ENGINE = MergeTree ORDER BY (dataset_id, created_at, id)"
        )
        coll = settings.clickhouse.pg_collection
        bare_s, _ = timed(
            lambda: ch.command(
                f"INSERT INTO bare SELECT * FROM postgresql({coll}, schema='public', table='{TABLE}') "
                f"WHERE created_at <= toDateTime64('{cutoff.strftime('%Y-%m-%d %H:%M:%S.%f')}', 6, 'UTC')"
            )
        )
        aged = ch.command("SELECT count() FROM bare")
        ch.command("DROP TABLE bare")
    bare_rps = aged / bare_s

    # once: dbt builds the tables from their models and compiles them (cached for every later run)
    engines = Engines.from_settings(settings)
    with connect(session.dsn, autocommit=True) as conn:
        all_specs = specs(conn, settings.archive)
    first_s, _ = timed(lambda: archive.archive_models(settings).prepare(engines, all_specs))

    # migrata: copy + verify + watermark (cleanup measured separately), push then pull into an empty table
    results, splits, cpu = {}, {}, {}
    meter = session.meter()
    for transport in ("push", "pull") if scale != "xl" else ("pull",):
        cfg = _with(settings, transport=transport)
        _empty_archive(cfg, session.dsn)
        clock = PhaseClock(session.settings.pg_data_dir / "data")
        with meter if transport == "pull" else contextlib.nullcontext():
            seconds, reports = timed(lambda cfg=cfg, clock=clock: _run(cfg, table=TABLE, now=now, hook=clock))
        splits[transport] = clock.split(clock.started + seconds)
        cpu[transport] = clock.cpu_split()
        assert all(r.ok for r in reports), [r.summary() for r in reports]
        copied = _migrated(reports)
        assert copied == aged, (copied, aged)
        results[transport] = (seconds, copied / seconds)
    # the same pull run in a fresh process, as the CLI runs it: that process's peak RSS and the engine's
    cfg = _with(settings, transport="pull")
    _empty_archive(cfg, session.dsn)
    child_meter = session.meter()
    with child_meter, ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        child_s, child_rows, child_mb, child_start_mb, child_peaks, parts = pool.submit(
            _pull_in_child, cfg.model_dump_json(), TABLE, now
        ).result()
    assert child_rows == aged, (child_rows, aged)
    figures += [
        Figure(NAME, f"archive {aged} rows (pull) in a fresh process, as the CLI: peak RSS of that process "
               f"(incl. chDB; {child_start_mb:.0f} MB before the run)", child_mb, "MB", goal="≤ 1024 MB"),
        *(Figure(NAME, f"the same, peak RSS during the {ph}", mb, "MB") for ph, mb in child_peaks.items()),
        Figure(NAME, "the same: ClickHouse's active parts of the table after the run", parts, "parts"),
        Figure(NAME, f"archive {aged} rows (pull) in a fresh process: peak RSS Postgres",
               child_meter.engine_mb, "MB"),
        Figure(NAME, "archive run (pull) in a fresh process", child_s, "s", results["pull"][0],
               "the same run in the benchmark's process"),
    ]  # fmt: skip
    # nothing new, nothing cleaned up (the default): Postgres still holds every archived row
    kept_s, kept = timed(lambda: _run(settings, table=TABLE, now=now))
    assert all(r.status == "nothing-to-do" for r in kept)
    bare_name = "bare INSERT … SELECT FROM postgresql()"
    for transport, label in (("pull", "pull: postgresql()"), ("push", "push: COPY → Arrow"))[: len(results)]:
        secs, rps = results[transport]
        default = transport == "pull"
        figures.append(Figure(NAME, f"archive {aged} rows incl. verification ({label})", secs, "s", bare_s,
                              bare_name, "≤ 3x bare" if default else ""))  # fmt: skip
        figures.append(Figure(NAME, f"archive throughput incl. verification ({label})", rps, "rows/s",
                              bare_rps, bare_name, "≥ 500K rows/s" if default else ""))  # fmt: skip
    for phase, secs in splits["pull"].items():
        figures.append(Figure(NAME, f"pull run: {phase}", secs, "s", results["pull"][0], "whole run"))
    for phase, (mine, pg) in cpu["pull"].items():
        figures.append(Figure(NAME, f"pull run CPU, {phase}: migrata + chDB", mine, "CPU s"))
        figures.append(Figure(NAME, f"pull run CPU, {phase}: Postgres", pg, "CPU s"))
    total_cpu = sum(a + b for a, b in cpu["pull"].values())
    figures.append(
        Figure(
            NAME, "pull run CPU, all phases, both engines", total_cpu, "CPU s", results["pull"][0], "wall s"
        )
    )
    figures += meter.figures(NAME, f"archive {aged} rows (pull)")
    figures.append(Figure(NAME, "archive run (pull)", results["pull"][0], "s", bare_s, bare_name, size=aged))
    figures.append(
        Figure(NAME, "incremental run, nothing new, no cleanup (rows kept)", kept_s, "s", size=aged)
    )
    if scale == "xl":  # the first run, an incremental one, then cleanup and the steady state
        figures.append(Figure(NAME, f"the same, no cleanup yet ({aged} archived rows still in Postgres)",
                              kept_s, "s"))  # fmt: skip
        figures += _steady_state(settings, session.dsn, now, kept_s, aged)
        return figures
    pull_rps = results["pull"][1]
    seed_rps = _seed_approach(settings, session.dsn, cutoff, limit=min(aged, 300_000))
    seed_name = "archive throughput vs the seed's loop (10K rows per fetch+insert)"
    figures.append(Figure(NAME, seed_name, pull_rps, "rows/s", seed_rps, "seed loop (fetch 10K, insert)"))

    # cleanup: delete the same number of rows at each batch size, moving the bound forward each time
    per_hour = n / (30 * 24)
    chunk = 150_000 if scale == "full" else 20_000
    with connect(session.dsn, autocommit=True) as conn:
        oldest = conn.execute(f"SELECT min(created_at) FROM {TABLE}").fetchone()[0]  # type: ignore[index]
    rates = {}
    for i, batch in enumerate((1_000, 10_000, 50_000)):
        bound = oldest + timedelta(hours=(i + 1) * chunk / per_hour)
        grace = (cutoff - bound) / timedelta(hours=1)
        cfg = _with(settings, batch_size=batch, grace_period_hours=grace)
        seconds, reports = timed(lambda cfg=cfg: _cleanup(cfg, table=TABLE))
        deleted = sum(r.units_done for r in reports)
        assert all(r.ok for r in reports) and deleted > 0.9 * chunk, deleted
        rates[batch] = deleted / seconds
    for batch, rate in rates.items():
        figures.append(Figure(NAME, f"cleanup delete, batch {batch}", rate, "rows/s", rates[10_000],
                              "batch 10000"))  # fmt: skip
    # nothing new, in the steady state (cleanup done): plan, late-row check of the grace window, verify
    figures += _steady_state(settings, session.dsn, now, kept_s, aged)
    figures.append(
        Figure(NAME, f"the same, no cleanup yet ({aged} archived rows still in Postgres)", kept_s, "s")
    )
    figures.append(
        Figure(NAME, "first run only: dbt builds the tables and compiles their models", first_s, "s")
    )

    return figures
