"""Lineage reads in Marquez's shapes (python_ops/lineage/reads.py): p50/p95 from the denormalized tables vs
the same answer from the normalized tables (asserted equal), at 10K / 100K / 1M runs (small: 10K).

- job listing with latest state: a namespace of runs/1,000 jobs (1,000 at 1M runs), one page of 1,000;
- run history: a page of 100 runs of one job (with its total);
- search (prefix `job_1%`: the b-tree range of lineage_0007; substring `ds_12`, `_` a plain character:
  the pg_trgm indexes of lineage_0006) vs the same statement with index and bitmap scans off (the store
  before those indexes; there is no normalized twin: both read lineage_jobs/lineage_datasets);
- dashboard counts (runs per day and state, last 7 days);
- lineage graph through HTTP (uvicorn in a thread, one httpx client; timed to the body's last byte, the
  client's decode measured apart, the answer decoded once for the parity check): depth 3
  and 20, with the server's read cache on (as deployed: the repeats hit it, nothing commits during the
  benchmark) and off (every request read from the tables); the normalized baseline in-process, each call
  cut at `SLOW_CAP_S` (`GRAPH_CAP_S` for the graph; then the baseline is reported as at least that);
- the floor: a bare single-index probe on the same server and connection
  (`SELECT uuid, name FROM lineage_jobs WHERE uuid = $1`, prepared), the other half of the goal
  "≥ the seed's ratio or within 2x of a bare index probe".

The EXPLAIN of each denormalized statement is printed to stderr. Each size's figures are written to
`benchmarks/results/read_api-<runs>.json`; `docs/lineage_reads.png` (latency vs store size, log-log, both
sources) is drawn from every size found there, so sizes can be run separately
(`python -m benchmarks.lineage.bench_read_api --runs 1000000`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import uvicorn

from benchmarks.common import RESULTS, Figure, Session
from benchmarks.lineage import BARE_PROBE, HISTORY_ROWS, explain
from benchmarks.lineage.bench_backfill_runs import _database
from migrata_samples.lineage_store import generate_store
from python_ops.engines.context import Engines
from python_ops.engines.postgres import EmbeddedPostgres, free_port
from python_ops.lineage import reads
from python_ops.lineage.backfill import backfill
from python_ops.lineage.compiled import lineage_models
from python_ops.lineage.server import ServerConfig, create_app
from python_ops.settings import MigrataSettings

NAME = "lineage"
SIZES = {"small": [10_000], "full": [10_000, 100_000, 1_000_000]}
REPEAT = 30
SLOW_BUDGET_S = 60.0  # time spent sampling a slow baseline, at least 3 samples
SLOW_CAP_S = 120.0  # a normalized statement running longer is cancelled
# the normalized depth-20 walk: > 120 s at 100K and 1M runs (cancelled, twice per run: 4 minutes of a
# saturated core for a figure reported as "at least"); its cap is lower, the figure still "≥ the cap"
GRAPH_CAP_S = 20.0
# the job listing's rows, unshaped: a namespace's first 1,000 jobs by name and their stored answers
LISTING_ROWS = (
    "SELECT l.job_json::text FROM (SELECT uuid, name FROM lineage_jobs WHERE namespace_name = %s "
    "ORDER BY name LIMIT 1000) jb LEFT JOIN lineage_jobs_latest l ON l.job_uuid = jb.uuid ORDER BY jb.name"
)
PLOT = Path(__file__).resolve().parents[2] / "docs" / "lineage_reads.png"
SHORT = {  # figure name prefix → plot panel
    "job listing": "job listing (1 page)",
    "run history": "run history (page of 100)",
    "dashboard": "dashboard counts (7 days)",
    "search prefix": "search prefix",
    "search substring": "search substring",
    "lineage graph via HTTP, depth 3 (": "graph depth 3 (HTTP, read cache)",
    "lineage graph via HTTP, depth 20 (": "graph depth 20 (HTTP, read cache)",
    "lineage graph via HTTP, depth 20, read cache off": "graph depth 20 (HTTP, no cache)",
}


def _samples(fn: Callable[[], Any], repeat: int) -> tuple[float, float, int]:
    """p50 and p95 seconds of up to `repeat` calls after a warm-up (fewer when slow: a time budget)."""
    started = time.perf_counter()
    fn()
    first = time.perf_counter() - started
    n = max(3, min(repeat, int(SLOW_BUDGET_S / max(first, 1e-6)))) if first > 0.05 else repeat
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))], n


class _Capped(Exception):
    """A baseline cancelled at SLOW_CAP_S."""


def _pair(
    name: str,
    fast: Callable[[], Any],
    slow: Callable[[], Any],
    base: str,
    goal: str,
    floor: float,
    decode: Callable[[Any], Any] | None = None,
    cap: float = SLOW_CAP_S,
) -> list[Figure]:
    # both sources timed as the text the server sends; decoded once here for the parity check (decoding is
    # the client's work: a figure of its own for the graph)
    same = decode or (lambda x: x)
    answer = same(fast())
    try:
        assert answer == same(slow()), name  # the same answer from both sources
        s50, s95, n = _samples(slow, max(5, REPEAT // 3))
        base_name = f"{base}, {n} samples"
    except _Capped:
        s50 = s95 = cap
        base_name = f"{base}: cancelled at {cap:.0f} s, so ≥ this"
    f50, f95, _ = _samples(fast, REPEAT)
    note = f"{goal}; floor {floor * 1000:.3f} ms"
    return [
        Figure(NAME, f"{name} p50", f50 * 1000, "ms", s50 * 1000, base_name, note),
        Figure(NAME, f"{name} p95", f95 * 1000, "ms", s95 * 1000, base_name, note),
    ]


def _capped(conn: psycopg.Connection, fn: Callable[[], Any], cap: float = SLOW_CAP_S) -> Callable[[], Any]:
    def call() -> Any:
        conn.execute(f"SET statement_timeout = '{int(cap * 1000)}ms'")
        try:
            return fn()
        except psycopg.errors.QueryCanceled:
            raise _Capped from None
        finally:
            conn.execute("RESET statement_timeout")

    return call


def _reused(session: Session, name: str) -> tuple[str, Any] | None:
    """The store `name` a kept session (`--keep`, then `--reuse HOME`) already holds, else None."""
    admin = session.dsn.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            return None
    dsn = session.dsn.rsplit("/", 1)[0] + f"/{name}"
    postgres = session.settings.postgres.model_copy(update={"dsn": dsn})
    return dsn, session.settings.model_copy(update={"postgres": postgres})


def measure(session: Session, runs: int, *, reuse: bool = False) -> list[Figure]:
    """Every read at one store size (generated and backfilled once, reused by every figure; with `reuse`,
    the store a kept session already holds)."""
    figures: list[Figure] = []
    label = f"{runs // 1000}K runs" if runs < 1_000_000 else f"{runs // 1_000_000}M runs"
    found = _reused(session, f"bench_reads_{runs}") if reuse else None
    dsn, settings = found or _database(session, f"bench_reads_{runs}")
    engines = Engines.from_settings(settings)
    with psycopg.connect(dsn, autocommit=True) as conn:
        started = time.perf_counter()
        generated = built = 0.0
        if found is None:
            counts = generate_store(conn, runs, months=12)
            generated = time.perf_counter() - started
            report = backfill(engines, models=lineage_models(settings), chunk_size=10_000)
            assert report.ok, report.summary()
            built = time.perf_counter() - started - generated
            conn.execute("VACUUM ANALYZE")
            sys.stderr.write(f"{label}: store generated in {generated:.1f} s, backfilled in {built:.1f} s\n")
        else:
            counts = {"jobs": conn.execute("SELECT count(*) FROM lineage_jobs").fetchone()[0]}  # type: ignore[index]
            sys.stderr.write(f"{label}: the kept store, reused\n")
        ns = "ns_0"
        (per_ns,) = conn.execute(
            "SELECT count(*) FROM lineage_jobs WHERE namespace_name = %s", (ns,)
        ).fetchone() or (0,)
        job, job_uuid = conn.execute(
            "SELECT name, uuid FROM lineage_jobs WHERE namespace_name = %s ORDER BY name LIMIT 1", (ns,)
        ).fetchone()  # type: ignore[misc]

        probe = BARE_PROBE
        floor50, floor95, _ = _samples(lambda: conn.execute(probe, (job_uuid,), prepare=True).fetchall(), 200)
        figures.append(Figure(NAME, f"bare single-index probe ({label}) p50", floor50 * 1000, "ms"))
        figures.append(Figure(NAME, f"bare single-index probe ({label}) p95", floor95 * 1000, "ms"))
        explain(conn, "bare single-index probe", probe, (job_uuid,))

        def normalized(fn: Callable[[], Any], cap: float = SLOW_CAP_S) -> Callable[[], Any]:
            return _capped(conn, fn, cap)

        figures += _pair(
            f"job listing, {per_ns} jobs with latest run ({label})",
            lambda: reads.jobs_json(conn, ns, 1000),
            normalized(lambda: reads.jobs_json(conn, ns, 1000, source="normalized")),
            "normalized tables",
            "≥ 20x",
            floor50,
            decode=orjson.loads,
        )
        figures += _pair(
            f"run history, page of 100 ({label})",
            lambda: reads.job_runs_json(conn, ns, job, 100),
            normalized(lambda: reads.job_runs_json(conn, ns, job, 100, source="normalized")),
            "normalized tables",
            "≥ 15x",
            floor50,
            decode=orjson.loads,
        )
        # the floor of the two large answers: their rows read bare, unshaped, through the same indexes (the
        # listing's 1,000 stored job texts; the history's 100 rows, every column)
        bare_reads = {
            "job listing": (lambda: reads.jobs_json(conn, ns, 1000), LISTING_ROWS, (ns,)),
            "run history": (lambda: reads.job_runs_json(conn, ns, job, 100), HISTORY_ROWS, (job_uuid,)),
        }
        for what, (read, statement, params) in bare_reads.items():
            r50, _, _ = _samples(read, REPEAT)
            bare = lambda s=statement, p=params: conn.execute(s, p, prepare=True).fetchall()  # noqa: E731
            b50, _, _ = _samples(bare, REPEAT)
            name = f"floor of the {what}: it vs its rows read bare ({label}) p50"
            figures.append(
                Figure(NAME, name, r50 * 1000, "ms", b50 * 1000, "the same rows, unshaped, same indexes")
            )
        figures += _pair(
            f"dashboard counts, last 7 days ({label})",
            lambda: reads.dashboard_json(conn, 7),
            normalized(lambda: reads.dashboard_json(conn, 7, source="normalized")),
            "normalized tables",
            "≥ 50x",
            floor50,
            decode=orjson.loads,
        )

        def no_index(fn: Callable[[], Any]) -> Callable[[], Any]:
            def call() -> Any:
                with conn.transaction():
                    conn.execute("SET LOCAL enable_bitmapscan = off")
                    conn.execute("SET LOCAL enable_indexscan = off")
                    return fn()

            return call

        for kind, q in (("prefix", "job_1%"), ("substring", "ds_12")):
            fn = lambda q=q: reads.search_json(conn, q, limit=100)  # noqa: E731
            figures += _pair(
                f"search {kind} {q!r} ({label})",
                fn,
                no_index(fn),
                "no index",
                "≥ 10x",
                floor50,
                decode=orjson.loads,
            )

        # the fast paths' plans: the statements reads.py runs, with this store's values
        explain(conn, "job listing (page of lineage_jobs, the stored answer by key)", LISTING_ROWS, (ns,))
        explain(conn, "run history", HISTORY_ROWS, (job_uuid,))
        explain(conn, "run history total", "SELECT run_count FROM lineage_jobs_latest WHERE job_uuid = %s",
                 (job_uuid,))  # fmt: skip
        explain(
            conn,
            "dashboard (a row per day of lineage_dashboard_daily)",
            "SELECT entries_json, runs FROM lineage_dashboard_daily WHERE run_date >= current_date - 7",
            None,
        )
        explain(
            conn, "search substring", "SELECT name FROM lineage_datasets WHERE name ILIKE %s", ("%ds\\_12%",)
        )
        explain(conn, "search prefix (the first 100 of the b-tree range of lineage_0007, in its order)",
                *reads.search_statement(conn, "job_1%", limit=100))  # fmt: skip

        # the server as deployed (its read cache on: a repeated graph with nothing committed since is
        # answered from the cache, validated by the database snapshot) and with the cache off (every
        # request read from the tables)
        node = f"job:{ns}:{job}"
        for cache, suffix in ((ServerConfig().read_cache_bytes, ""), (0, ", read cache off")):
            port = free_port()
            app = create_app(engines, None, ServerConfig(refresher=False, read_cache_bytes=cache))
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.05)
            try:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as http:
                    for depth in (3, 20):
                        # timed to the body's last byte; the client decodes it once, for the parity
                        # check (its decode time is the client's, a figure of its own below)
                        def over_http(depth: int = depth) -> bytes:
                            answer = http.get("/api/v1/lineage", params={"nodeId": node, "depth": depth})
                            assert answer.status_code == 200
                            return answer.content

                        body = over_http()
                        nodes = len(orjson.loads(body)["graph"])
                        if not suffix:
                            decode50, _, _ = _samples(lambda body=body: orjson.loads(body), REPEAT)
                            what = f"depth-{depth} answer, {len(body) / 1e6:.2f} MB ({label})"
                            figures.append(
                                Figure(
                                    NAME, f"client decode (orjson) of the {what} p50", decode50 * 1000, "ms"
                                )
                            )
                        figures += _pair(
                            f"lineage graph via HTTP, depth {depth}{suffix} ({label}, {nodes} nodes)",
                            over_http,
                            normalized(
                                lambda depth=depth: reads.lineage_json(
                                    conn, node, depth, source="normalized"
                                ),
                                GRAPH_CAP_S,
                            ),
                            "normalized tables (in-process, no HTTP)",
                            "p95 < 50 ms at depth 20",
                            floor50,
                            decode=orjson.loads,
                            cap=GRAPH_CAP_S,
                        )
            finally:
                server.should_exit = True
                thread.join(timeout=30)
        figures.append(Figure(NAME, f"store ({label})", counts["jobs"], "jobs"))
        if found is None:
            figures.append(Figure(NAME, f"store generated ({label})", generated, "s"))
            figures.append(Figure(NAME, f"store backfilled incl. read-serving tables ({label})", built, "s"))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"read_api-{runs}.json").write_text(
        json.dumps({"runs": runs, "figures": [asdict(f) for f in figures]}, indent=1)
    )
    return figures


def plot(path: Path = PLOT) -> Path | None:
    """Draw p50 latency vs store size, log-log, both sources and the index-probe floor, per read."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = sorted(RESULTS.glob("read_api-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    if not found:
        return None
    series: dict[str, dict[str, list[tuple[int, float]]]] = {}
    floor: list[tuple[int, float]] = []
    for file in found:
        data = json.loads(file.read_text())
        for f in data["figures"]:
            if not f["name"].endswith(" p50"):
                continue
            if f["name"].startswith("bare single-index probe"):
                floor.append((data["runs"], f["value"]))
                continue
            panel = next((v for k, v in SHORT.items() if f["name"].startswith(k)), None)
            if panel is None or f["baseline"] is None:
                continue
            s = series.setdefault(panel, {"denormalized": [], "normalized": []})
            s["denormalized"].append((data["runs"], f["value"]))
            s["normalized"].append((data["runs"], f["baseline"]))
    fig, axes = plt.subplots(2, 4, figsize=(16, 7.5), squeeze=False)
    for ax, panel in zip(axes.flat, SHORT.values(), strict=False):
        for source, style in (("denormalized", "o-"), ("normalized", "s--")):
            points = series.get(panel, {}).get(source, [])
            if points:
                ax.plot(*zip(*points, strict=True), style, label=source if source != "normalized" else
                        ("no index" if panel.startswith("search") else "normalized"))  # fmt: skip
        if floor:
            ax.plot(*zip(*floor, strict=True), ":x", color="grey", label="bare index probe")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("runs in the store")
        ax.set_ylabel("p50 latency (ms)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("migrata lineage reads: p50 latency vs store size (2 shared cores; same-run baselines)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def run(session: Session, scale: str) -> list[Figure]:
    figures: list[Figure] = []
    for runs in SIZES[scale]:
        figures += measure(session, runs)
    written = plot()
    if written is not None:
        sys.stderr.write(f"plot: {written}\n")
    return figures


@contextlib.contextmanager
def _kept(home: Path) -> Iterator[Session]:
    """A session on a home kept by `--keep` (its Postgres started again, stopped at the end)."""
    settings = MigrataSettings(home=home, postgres={"port": free_port()})  # type: ignore[arg-type]
    server = EmbeddedPostgres(settings.pg_data_dir, port=settings.postgres.port,
                              database=settings.postgres.database)  # fmt: skip
    server.up()
    try:
        yield Session(settings, server.dsn, home)
    finally:
        server.down()


def main() -> int:
    """Run this benchmark alone: `python -m benchmarks.lineage.bench_read_api [--scale S | --runs N ...]`."""
    from benchmarks.common import session

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=list(SIZES), default="small")
    parser.add_argument("--runs", type=int, nargs="*", help="store sizes instead of --scale's")
    parser.add_argument("--plot-only", action="store_true", help="redraw the plot from the results")
    parser.add_argument("--keep", action="store_true", help="keep the session's home (the stores) to profile")
    parser.add_argument("--reuse", type=Path, help="a home kept by --keep: measure its stores again")
    args = parser.parse_args()
    if not args.plot_only:
        with _kept(args.reuse) if args.reuse else session(keep=args.keep) as s:
            if args.keep:
                sys.stderr.write(f"session home (kept): {s.home}\n")
            for runs in args.runs or SIZES[args.scale]:
                for f in measure(s, runs, reuse=args.reuse is not None):
                    base = f" vs {f.baseline:.4g} ({f.baseline_name}) = {f.baseline / f.value:.1f}x" if (
                        f.baseline is not None and f.value) else ""  # fmt: skip
                    print(f"{f.name}: {f.value:.4g} {f.unit}{base}  [{f.goal}]", flush=True)
    print(f"plot: {plot()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
