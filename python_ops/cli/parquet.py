"""Own `migrata parquet …`: scan, repair (and restore), verify the cached parquet footers.

`repair` and `restore` hold the cache table's operation lock (a second one exits 2 at once, or waits
with `--wait`); a storage root that cannot be reached is a precondition error (exit 2) before anything
is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from python_ops.cli.context import state
from python_ops.cli.output import out, print_json, print_report, print_table, progress

if TYPE_CHECKING:
    from python_ops import parquet_repair as pr
    from python_ops.runner import Report
    from python_ops.settings import MigrataSettings

app = typer.Typer(
    help="Repair cached parquet footers the current reader cannot decode (partition_metadata).",
    no_args_is_help=True,
)

WAIT = typer.Option(
    False, "--wait", help="Wait for a repair or restore already running instead of exiting 2."
)
WORKERS = typer.Option(
    None, min=1, max=256, help="Parallel footer reads, 1 to 256 (default: MIGRATA_PARQUET__WORKERS, 8)."
)


def _store(settings: MigrataSettings) -> pr.StoreConfig:
    from python_ops import parquet_repair as pr

    return pr.StoreConfig.from_settings(settings)


def _classes_table(report: Report) -> None:
    counts = report.details.get("counts") or report.details.get("classes") or {}
    examples = report.details.get("examples", {})
    rows = []
    for cls, n in counts.items():
        sample = examples.get(cls, [])
        first = f"{sample[0]['file_path']} ({sample[0]['detail']})" if sample else ""
        rows.append([cls, n, first])
    if rows:
        print_table(f"{report.operation}: entries by class", ["class", "entries", "example"], rows)


def _issues_table(report: Report) -> None:
    issues = report.details.get("issues") or []
    if issues:
        shown = [[i["file_path"], i["kind"], i["detail"]] for i in issues]
        print_table(f"{report.operation}: entries not repaired (first 20)", ["file", "kind", "detail"], shown)


@app.command(epilog="Example: migrata parquet scan --no-check-files")
def scan(
    ctx: typer.Context,
    check_files: bool = typer.Option(
        True, help="List object storage once to find entries whose file is gone."
    ),
) -> None:
    """Classify every cached footer: ok, legacy-undecodable, corrupt, file-missing (exit 1: needs repair)."""
    from python_ops import parquet_repair as pr

    s = state(ctx)
    storage = pr.Storage.from_settings(s.settings) if check_files else None
    with progress(s.quiet) as cb:
        report = pr.scan(s.engines, _store(s.settings), storage, check_files=check_files, on_progress=cb)
    if not s.json:
        _classes_table(report)
        if report.details.get("storage_error"):
            out.print(escape(f"storage reachable: NO ({report.details['storage_error']})"))
    print_report(report, as_json=s.json)


@app.command(epilog="Example: migrata parquet repair --dry-run && migrata parquet repair --workers 16")
def repair(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan and print the SQL; write nothing."),
    batch_size: int | None = typer.Option(
        None, min=1, help="Entries per batch, at least 1 (default: MIGRATA_PARQUET__BATCH_SIZE, 500)."
    ),
    workers: int | None = WORKERS,
    only_legacy: bool = typer.Option(
        False, "--only-legacy", help="Repair legacy entries only, not corrupt ones."
    ),
    report_file: Path | None = typer.Option(
        None, help="Write missing files and parse errors here (.json or .csv; default: HOME/parquet_repair)."
    ),
    wait: bool = WAIT,
) -> None:
    """Back up, then re-read undecodable entries' footers from storage and rewrite them (resumable)."""
    from python_ops import parquet_repair as pr

    s = state(ctx)
    p = s.settings.parquet
    target = report_file or s.settings.home / "parquet_repair" / "issues.json"
    with progress(s.quiet) as cb:
        report = pr.repair(
            s.engines,
            _store(s.settings),
            pr.Storage.from_settings(s.settings),
            dry_run=dry_run,
            batch_size=p.batch_size if batch_size is None else batch_size,
            workers=p.workers if workers is None else workers,
            only_legacy=only_legacy,
            report_file=target,
            retention_days=s.settings.partitions.backup_retention_days,
            wait=wait,
            on_progress=cb,
        )
    if not s.json:
        _classes_table(report)
        _issues_table(report)
        if not dry_run:
            d = report.details
            out.print(
                f"migrated {d['migrated']}, skipped {d['skipped']}, errors {d['errors']}"
                + (f"; backup {d['backup_table']}" if d.get("backup_table") else "")
                + (f"; issue list {d['report_file']}" if d.get("report_file") else "")
            )
    print_report(report, as_json=s.json, show_sql=dry_run)


@app.command(epilog="Example: migrata parquet verify")
def verify(ctx: typer.Context, workers: int | None = WORKERS) -> None:
    """Check every entry decodes and its num_rows and schema equal its file's (exit 1 otherwise)."""
    from python_ops import parquet_repair as pr

    s = state(ctx)
    with progress(s.quiet) as cb:
        report = pr.verify(
            s.engines,
            _store(s.settings),
            pr.Storage.from_settings(s.settings),
            workers=s.settings.parquet.workers if workers is None else workers,
            on_progress=cb,
        )
    if not s.json:
        _issues_table(report)
    print_report(report, as_json=s.json)


@app.command(epilog="Example: migrata parquet restore partition_metadata_backup_20261123_181500")
def restore(
    ctx: typer.Context,
    backup_table: str = typer.Argument(..., help="The backup table a repair reported (backup_table)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan and print the SQL; write nothing."),
    wait: bool = WAIT,
) -> None:
    """Undo a repair: put the entries saved in BACKUP_TABLE back into the cache."""
    from python_ops import parquet_repair as pr

    s = state(ctx)
    with progress(s.quiet) as cb:
        report = pr.restore(
            s.engines, _store(s.settings), backup_table, dry_run=dry_run, wait=wait, on_progress=cb
        )
    print_report(report, as_json=s.json, show_sql=dry_run)


@app.command(epilog="Example: migrata parquet show views/blocks/0000/part-000001.parquet")
def show(ctx: typer.Context, file_path: str = typer.Argument(..., help="The entry's file path.")) -> None:
    """Load one entry's footer (repairing it from storage if needed) and print its summary."""
    from python_ops import parquet_repair as pr

    s = state(ctx)
    meta = pr.load_metadata(
        s.engines,
        file_path,
        storage=pr.Storage.from_settings(s.settings),
        store=_store(s.settings),
    )
    info = {
        "file_path": file_path,
        "num_rows": meta.num_rows,
        "row_groups": meta.num_row_groups,
        "columns": meta.num_columns,
        "created_by": meta.created_by,
        "schema": str(meta.schema.to_arrow_schema()),
    }
    if s.json:
        print_json(info)
    else:
        print_table(file_path, ["field", "value"], [[k, v] for k, v in info.items()])
