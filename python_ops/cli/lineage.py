"""Own `migrata lineage …`: ingest OpenLineage events, serve the HTTP endpoint, backfill, and the reads
(graph, namespaces, jobs, datasets, runs, run, search, column-lineage, stats) in Marquez's shapes."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import typer
from rich.markup import escape

from python_ops.cli.context import state
from python_ops.cli.output import err, out, print_json, progress
from python_ops.errors import ConfigError

app = typer.Typer(
    help="OpenLineage ingestion, denormalized lineage tables, backfill and lineage-graph queries.",
    no_args_is_help=True,
)


@app.command(
    epilog="Example: migrata lineage ingest events.ndjson more.json   (or: … | migrata lineage ingest -)"
)
def ingest(
    ctx: typer.Context,
    files: list[str] = typer.Argument(..., help="JSON event, JSON array or NDJSON files; `-` reads stdin."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate only; write nothing."),
) -> None:
    """Ingest OpenLineage events from files (or stdin); exit 1 if any event was rejected.

    A rejected event is reported by line (NDJSON) or index (array) and field; the others are stored.
    Also restores raw events written by `migrata lineage retain --export FILE`.
    """
    from datetime import timedelta

    from python_ops.lineage.events import EventError, TimeWindow, split_document, validate
    from python_ops.lineage.ingest import IngestLimits, IngestResult, Rejected
    from python_ops.lineage.ingest import ingest as run_ingest
    from python_ops.lineage.states import load_run_states

    st = state(ctx)
    cfg = st.settings.lineage
    limits = IngestLimits(
        TimeWindow(cfg.earliest_event_time, timedelta(hours=cfg.max_future_hours)), cfg.max_json_depth
    )
    texts: list[tuple[str, str]] = []
    for name in files:
        try:
            if name == "-":
                texts.append(("<stdin>", sys.stdin.read()))
            else:
                # surrogateescape: a byte that is not UTF-8 rejects its own line, not the whole file
                texts.append((name, Path(name).read_text(encoding="utf-8", errors="surrogateescape")))
        except OSError as exc:
            raise ConfigError(
                f"cannot read event file {name}: {exc.strerror}", hint="check the path"
            ) from None

    def show(r: Rejected) -> None:
        err.print(f"[red]rejected[/red] {escape(r.location)}: {escape(r.field)}: {escape(r.message)}")

    total = IngestResult()
    with st.engines.connect(autocommit=True) as conn:
        if dry_run:
            states = load_run_states(conn)
            for name, text in texts:
                for location, value in split_document(text, name):
                    total.received += 1
                    try:
                        if isinstance(value, EventError):
                            raise value
                        validate(value, states=states.names, window=limits.window, max_depth=limits.max_depth)
                    except EventError as exc:
                        show(Rejected(location, exc.field, exc.message))
                        total.rejected.append(Rejected(location, exc.field, exc.message))
        else:
            with progress(st.quiet) as on_progress:
                for name, text in texts:
                    total.add(
                        run_ingest(
                            conn,
                            split_document(text, name),
                            limits=limits,
                            on_progress=on_progress,
                            on_reject=show,
                        )
                    )
    if st.json:
        print_json(total.as_dict() | {"dry_run": dry_run})
    else:
        summary = total.summary()
        out.print(escape(summary + (" (dry run: validated only, nothing written)" if dry_run else "")))
    if not total.ok:
        raise typer.Exit(1)


@app.command(epilog="Example: migrata lineage refresh --month 2026-01 --rebuild")
def refresh(
    ctx: typer.Context,
    month: str | None = typer.Option(None, "--month", help="Only this month (YYYY-MM) of run_date."),
    rebuild: bool = typer.Option(
        False, "--rebuild", help="Rebuild the month wholesale, not just changed runs."
    ),
    full_refresh: bool = typer.Option(False, "--full-refresh", help="Drop and rebuild the tables."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Compile the models; build nothing."),
) -> None:
    """Refresh the denormalized lineage tables from the normalized store (dbt incremental models + gates)."""
    from datetime import date

    from python_ops.lineage.refresh import refresh as run_refresh

    window: tuple[date | None, date | None] = (None, None)
    if month:
        try:
            first = date.fromisoformat(f"{month}-01")
        except ValueError:
            raise ConfigError(f"month {month!r} is not YYYY-MM", hint="for example --month 2026-01") from None
        window = (first, date(first.year + first.month // 12, first.month % 12 + 1, 1))
    output = run_refresh(
        state(ctx).settings,
        *window,
        rebuild=rebuild,
        full_refresh=full_refresh,
        command="compile" if dry_run else "build",
    )
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)  # dbt colours its log lines
    last = [line for line in plain.splitlines() if "Done." in line]
    if dry_run:
        out.print("dry run: the lineage models compiled; nothing was built")
        return
    out.print(escape(last[-1].strip() if last else "dbt finished"))


@app.command(epilog="Example: migrata lineage backfill --chunk-size 50000 --workers 2")
def backfill(
    ctx: typer.Context,
    chunk_size: int | None = typer.Option(
        None,
        "--chunk-size",
        min=1,
        help="Runs per chunk, one transaction each (default MIGRATA_LINEAGE__CHUNK_SIZE).",
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Connections each backfilling a range of the runs at once (one per core)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the statements a chunk runs; write nothing."
    ),
    wait: bool = typer.Option(
        False, "--wait", help="Wait for a backfill already running instead of failing."
    ),
) -> None:
    """Backfill the denormalized lineage tables and the graph edges from all runs, in resumable chunks.

    Each chunk runs the dbt models' compiled SQL for its runs (the models own the tables).
    """
    from python_ops.cli.output import print_report
    from python_ops.lineage.backfill import backfill as run_backfill
    from python_ops.lineage.compiled import lineage_models

    st = state(ctx)
    with progress(st.quiet) as on_progress:
        report = run_backfill(
            st.engines,
            models=lineage_models(st.settings),
            chunk_size=chunk_size or st.settings.lineage.chunk_size,
            workers=workers,
            on_progress=on_progress,
            dry_run=dry_run,
            wait=wait,
        )
    print_report(report, as_json=st.json, show_sql=dry_run)
    if report.ok:
        from python_ops.cli.reporters import report_operation

        report_operation(
            "lineage_backfill", settings=st.settings, engines=st.engines, result=report, dry_run=dry_run
        )


@app.command(epilog="Example: migrata lineage retain --older-than 24months --export old-events.ndjson --yes")
def retain(
    ctx: typer.Context,
    older_than: str = typer.Option(..., "--older-than", help="Age to drop: 24months, 2years, 90days."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print what would be dropped and the SQL; drop nothing."
    ),
    yes: bool = typer.Option(False, "--yes", help="Confirm: dropping months cannot be undone."),
    export: Path | None = typer.Option(
        None,
        "--export",
        help="First write the dropped raw events here as NDJSON (`lineage ingest FILE` restores them).",
    ),
    batch_size: int = typer.Option(
        10_000, "--batch-size", min=1, help="Normalized runs deleted per transaction."
    ),
    wait: bool = typer.Option(
        False, "--wait", help="Wait for a retention already running instead of failing."
    ),
) -> None:
    """Drop whole monthly partitions of lineage older than a cutoff (raw events and denormalized tables),
    delete the normalized runs before it in batches and keep the graph edges consistent (static edges stay).

    Irreversible: asks for --yes. With --export the raw events are written out first (and verified) so
    `migrata lineage ingest FILE` can restore them.
    """
    from python_ops.cli.output import confirm_irreversible, print_report
    from python_ops.lineage.retention import parse_age
    from python_ops.lineage.retention import retain as run_retain

    st = state(ctx)
    age = parse_age(older_than)
    if not dry_run:
        confirm_irreversible(f"dropping lineage older than {older_than}", yes=yes)
    with progress(st.quiet) as on_progress:
        report = run_retain(
            st.engines,
            age,
            export=export,
            batch_size=batch_size,
            dry_run=dry_run,
            on_progress=on_progress,
            wait=wait,
        )
    print_report(report, as_json=st.json, show_sql=dry_run)


@app.command(
    epilog="Example: migrata lineage graph dataset:food_delivery:public.orders --depth 3 --direction up"
)
def graph(
    ctx: typer.Context,
    node: str | None = typer.Argument(None, help="job:NAMESPACE:NAME or dataset:NAMESPACE:NAME"),
    namespace: str | None = typer.Option(
        None, "--namespace", help="The node's namespace (with --name, --type)."
    ),
    name: str | None = typer.Option(None, "--name", help="The node's name (with --namespace)."),
    kind: str = typer.Option("dataset", "--type", help="job or dataset (with --namespace/--name)."),
    depth: int = typer.Option(3, "--depth", min=0, help="Edges to follow from the node."),
    direction: str = typer.Option("both", "--direction", help="up, down or both."),
    normalized: bool = typer.Option(False, "--normalized", help="Answer from the normalized tables instead."),
) -> None:
    """Print the lineage graph around a job or dataset as JSON (from the denormalized tables)."""
    from python_ops.errors import PreconditionError
    from python_ops.lineage.graph import lineage_graph

    if namespace is not None and name is not None:
        if kind not in ("job", "dataset"):
            raise PreconditionError(f"node type {kind!r} is unknown", hint="use --type job or --type dataset")
        start: str | tuple[str, str, str] = (kind, namespace, name)
    elif node:
        start = node
    else:
        raise PreconditionError(
            "no node given", hint="pass job:NS:NAME / dataset:NS:NAME, or --namespace and --name"
        )
    from python_ops.lineage.graph import parse_node
    from python_ops.lineage.reads import require_node

    with state(ctx).engines.connect(autocommit=True) as conn:
        require_node(conn, start if isinstance(start, tuple) else parse_node(conn, start))
        result = lineage_graph(
            conn,
            start,
            depth,
            direction,  # type: ignore[arg-type]
            source="normalized" if normalized else "denormalized",
        )
    print_json(result)


@app.command(epilog="Example: migrata lineage serve --port 5000 --workers 2 --pool-size 4")
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(5000, "--port", min=1, max=65535, help="TCP port (Marquez's default is 5000)."),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Worker processes (default MIGRATA_LINEAGE__WORKERS, 2)."
    ),
    pool_size: int | None = typer.Option(
        None,
        "--pool-size",
        min=1,
        help="Postgres connections per worker (default MIGRATA_LINEAGE__POOL_SIZE, 4).",
    ),
) -> None:
    """Serve POST /api/v1/lineage for OpenLineage producers, GET /api/v1/lineage and /api/v1/health.

    Accepted events show in the graph and the denormalized tables within about a second (a
    micro-batch refresher, no dbt per event). SIGTERM or Ctrl-C stops it after what was accepted is written.
    """
    import os

    import uvicorn

    from python_ops.lineage import batch
    from python_ops.lineage.compiled import lineage_models

    st = state(ctx)
    # the worker processes read their settings from the environment, as this process did
    if workers is not None:
        os.environ["MIGRATA_LINEAGE__WORKERS"] = str(workers)
    if pool_size is not None:
        os.environ["MIGRATA_LINEAGE__POOL_SIZE"] = str(pool_size)
    if st.settings.postgres.dsn is None:
        os.environ["MIGRATA_POSTGRES__DSN"] = st.engines.postgres_dsn
    os.environ["MIGRATA_HOME"] = str(st.settings.home)
    count = workers or st.settings.lineage.workers
    if st.settings.lineage.refresher:
        models = lineage_models(st.settings)  # compiled once here, read from the cache by each worker
        with st.engines.connect(autocommit=True) as conn:
            batch.ensure_tables(conn, models)
    err.print(f"listening on http://{escape(host)}:{port}/api/v1/lineage ({count} workers)")
    uvicorn.run(
        "python_ops.lineage.server:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=count,
        log_level="warning",
        timeout_graceful_shutdown=30,
    )


# --- reads in Marquez's shapes: JSON when piped (or --json), a table on a terminal --------------------


def _emit(ctx: typer.Context, data: dict, title: str, rows_key: str, columns: dict[str, object]) -> None:
    """JSON (unicode as text) off a terminal or with --json; else a Rich table of `rows_key` and a summary."""
    import json

    from python_ops.cli.output import print_table

    if state(ctx).json or not out.is_terminal:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
        return
    rows = data[rows_key] if rows_key else [data]
    print_table(
        title,
        list(columns),
        [[f(r) if callable(f) else r.get(f) for f in columns.values()] for r in rows],
    )
    total = data.get("totalCount", len(rows))
    out.print(f"{len(rows)} of {total} shown")


_LIMIT = typer.Option(100, "--limit", min=0, help="Page size (Marquez's default 100).")
_OFFSET = typer.Option(0, "--offset", min=0, help="Rows to skip.")


def _latest(job: dict, key: str) -> object:
    return (job.get("latestRun") or {}).get(key)


@app.command(epilog="Example: migrata lineage namespaces")
def namespaces(ctx: typer.Context, limit: int = _LIMIT, offset: int = _OFFSET) -> None:
    """List the namespaces (GET /api/v1/namespaces)."""
    from python_ops.lineage import reads

    with state(ctx).engines.connect(autocommit=True) as conn:
        data = reads.namespaces(conn, limit, offset)
    _emit(ctx, data, "namespaces", "namespaces", {"name": "name", "updated": "updatedAt"})


@app.command(epilog="Example: migrata lineage jobs food_delivery --limit 20")
def jobs(
    ctx: typer.Context,
    namespace: str = typer.Argument(..., help="Namespace of the jobs."),
    limit: int = _LIMIT,
    offset: int = _OFFSET,
) -> None:
    """List a namespace's jobs with their latest run and its state (GET /api/v1/namespaces/NS/jobs)."""
    from python_ops.lineage import reads

    with state(ctx).engines.connect(autocommit=True) as conn:
        data = reads.jobs(conn, namespace, limit, offset)
    _emit(
        ctx, data, f"jobs of {namespace}", "jobs",
        {"job": "name", "state": lambda j: _latest(j, "state"), "started": lambda j: _latest(j, "startedAt"),
         "ended": lambda j: _latest(j, "endedAt"), "latest run": lambda j: _latest(j, "id")},
    )  # fmt: skip


@app.command(epilog="Example: migrata lineage datasets food_delivery")
def datasets(
    ctx: typer.Context,
    namespace: str = typer.Argument(..., help="Namespace of the datasets."),
    limit: int = _LIMIT,
    offset: int = _OFFSET,
) -> None:
    """List a namespace's datasets (GET /api/v1/namespaces/NS/datasets)."""
    from python_ops.lineage import reads

    with state(ctx).engines.connect(autocommit=True) as conn:
        data = reads.datasets(conn, namespace, limit, offset)
    _emit(ctx, data, f"datasets of {namespace}", "datasets",
          {"dataset": "name", "source": "sourceName", "fields": lambda d: len(d["fields"])})  # fmt: skip


@app.command(epilog="Example: migrata lineage runs food_delivery etl_orders_7_days --limit 10")
def runs(
    ctx: typer.Context,
    namespace: str = typer.Argument(..., help="Namespace of the job."),
    job: str = typer.Argument(..., help="Name of the job."),
    limit: int = _LIMIT,
    offset: int = _OFFSET,
) -> None:
    """A job's run history, newest first (GET /api/v1/namespaces/NS/jobs/JOB/runs)."""
    from python_ops.lineage import reads

    with state(ctx).engines.connect(autocommit=True) as conn:
        data = reads.job_runs(conn, namespace, job, limit, offset)
    columns = {"run": "id", "state": "state", "started": "startedAt", "ended": "endedAt", "ms": "durationMs"}
    _emit(ctx, data, f"runs of {job}", "runs", columns)


@app.command(epilog="Example: migrata lineage run 0190f4f4-0c4e-7c1a-9d5e-6b1f1d2c3a4b")
def run(ctx: typer.Context, run_id: str = typer.Argument(..., help="The run's id.")) -> None:
    """One run (GET /api/v1/jobs/runs/ID)."""
    from python_ops.lineage import reads

    with state(ctx).engines.connect(autocommit=True) as conn:
        data = reads.run(conn, run_id)
    columns = {"run": "id", "job": "jobName", "state": "state", "started": "startedAt", "ended": "endedAt"}
    _emit(ctx, data, "run", "", columns)


@app.command(epilog="Example: migrata lineage search delivery --filter dataset --limit 5")
def search(
    ctx: typer.Context,
    q: str = typer.Argument(..., help="Text in the name (case-insensitive), or a pattern with % and _."),
    filter: str | None = typer.Option(None, "--filter", help="job or dataset."),
    sort: str = typer.Option("name", "--sort", help="name (case-insensitive) or updated_at (newest first)."),
    limit: int = typer.Option(10, "--limit", min=0, help="Results (Marquez's default 10)."),
    namespace: str | None = typer.Option(None, "--namespace", help="Only this namespace."),
) -> None:
    """Search jobs and datasets by name (GET /api/v1/search)."""
    from python_ops.lineage import reads

    with state(ctx).engines.connect(autocommit=True) as conn:
        data = reads.search(conn, q, filter, sort, limit, namespace)
    _emit(ctx, data, f"search {q}", "results", {"type": "type", "node": "nodeId", "updated": "updatedAt"})


@app.command(
    "column-lineage",
    epilog="Example: migrata lineage column-lineage dataset:food_delivery:public.delivery_7_days",
)
def column_lineage(
    ctx: typer.Context,
    node: str = typer.Argument(..., help="dataset:NS:NAME or datasetField:NS:NAME:FIELD"),
    depth: int = typer.Option(20, "--depth", min=0, help="Steps to follow (Marquez's default 20)."),
    downstream: bool = typer.Option(False, "--downstream", help="Also the fields these feed."),
) -> None:
    """Field-level lineage from the stored columnLineage facets (GET /api/v1/column-lineage)."""
    from python_ops.lineage import reads

    with state(ctx).engines.connect(autocommit=True) as conn:
        data = reads.column_lineage(conn, node, depth, downstream)
    _emit(ctx, data, f"column lineage of {node}", "graph",
          {"field": "id", "inputs": lambda n: ", ".join(e["origin"] for e in n["inEdges"])})  # fmt: skip


@app.command(epilog="Example: migrata lineage stats --days 7")
def stats(
    ctx: typer.Context, days: int = typer.Option(7, "--days", min=0, help="Days back from today.")
) -> None:
    """Dashboard counts: runs per day and state (GET /api/v1/stats/runs)."""
    from python_ops.lineage import reads

    with state(ctx).engines.connect(autocommit=True) as conn:
        data = reads.dashboard(conn, days)
    _emit(
        ctx,
        data,
        f"runs of the last {days} days",
        "runs",
        {"date": "date", "state": "state", "runs": "count"},
    )
