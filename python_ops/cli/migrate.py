"""Own `migrata migrate …`: versioned schema migrations, one Alembic tree per component.

Commands are thin: parse options, call `python_ops.migrations`, print. Placeholders given with
`--set k=v` reach the revisions; settings supply the defaults of `chunk_size` and `heavy_threshold`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from python_ops.cli.context import state
from python_ops.cli.output import err, out, print_json, print_table, progress

if TYPE_CHECKING:
    from python_ops.migrations.models import LintReport, MigrationPlan, MigrationResult
    from python_ops.settings import MigrataSettings

app = typer.Typer(help="Versioned schema migrations, one Alembic tree per component.", no_args_is_help=True)

SET_HELP = "Placeholder for the migrations, k=v (repeatable), e.g. --set chunk_size=50000."
DOCS_PATH = Path("docs/migrations.md")


def _dsn(ctx: typer.Context) -> str:
    """The repository: the CLI's engines (built from settings; nothing started, ClickHouse not loaded)."""
    return state(ctx).engines.postgres_dsn


def _pairs(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not k=v", param_hint="--set")
        values[key.strip()] = value.strip()
    return values


def _placeholders(settings: MigrataSettings, pairs: list[str]) -> dict[str, str]:
    """Settings' defaults overridden by `--set`; validated by the API before anything runs."""
    return {
        "chunk_size": str(settings.migrations.chunk_size),
        "heavy_threshold": str(settings.migrations.heavy_threshold_rows),
    } | _pairs(pairs)


def _yn(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: "undeclared"}[value]


def _print_plan(planned: MigrationPlan) -> None:
    rows = []
    for i, step in enumerate(planned.steps, 1):
        info = step.info
        data = ", ".join(
            f"{d.name} (~{d.estimated_rows if d.estimated_rows is not None else '?'} rows)"
            for d in info.data_migrations
        )
        safety = info.safety + (
            " (new component)" if step.fresh_component and info.online_safe is False else ""
        )
        verdict = step.lint.verdict.upper() if step.lint and step.lint.verdict != "pass" else "pass"
        rows.append(
            [i, info.component, info.revision, step.direction, safety, _yn(info.backward_compatible),
             _yn(info.forward_compatible), verdict if step.lint else "-",
             _lock(step.lint.lock_estimate_s, step.lint.lock_on) if step.lint else "-", data,
             info.message.removeprefix(f"{info.component}:").strip()]
        )  # fmt: skip
    print_table(
        f"plan: {planned.direction} to {planned.target}",
        ["#", "component", "revision", "direction", "online-safe", "backward", "forward", "lint", "est. lock",
         "data migration", "change"],
        rows,
    )  # fmt: skip
    for step in planned.steps:
        for finding in step.lint.of_level("fail", "warn") if step.lint else ():
            squawk = f" [squawk: {', '.join(finding.squawk)}]" if finding.squawk else ""
            line = f"{finding.level.upper()} {step.info.revision}: {finding.message}{squawk}"
            out.print(escape(line), soft_wrap=True)
    downtime = len(planned.needs_downtime)
    failing = sum(1 for s in planned.steps if s.lint and s.lint.verdict == "fail")
    out.print(
        f"{len(planned.steps)} revisions would run"
        + (f", {downtime} need downtime (--allow-downtime)" if downtime else ", all online-safe")
        + (f", {failing} fail lint (`migrata migrate lint --live`)" if failing else "")
    )


def _print_result(ctx: typer.Context, result: MigrationResult) -> None:
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    if state(ctx).json:
        print_json(result.as_dict())
        return
    if result.dry_run:
        _print_plan(result.plan)
    out.print(escape(result.summary()))


@app.command(epilog="Example: migrata migrate status")
def status(ctx: typer.Context) -> None:
    """Show each component's current revision, head and pending revisions."""
    from python_ops import migrations

    report = migrations.status(_dsn(ctx))
    if state(ctx).json:
        print_json(report.as_dict())
        return
    print_table(
        "migrations",
        ["component", "current", "head", "pending", "state"],
        [[c.component, c.current or "-", c.head or "-", c.pending, c.state] for c in report.components],
    )
    if report.data_migrations:
        print_table(
            "data migrations",
            ["name", "revision", "status", "estimated rows", "rows done"],
            [
                [d["name"], d["revision"], d["status"], d["estimated"], d["rows_done"]]
                for d in report.data_migrations
            ],
        )
    out.print(escape(report.summary()))


@app.command(epilog="Example: migrata migrate history lineage")
def history(
    ctx: typer.Context, component: str | None = typer.Argument(None, help="Only this component's tree.")
) -> None:
    """List revisions from base to head with their declarations and whether they are applied."""
    from python_ops import migrations

    rows = migrations.history(component, _dsn(ctx))
    if state(ctx).json:
        print_json([info.__dict__ | {"applied": applied} for info, applied in rows])
        return
    print_table(
        "history",
        ["component", "revision", "applied", "online-safe", "backward", "forward", "change"],
        [
            [i.component, i.revision, "yes" if a else "-", i.safety, _yn(i.backward_compatible),
             _yn(i.forward_compatible), i.message.removeprefix(f"{i.component}:").strip()]
            for i, a in rows
        ],
    )  # fmt: skip
    out.print(f"{len(rows)} revisions, {sum(a for _, a in rows)} applied")


@app.command(epilog="Example: migrata migrate plan heads")
def plan(
    ctx: typer.Context,
    target: str = typer.Argument("heads", help="heads, COMPONENT or COMPONENT@REV"),
    downgrade_: bool = typer.Option(False, "--downgrade", help="Plan a downgrade to TARGET instead."),
) -> None:
    """Show what an upgrade (or downgrade) would run, in order, with declarations and estimated rows."""
    from python_ops import migrations

    dsn = _dsn(ctx)
    rows = state(ctx).settings.migrations.lint_big_table_rows
    planned = (
        migrations.plan_downgrade(dsn, target)
        if downgrade_
        else migrations.plan_upgrade(dsn, target, lint=True, big_table_rows=rows)
    )
    if state(ctx).json:
        print_json(planned.as_dict())
        return
    _print_plan(planned)


@app.command(epilog="Example: migrata migrate upgrade lineage --set chunk_size=50000")
def upgrade(
    ctx: typer.Context,
    target: str = typer.Argument("heads", help="heads, COMPONENT or COMPONENT@REV"),
    allow_downtime: bool = typer.Option(
        False, "--allow-downtime", help="Also run revisions needing downtime."
    ),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; apply nothing."),
) -> None:
    """Upgrade components to TARGET (default: every component's head)."""
    from python_ops import migrations

    settings = state(ctx).settings
    with progress(state(ctx).quiet) as on_progress:
        result = migrations.migrate(
            _dsn(ctx),
            target,
            allow_downtime=allow_downtime,
            dry_run=dry_run,
            on_progress=on_progress,
            lock_timeout_s=settings.migrations.lock_timeout_s,
            **_placeholders(settings, set_),
        )
    _print_result(ctx, result)


@app.command(epilog="Example: migrata migrate downgrade lineage@-1")
def downgrade(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="COMPONENT@REV, COMPONENT@-1 or COMPONENT@base"),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; apply nothing."),
) -> None:
    """Downgrade a component to TARGET (the inverse of upgrade)."""
    from python_ops import migrations

    settings = state(ctx).settings
    with progress(state(ctx).quiet) as on_progress:
        result = migrations.downgrade(
            _dsn(ctx),
            target,
            dry_run=dry_run,
            on_progress=on_progress,
            lock_timeout_s=settings.migrations.lock_timeout_s,
            **_placeholders(settings, set_),
        )
    _print_result(ctx, result)


@app.command(epilog="Example: migrata migrate stamp lineage@lineage_0001")
def stamp(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="COMPONENT@REV, COMPONENT@base or heads"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate TARGET; record nothing."),
) -> None:
    """Record TARGET as current without running migrations (for a schema made by other means)."""
    from python_ops import migrations

    settings = state(ctx).settings
    current = migrations.stamp(
        _dsn(ctx), target, dry_run=dry_run, lock_timeout_s=settings.migrations.lock_timeout_s
    )
    if state(ctx).json:
        print_json(current)
        return
    print_table("migrations", ["component", "current"], [[k, v or "-"] for k, v in current.items()])
    out.print(f"dry run: {target} is valid; nothing recorded" if dry_run else f"stamped {target}")


@app.command(epilog='Example: migrata migrate new lineage "add run duration"')
def new(
    component: str = typer.Argument(..., help="Component (a new name starts a new tree)."),
    message: str = typer.Argument(..., help="What the revision changes."),
    needs_downtime: bool = typer.Option(False, "--needs-downtime", help="Declare online_safe = False."),
    not_backward: bool = typer.Option(
        False, "--not-backward-compatible", help="New code cannot work on the old schema."
    ),
    not_forward: bool = typer.Option(
        False, "--not-forward-compatible", help="Old code cannot work on the new schema."
    ),
    depends_on: str | None = typer.Option(None, "--depends-on", help="A revision of another tree it needs."),
    add_column: list[str] = typer.Option(
        [],
        "--add-column",
        help="'TABLE.COLUMN TYPE': ddl.execute(ADD COLUMN) with lock_timeout (repeatable).",
    ),
    set_not_null: list[str] = typer.Option(
        [], "--set-not-null", help="'TABLE.COLUMN': ddl.set_not_null, via a validated CHECK (repeatable)."
    ),
    create_index: list[str] = typer.Option(
        [], "--create-index", help="'TABLE(COLUMNS)': ddl.create_index, CONCURRENTLY (repeatable)."
    ),
) -> None:
    """Create the next revision file of COMPONENT from the template, with its declarations."""
    from python_ops.migrations.authoring import new_revision

    path = new_revision(
        component,
        message,
        online_safe=not needs_downtime,
        backward_compatible=not not_backward,
        forward_compatible=not not_forward,
        depends_on=depends_on,
        add_columns=add_column,
        set_not_null=set_not_null,
        create_indexes=create_index,
    )
    out.print(f"created {escape(str(path))}")


@app.command(epilog="Example: migrata migrate check")
def check(ctx: typer.Context) -> None:
    """Compare each component's live schema with what its revisions create; exit 1 on drift."""
    from python_ops import migrations

    settings = state(ctx).settings
    report = migrations.check(_dsn(ctx), admin_dsn=settings.migrations.scratch_admin_dsn)
    if state(ctx).json:
        print_json(report.as_dict())
    else:
        print_table(
            "schema check",
            ["component", "state", "current", "head", "objects", "digest", "problems"],
            [
                [c.component, c.state, c.current or "-", c.head or "-", c.objects, c.live_digest[:12],
                 "; ".join(c.problems) or "-"]
                for c in report.components
            ],
        )  # fmt: skip
        out.print(escape(report.summary()))
    if not report.ok:
        raise typer.Exit(1)


@app.command(
    "run-pending",
    epilog="Example: migrata migrate run-pending --set chunk_size=50000 --max-rows-per-second 10000",
)
def run_pending(
    ctx: typer.Context,
    name: list[str] = typer.Option([], "--name", help="Only this data migration (repeatable)."),
    set_: list[str] = typer.Option([], "--set", help="chunk_size=N: rows per chunk."),
    max_rows_per_second: float | None = typer.Option(
        None, "--max-rows-per-second", help="Cap the rate (default: MIGRATA_MIGRATIONS__MAX_ROWS_PER_SECOND)."
    ),
    max_replication_lag: float | None = typer.Option(
        None,
        "--max-replication-lag",
        help="Pause between chunks while a standby's replay lag exceeds this many seconds.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would run; run nothing."),
) -> None:
    """Run the heavy data migrations an upgrade deferred: chunked, resumable, throttled, with an ETA."""
    from python_ops import migrations
    from python_ops.migrations import params

    settings = state(ctx).settings
    given = params.validate(_pairs(set_), allowed=("chunk_size",))  # before anything is read or written
    chunk_size = given.get("chunk_size", settings.migrations.chunk_size)
    rate = max_rows_per_second if max_rows_per_second is not None else settings.migrations.max_rows_per_second
    lag = (
        max_replication_lag if max_replication_lag is not None else settings.migrations.max_replication_lag_s
    )
    if rate is not None:
        params.parse("max_rows_per_second", rate)
    if lag is not None:
        params.parse("max_replication_lag_s", lag)
    dsn = _dsn(ctx)
    if dry_run:
        todo = [d for d in migrations.status(dsn).data_migrations if d["status"] != "done"]
        todo = [d for d in todo if not name or d["name"] in name]
        if state(ctx).json:
            print_json(todo)
            return
        print_table(
            "pending data migrations",
            ["name", "revision", "status", "estimated rows", "rows done"],
            [[d["name"], d["revision"], d["status"], d["estimated"], d["rows_done"]] for d in todo],
        )
        out.print(f"dry run: {len(todo)} data migrations would run; nothing written")
        return
    with progress(state(ctx).quiet) as on_progress:
        reports = migrations.run_pending(
            dsn,
            chunk_size=chunk_size,
            names=name,
            on_progress=on_progress,
            max_rows_per_second=rate,
            max_replication_lag_s=lag,
        )
    if state(ctx).json:
        print_json([r.as_dict() for r in reports])
        return
    for report in reports:
        out.print(escape(report.summary()))
    out.print(f"{len(reports)} data migrations run")


@app.command(epilog="Example: migrata migrate lint lineage --live")
def lint(
    ctx: typer.Context,
    targets: list[str] = typer.Argument(None, help="Components or revisions (default: every revision)."),
    live: bool = typer.Option(False, "--live", help="Add live table sizes, lock times, catalog facts."),
    big_table_rows: int | None = typer.Option(
        None,
        "--big-table-rows",
        min=1,
        help="Rows from which a table is big (MIGRATA_MIGRATIONS__LINT_BIG_TABLE_ROWS).",
    ),
    sql: bool = typer.Option(
        False, "--sql", help="Print each revision's rendered SQL instead; judge nothing."
    ),
    advice: bool = typer.Option(
        False, "--advice", help="Also list squawk's advisories that are not hazards."
    ),
) -> None:
    """Check each revision's declarations against its SQL and Postgres' lock rules; exit 1 on a failure."""
    from python_ops import migrations
    from python_ops.migrations.linter import render_sql

    settings = state(ctx).settings
    if sql:
        for rendered in render_sql(targets or ()):
            sys.stdout.write(f"-- {rendered.revision}\n{rendered.script()}")
            if rendered.opaque:
                sys.stdout.write(f"-- not rendered further: {rendered.opaque}\n\n")
        return
    rows = big_table_rows if big_table_rows is not None else settings.migrations.lint_big_table_rows
    report = migrations.lint(_dsn(ctx) if live else None, targets or (), big_table_rows=rows)
    for unused in report.unused_suppressions:
        err.print(f"[yellow]warning:[/yellow] suppression matched nothing: {escape(unused)}")
    if state(ctx).json:
        print_json(report.as_dict())
    else:
        _print_lint(report, advice=advice)
    if not report.ok:
        raise typer.Exit(1)


def _print_lint(report: LintReport, *, advice: bool) -> None:
    rows = []
    for r in report.revisions:
        accepted = r.of_level("suppressed")
        found = ", ".join(sorted({f.rule for f in r.of_level("fail", "warn")}))
        rows.append(
            [r.revision, _yn(r.online_safe), r.verdict.upper() if r.verdict != "pass" else "pass",
             _lock(r.lock_estimate_s, r.lock_on) if report.live else "-", found or "-",
             f"{len(accepted)} suppressed" if accepted else "-"]
        )  # fmt: skip
    print_table(
        f"lint ({'live' if report.live else 'static'}, big table >= {report.big_table_rows:,} rows)",
        ["revision", "online-safe", "verdict", "est. lock", "hazards", "accepted"],
        rows,
    )
    for r in report.revisions:
        for f in r.findings:
            squawk = f" [squawk: {', '.join(f.squawk)}]" if f.squawk else ""
            if f.level in ("fail", "warn"):
                line = f"{f.level.upper()} {r.revision}: {f.message}{squawk}"
            elif f.level == "suppressed":
                line = f"accepted {r.revision} {f.rule}: {f.reason or ''}"
            elif advice and f.source == "squawk":
                line = f"advice {r.revision} {f.rule}: {f.message} ({f.link})"
            else:
                continue
            out.print(escape(line), soft_wrap=True)  # one line per finding, however long
        for note in r.notes:
            out.print(escape(f"note {r.revision}: {note}"), soft_wrap=True)
    out.print(escape(report.summary()))


def _lock(seconds: float | None, on: str | None) -> str:
    if seconds is None:
        return "-"
    shown = "< 1 ms" if seconds < 0.001 else f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"
    return f"{shown} ({on})" if on else shown


@app.command(epilog="Example: migrata migrate docs --output docs/migrations.md")
def docs(
    output: Path = typer.Option(DOCS_PATH, "--output", help="Where to write the Markdown."),
    check_only: bool = typer.Option(False, "--check", help="Exit 1 if the file is not up to date."),
) -> None:
    """Generate the migrations reference (online-safety and compatibility of every revision)."""
    from python_ops.migrations.authoring import render_docs

    text = render_docs()
    if check_only:
        current = output.read_text() if output.exists() else ""
        if current != text:
            err.print(f"{escape(str(output))} is out of date: run `migrata migrate docs`")
            raise typer.Exit(1)
        out.print(f"{escape(str(output))} is up to date")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    out.print(f"wrote {escape(str(output))}")
