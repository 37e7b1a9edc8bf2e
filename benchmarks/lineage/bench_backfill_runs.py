"""Backfill, graph queries and incremental refresh on a synthetic store (full: 1M runs over 24 months,
10K jobs, 50K datasets; small: 10K runs; xl: 1M and 10M runs, not in CI, the backfill with
`--workers 2` only), each against a baseline measured in the same run, with the peak memory of the
backfill and the disk it leaves:

- backfill (chunks of 10000 runs, partitioned, indexed), with one and with two workers, vs a bare
  INSERT … SELECT of the same denormalizing query into an unpartitioned table without indexes
  (goal ≤ 3x);
- the first build of lineage_graph_edges (dbt) after the backfill, as a share of the backfill;
- lineage graph (depth 3, both directions) p50 from lineage_graph_edges vs the same recursive walk on
  the normalized tables, at 10K / 100K / 1M runs, asserting identical answers (goal: ≥ 50x faster at
  1M); both are prepared statements, warmed up first so the plan cache has settled; then the two
  alternating, so the edge query runs after the normalized walk has taken the CPU caches;
- incremental refresh (dbt models) of 1K new runs ingested on top (goal < 2 s, flat as the store grows);
- the read API's statements (python_ops/lineage/reads.py, denormalized) at each size, p50 beside a bare
  single-index probe in the same run: their cost must stay flat as the store grows (issue 16; the
  ratios against the normalized answers are bench_read_api's).

Before each size, the disk it needs is estimated from the last size's footprint per run; a size that
would not fit is skipped with a message rather than filling the disk under the engines.

The store's run ids are UUIDv7, time-ordered, as OpenLineage clients make them (since client 1.15), unless
`--run-ids v4`: random ids, the worst case for every index keyed by run id (the inputs' and outputs' keys
the backfill probes per run; at 10M runs they no longer fit shared buffers), and the store of the rounds
before round uuid10 (docs/performance_log.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import get_args

import psycopg
from psycopg import sql

from benchmarks.common import Figure, Session, disk_bytes, p50, session, timed, write_results
from benchmarks.lineage import BARE_PROBE, HISTORY_ROWS, explain
from migrata_samples.lineage_store import RunIds, dataset_name, generate_store, job_name, new_run_events
from python_ops.dbt_project import run_dbt
from python_ops.engines.context import Engines
from python_ops.lineage import batch, reads
from python_ops.lineage.backfill import backfill
from python_ops.lineage.compiled import lineage_models
from python_ops.lineage.graph import Source, lineage_graph
from python_ops.lineage.ingest import ingest_events
from python_ops.lineage.refresh import GRAPH_MODEL, MODELS
from python_ops.settings import MigrataSettings

NAME = "lineage"
SIZES = {"small": [10_000], "full": [10_000, 100_000, 1_000_000], "xl": [1_000_000, 10_000_000]}
# xl compares 10M with 1M (the flat and linear goals); `--runs 3000000` adds a point between them (~25 min)
XL = True


def _database(session: Session, name: str) -> tuple[str, MigrataSettings]:
    admin = session.dsn.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(session.settings.postgres.database)
            )
        )
    dsn = session.dsn.rsplit("/", 1)[0] + f"/{name}"
    settings = session.settings.model_copy(
        update={"postgres": session.settings.postgres.model_copy(update={"dsn": dsn})}
    )
    return dsn, settings


def _graph_nodes(jobs: int) -> list[str]:
    picks = [jobs // 2, jobs // 3, (2 * jobs) // 3, jobs - 7, 41]
    nodes = []
    for i, j in enumerate(picks):
        if i % 2:
            nodes.append("job:{}:{}".format(*job_name(j)))
        else:
            nodes.append("dataset:{}:{}".format(*dataset_name(5 * j)))
    return nodes


def _graphs(conn: psycopg.Connection, nodes: list[str], source: Source) -> None:
    """The depth-3 graph of every node in `nodes` from `source` (one timed batch)."""
    for node in nodes:
        lineage_graph(conn, node, 3, "both", source=source)


def _blocks(conn: psycopg.Connection) -> tuple[int, int]:
    """This database's pages found in shared buffers and read from outside them, so far (the other
    backends' counts are flushed when they end or within a second; this one's now)."""
    conn.execute("SELECT pg_stat_force_next_flush()")
    time.sleep(1.1)
    row = conn.execute(
        "SELECT blks_hit, blks_read FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def _blocks_figures(
    label: str, what: str, before: tuple[int, int], after: tuple[int, int], runs: int
) -> list[Figure]:
    hit, read = after[0] - before[0], after[1] - before[1]
    share = f"{read / max(hit + read, 1):.0%} of {hit + read} page accesses"
    name = f"{what}: pages read from outside shared buffers per run, {label} ({share})"
    return [Figure(NAME, name, read / runs, "pages")]


def _model_times(target: Path) -> dict[str, float]:
    """Execution time per model in dbt's last run_results.json (no dbt start-up)."""
    results = json.loads((target / "run_results.json").read_text())
    return {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results["results"]}


def _model_seconds(target: Path) -> float:
    """Execution time of the incremental models in dbt's last run_results.json (no dbt start-up)."""
    return sum(t for name, t in _model_times(target).items() if name in MODELS)


def _reads(conn: psycopg.Connection, jobs: int, label: str, runs: int) -> list[Figure]:
    """p50 of each read-API statement (denormalized) on this store, and of a bare index probe."""
    ns, job = job_name(jobs // 2)
    node = f"job:{ns}:{job}"
    statements = {
        "job listing, page of 1,000": lambda: reads.jobs_json(conn, ns, 1000),
        "run history, page of 100": lambda: reads.job_runs_json(conn, ns, job, 100),
        "dashboard, 7 days": lambda: reads.dashboard_json(conn, 7),
        "search prefix job_1%": lambda: reads.search_json(conn, "job_1%", limit=100),
        "graph depth 20": lambda: reads.lineage_json(conn, node, 20),
    }
    job_uuid = conn.execute("SELECT uuid FROM lineage_jobs WHERE name = %s", (job,)).fetchone()[0]  # type: ignore[index]
    probe = p50(
        lambda: conn.execute(BARE_PROBE, (job_uuid,), prepare=True).fetchall(),
        51,
    )
    figures = [Figure(NAME, f"bare single-index probe p50, {label}", probe * 1000, "ms")]
    for what, fn in statements.items():
        for _ in range(6):  # past Postgres' five custom plans
            fn()
        secs = p50(fn, 21)
        figures.append(Figure(NAME, f"read: {what} p50, {label}", secs * 1000, "ms", probe * 1000,
                              "bare single-index probe"))  # fmt: skip
        figures.append(Figure(NAME, f"read: {what} p50", secs * 1000, "ms", size=runs))
    # where the growing reads spend their time at this size (warm: every page touched above)
    explain(conn, f"run history rows, {label}", HISTORY_ROWS, (job_uuid,), buffers=True)
    explain(conn, f"search prefix job_1%, {label}", *reads.search_statement(conn, "job_1%", limit=100),
            buffers=True)  # fmt: skip
    return figures


def _fits(session: Session, runs: int, per_run: float | None, wal: int) -> bool:
    """Whether the next size fits the disk: the last size's database bytes per run (+30% for the bare copy
    and temp files) plus the WAL Postgres may keep (max_wal_size)."""
    if per_run is None:
        return True
    need, free = per_run * runs * 1.3 + wal, shutil.disk_usage(session.home).free
    if need <= free:
        return True
    print(f"lineage {runs} runs skipped: needs ~{need / 2**30:.0f} GB of disk, {free / 2**30:.0f} GB free "
          f"(free disk, or run a smaller --scale)", file=sys.stderr)  # fmt: skip
    return False


def run(session: Session, scale: str, sizes: list[int] | None = None, run_ids: RunIds = "v7") -> list[Figure]:
    """Every figure at each size; `run_ids` as the store's producers make them (module docstring)."""
    figures: list[Figure] = []
    target = session.home / "dbt-target"  # dbt artifacts of this run only (others may run dbt meanwhile)
    per_run: float | None = None  # the last size's database bytes per run, to decide whether the next fits
    wal = 0
    for runs in sizes or SIZES[scale]:
        label = f"{runs // 1000}K runs" if runs < 1_000_000 else f"{runs // 1_000_000}M runs"
        if not _fits(session, runs, per_run, wal):
            figures.append(Figure(NAME, f"{label}: skipped, not enough free disk", 0, "runs"))
            break
        dsn, settings = _database(session, f"bench_{runs}")
        with psycopg.connect(dsn, autocommit=True) as conn:
            took, counts = timed(lambda c=conn, n=runs: generate_store(c, n, months=24, run_ids=run_ids))
            figures.append(
                Figure(
                    NAME,
                    f"generate store ({label}, {counts['inputs'] + counts['outputs']} IO "
                    f"rows, {counts['child_runs']} child runs, UUID{run_ids} run ids)",
                    took,
                    "s",
                )
            )

            models = lineage_models(settings)
            engines = Engines.from_dsn(dsn)
            batch.ensure_tables(conn, models)  # dbt makes the views and tables (not timed)
            # the same compiled SELECT over every run into an unpartitioned, unindexed table; one
            # transaction, as the batch's temp tables are ON COMMIT DELETE ROWS
            blocks = _blocks(conn)
            with conn.transaction():
                for statement in [*batch.SETUP, batch.FILL_ALL, *batch.ANALYZE]:
                    conn.execute(statement)
                bare_s, _ = timed(
                    lambda c=conn, m=models: c.execute(
                        "CREATE UNLOGGED TABLE bare_denormalized AS " + m.get(batch.RLD).sql
                    )
                )
                bare_rows = conn.execute("SELECT count(*) FROM bare_denormalized").fetchone()[0]
                conn.execute("DROP TABLE bare_denormalized")
            assert bare_rows == runs, (bare_rows, runs)  # the baseline denormalized every run
            figures += _blocks_figures(label, "bare copy", blocks, _blocks(conn), runs)
            if scale != "xl":
                fill_s, report = timed(lambda e=engines, m=models: backfill(e, models=m, chunk_size=10_000))
                assert report.ok, report.summary()
                figures.append(
                    Figure(
                        NAME,
                        f"backfill {label} (chunks of 10000, partitioned + 11 indexes)",
                        fill_s,
                        "s",
                        bare_s,
                        "bare INSERT…SELECT, unpartitioned, no indexes",
                        "≤ 3x",
                    )
                )
                # the same with two workers, each backfilling half of the runs (2 cores here)
                tables = "run_lineage_denormalized, run_parent_lineage_denormalized, lineage_graph_edges"
                conn.execute(f"DROP TABLE {tables}")
                batch.ensure_tables(conn, models)
            meter = session.meter()
            blocks = _blocks(conn)
            with meter:
                par_s, report = timed(
                    lambda e=engines, m=models: backfill(e, models=m, chunk_size=10_000, workers=2)
                )
            assert report.ok, report.summary()
            figures += _blocks_figures(label, "backfill --workers 2", blocks, _blocks(conn), runs)
            if scale == "xl":
                fill_s = par_s
            bare_name = "bare INSERT…SELECT, unpartitioned, no indexes"
            name = "backfill with 2 workers (--workers 2)"
            figures.append(Figure(NAME, f"{name}, {label}", par_s, "s", bare_s, bare_name, "≤ 3x"))
            figures.append(Figure(NAME, name, par_s, "s", bare_s, bare_name, size=runs))
            figures.append(Figure(NAME, f"{name}: time per run, {label}", par_s / runs * 1e6, "µs",
                                  bare_s / runs * 1e6, bare_name))  # fmt: skip
            figures += meter.figures(NAME, f"backfill {label}")
            conn.execute("VACUUM ANALYZE run_lineage_denormalized")
            conn.execute("VACUUM ANALYZE run_parent_lineage_denormalized")
            dbt_run = ["run", "--target", "postgres", "--target-path", str(target), "--select"]
            run_dbt([*dbt_run, GRAPH_MODEL], settings, capture=True)
            edges_s = _model_seconds(target)
            name = f"first build of {GRAPH_MODEL}, {label} (dbt model time)"
            figures.append(Figure(NAME, name, edges_s, "s", fill_s, "the backfill"))
            # a settled store, as in service: visibility maps set, nothing left for autovacuum or the
            # checkpointer to do while the queries are timed (both kinds read better for it)
            conn.execute("VACUUM ANALYZE")
            conn.execute("CHECKPOINT")

            nodes = _graph_nodes(counts["jobs"])
            edges = 0
            for node in nodes:
                fast = lineage_graph(conn, node, 3, "both")
                slow = lineage_graph(conn, node, 3, "both", source="normalized")
                assert fast == slow, f"graph of {node} differs between denormalized and normalized"
                edges += len(fast["edges"])
                for _ in range(6):  # past Postgres' five custom plans: the plan cache settles
                    _graphs(conn, [node], "denormalized")
                    _graphs(conn, [node], "normalized")
            dn = p50(lambda c=conn, ns=nodes: _graphs(c, ns, "denormalized"), 31)
            nm = p50(lambda c=conn, ns=nodes: _graphs(c, ns, "normalized"), 31)
            dn, nm = dn / len(nodes), nm / len(nodes)
            figures.append(
                Figure(
                    NAME,
                    f"graph depth 3 p50 from {GRAPH_MODEL}, {label} (avg {edges // len(nodes)} edges, "
                    "same answer)",
                    dn * 1000,
                    "ms",
                    nm * 1000,
                    "normalized tables, same walk",
                    "≤ 0.02x (≥ 50x faster) at 1M",
                )
            )
            figures.append(
                Figure(NAME, "graph depth 3 p50", dn * 1000, "ms", nm * 1000, "normalized walk", size=runs)
            )
            # the same queries alternating, one batch of each per repeat: the edge query then starts
            # with the CPU caches the normalized walk left behind, as in a service answering both
            fast, slow = [], []
            for _ in range(31):
                fast.append(timed(lambda c=conn, ns=nodes: _graphs(c, ns, "denormalized"))[0])
                slow.append(timed(lambda c=conn, ns=nodes: _graphs(c, ns, "normalized"))[0])
            figures.append(
                Figure(
                    NAME,
                    f"graph depth 3 p50 from {GRAPH_MODEL}, {label}, alternating with the normalized walk",
                    statistics.median(fast) / len(nodes) * 1000,
                    "ms",
                    statistics.median(slow) / len(nodes) * 1000,
                    "normalized tables, same walk",
                )
            )

            run_dbt(
                [
                    "run",
                    "--target",
                    "postgres",
                    "--target-path",
                    str(target),
                    "--select",
                    "fqn:lineage.staging",
                ],
                settings,
                capture=True,
            )
            run_dbt([*dbt_run, *MODELS], settings, capture=True)  # warm, no-op
            ingest_events(conn, new_run_events(counts["jobs"], 1000))
            wall, _ = timed(lambda s=settings, a=dbt_run: run_dbt([*a, *MODELS], s, capture=True))
            model_s = _model_seconds(target)
            total = conn.execute("SELECT count(*) FROM run_lineage_denormalized").fetchone()
            assert total == (runs + 1000,), total
            figures.append(
                Figure(
                    NAME,
                    f"incremental refresh of 1K new runs on {label} (dbt models)",
                    model_s,
                    "s",
                    wall,
                    "dbt run wall time incl. start-up",
                    "< 2 s",
                )
            )
            figures.append(
                Figure(NAME, "incremental refresh of 1K new runs (dbt models)", model_s, "s", size=runs)
            )
            # per model: which one grows with the store (issue 16 found lineage_jobs_latest and the
            # partitioned models' old-row lookup)
            for model, secs in _model_times(target).items():
                if model in MODELS:
                    figures.append(Figure(NAME, f"refresh of 1K new runs on {label}: {model}", secs, "s"))
            figures += _reads(conn, counts["jobs"], label, runs)
            size, wal = conn.execute(
                "SELECT pg_database_size(current_database()), pg_size_bytes(current_setting('max_wal_size'))"
            ).fetchone()  # type: ignore[misc]
            per_run = size / runs
            figures.append(
                Figure(
                    NAME, f"disk used by the session after {label}", disk_bytes(session.home) / 2**20, "MB"
                )
            )
        if scale == "xl":  # the next size needs the disk
            admin = session.dsn.rsplit("/", 1)[0] + "/postgres"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(f"bench_{runs}")))
    return figures


def main() -> int:
    """Run this benchmark alone, at chosen sizes (the xl sizes one at a time: each needs the disk alone):
    `python -m benchmarks.lineage.bench_backfill_runs --scale xl --runs 10000000`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=list(SIZES), default="small")
    parser.add_argument("--runs", type=int, nargs="*", help="store sizes instead of --scale's")
    parser.add_argument(
        "--run-ids",
        choices=get_args(RunIds),
        default="v7",
        help="v7: time-ordered, as OpenLineage clients make them (default); v4: random, the worst case",
    )
    args = parser.parse_args()
    with session() as s:
        figures = run(s, args.scale, args.runs, args.run_ids)
    meta = {"scale": args.scale, "capability": "lineage", "run_ids": args.run_ids}
    write_results("bench_backfill_runs", figures, meta)
    for f in figures:
        base = f" vs {f.baseline:.4g} ({f.baseline_name}): {f.ratio:.2f}x" if f.ratio is not None else ""
        print(f"{f.name}: {f.value:.4g} {f.unit}{base}  [{f.goal}]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
