"""Own `migrata lineage …`: ingest OpenLineage events, serve the HTTP endpoint, backfill, query the graph."""

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
    """Ingest OpenLineage events from files (or stdin); exit 1 if any event was rejected."""
    from python_ops.db import connect
    from python_ops.engines.control import postgres_dsn
    from python_ops.lineage.events import EventError, split_document, validate
    from python_ops.lineage.ingest import IngestResult, Rejected
    from python_ops.lineage.ingest import ingest as run_ingest

    st = state(ctx)
    texts: list[tuple[str, str]] = []
    for name in files:
        if name == "-":
            texts.append(("<stdin>", sys.stdin.read()))
            continue
        try:
            texts.append((name, Path(name).read_text(encoding="utf-8")))
        except OSError as exc:
            raise ConfigError(
                f"cannot read event file {name}: {exc.strerror}", hint="check the path"
            ) from None

    def show(r: Rejected) -> None:
        err.print(f"[red]rejected[/red] {escape(r.location)}: {escape(r.field)}: {escape(r.message)}")

    total = IngestResult()
    if dry_run:
        for name, text in texts:
            for location, value in split_document(text, name):
                total.received += 1
                try:
                    if isinstance(value, EventError):
                        raise value
                    validate(value)
                except EventError as exc:
                    show(Rejected(location, exc.field, exc.message))
                    total.rejected.append(Rejected(location, exc.field, exc.message))
    else:
        with connect(postgres_dsn(st.settings)) as conn, progress(st.quiet) as on_progress:
            for name, text in texts:
                result = run_ingest(conn, split_document(text, name), on_progress=on_progress, on_reject=show)
                total.received += result.received
                total.stored += result.stored
                total.duplicates += result.duplicates
                total.runs_touched += result.runs_touched
                total.rejected.extend(result.rejected)
                total.elapsed_s += result.elapsed_s
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
    chunk_size: int = typer.Option(
        10_000, "--chunk-size", min=1, help="Runs per chunk (one transaction each)."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Connections each backfilling a range of the runs at once (one per core)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; write nothing."),
) -> None:
    """Backfill the denormalized lineage tables from all runs, in resumable chunks.

    Then builds the lineage graph edges (dbt model lineage_graph_edges) from the backfilled runs.
    """
    from python_ops.cli.output import print_report
    from python_ops.engines.control import postgres_dsn
    from python_ops.lineage.backfill import backfill as run_backfill
    from python_ops.lineage.refresh import GRAPH_MODEL
    from python_ops.lineage.refresh import refresh as run_refresh

    st = state(ctx)
    with progress(st.quiet) as on_progress:
        report = run_backfill(
            postgres_dsn(st.settings),
            chunk_size=chunk_size,
            workers=workers,
            on_progress=on_progress,
            dry_run=dry_run,
        )
    if report.ok and not dry_run:
        run_refresh(st.settings, select=[GRAPH_MODEL])
    print_report(report, as_json=st.json, show_sql=dry_run)


@app.command(
    epilog="Example: migrata lineage graph dataset:food_delivery:public.orders --depth 3 --direction up"
)
def graph(
    ctx: typer.Context,
    node: str = typer.Argument(..., help="job:NAMESPACE:NAME or dataset:NAMESPACE:NAME"),
    depth: int = typer.Option(3, "--depth", min=0, help="Edges to follow from the node."),
    direction: str = typer.Option("both", "--direction", help="up, down or both."),
    normalized: bool = typer.Option(False, "--normalized", help="Answer from the normalized tables instead."),
) -> None:
    """Print the lineage graph around a job or dataset as JSON (from the denormalized tables)."""
    from python_ops.db import connect
    from python_ops.engines.control import postgres_dsn
    from python_ops.lineage.graph import lineage_graph

    with connect(postgres_dsn(state(ctx).settings)) as conn:
        result = lineage_graph(
            conn,
            node,
            depth,
            direction,  # type: ignore[arg-type]
            source="normalized" if normalized else "denormalized",
        )
    print_json(result)


@app.command(epilog="Example: migrata lineage serve --port 5000")
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(5000, "--port", help="TCP port (Marquez's default is 5000)."),
) -> None:
    """Serve POST /api/v1/lineage for OpenLineage clients (HTTP transport) until interrupted."""
    import uvicorn

    from python_ops.engines.control import postgres_dsn
    from python_ops.lineage.server import create_app

    err.print(f"listening on http://{escape(host)}:{port}/api/v1/lineage")
    uvicorn.run(create_app(postgres_dsn(state(ctx).settings)), host=host, port=port, log_level="warning")
