"""Own the Python API of migrations: a migration is a callable given only a repository URI.

The URI is a Postgres DSN, or `embedded` for the embedded server of the current settings. The CLI,
Dagster and tests all call these functions.
"""

from __future__ import annotations

import dataclasses

from python_ops.db import connect
from python_ops.errors import ConfigError, PreconditionError
from python_ops.migrations import drift, params
from python_ops.migrations.apply import run_steps
from python_ops.migrations.config import alembic_config
from python_ops.migrations.drift import DriftReport
from python_ops.migrations.graph import Graph, load_graph
from python_ops.migrations.linter import DEFAULT_BIG_TABLE_ROWS, lint_revisions
from python_ops.migrations.lock import DEFAULT_TIMEOUT_S, migration_lock
from python_ops.migrations.models import (
    MigrationPlan,
    MigrationResult,
    RevisionInfo,
)
from python_ops.migrations.plan import (
    applied_revisions,
    current_by_component,
    normalize_target,
    plan,
    read_heads,
)
from python_ops.migrations.status_report import session as _session
from python_ops.migrations.uri import resolve_uri
from python_ops.runner import ProgressCallback


def components() -> list[str]:
    """Every component with a version tree: migrata's own and installed plugins'."""
    return load_graph().components


def current(repository_uri: str) -> dict[str, str | None]:
    """Current revision of each component (None where the component is not installed)."""
    with _session(repository_uri) as (_dsn, graph, conn):
        return current_by_component(graph, read_heads(conn))


def plan_upgrade(
    repository_uri: str,
    target: str = "heads",
    *,
    lint: bool = False,
    big_table_rows: int = DEFAULT_BIG_TABLE_ROWS,
) -> MigrationPlan:
    """What `migrate(repository_uri, target)` would run, in order, with declarations and estimates.

    With `lint`, each step carries its live lint verdict and estimated lock time (`migrate lint --live`).
    """
    with _session(repository_uri) as (_dsn, graph, conn):
        planned, _ = plan(graph, read_heads(conn), target, "upgrade", conn)
        if lint and planned.steps:
            report = lint_revisions(
                graph, [s.info.revision for s in planned.steps], conn, big_table_rows=big_table_rows
            )
            verdicts = report.by_revision()
            planned.steps = [dataclasses.replace(s, lint=verdicts[s.info.revision]) for s in planned.steps]
        return planned


def plan_downgrade(repository_uri: str, target: str) -> MigrationPlan:
    """What `downgrade(repository_uri, target)` would run, in order."""
    with _session(repository_uri) as (_dsn, graph, conn):
        planned, _ = plan(graph, read_heads(conn), target, "downgrade", conn)
        return planned


def _refuse_downtime(planned: MigrationPlan) -> None:
    blocked = planned.needs_downtime
    if blocked:
        listed = ", ".join(f"{s.info.revision} ({s.info.component}: {s.info.message})" for s in blocked)
        raise PreconditionError(
            f"{len(blocked)} revisions need downtime: {listed}; nothing was applied",
            hint="stop the services using the repository and run again with --allow-downtime",
        )


def migrate(
    repository_uri: str,
    target: str = "heads",
    *,
    allow_downtime: bool = False,
    stop_before_downtime: bool = False,
    dry_run: bool = False,
    on_progress: ProgressCallback | None = None,
    lock_timeout_s: float = DEFAULT_TIMEOUT_S,
    **placeholders: object,
) -> MigrationResult:
    """Upgrade the repository at `repository_uri` to `target` (`heads`, `COMPONENT`, `COMPONENT@REV`).

    Placeholders (`chunk_size=50000`, `heavy_threshold=…`) reach the revisions. A revision that needs
    downtime is refused (before anything runs) unless `allow_downtime`; installing a component from
    scratch never needs downtime. `stop_before_downtime` runs the online-safe revisions up to the first
    one needing downtime instead of refusing (what Dagster does unattended).
    """
    values = {k: str(v) for k, v in params.validate(placeholders).items()}  # before any lock or write
    graph = load_graph()
    dsn = resolve_uri(repository_uri)
    with migration_lock(dsn, timeout_s=lock_timeout_s), connect(dsn, autocommit=True) as conn:
        # planned under the lock held for the run, so what was checked is what runs
        planned, steps = plan(graph, read_heads(conn), target, "upgrade", conn if dry_run else None)
        graph.validate_declarations([s.info for s in planned.steps])
        held_back: list[str] = []
        if stop_before_downtime and not allow_downtime and planned.needs_downtime:
            # a prefix of a topological order is itself a valid order
            cut = planned.steps.index(planned.needs_downtime[0])
            held_back = [s.info.revision for s in planned.steps[cut:]]
            planned.steps, steps = planned.steps[:cut], steps[:cut]
        if not allow_downtime:
            _refuse_downtime(planned)
        if dry_run:
            return MigrationResult(plan=planned, dry_run=True, held_back=held_back)
        result = run_steps(graph, dsn, planned, steps, placeholders=values, on_progress=on_progress)
        result.held_back = held_back
        return result


def downgrade(
    repository_uri: str,
    target: str,
    *,
    dry_run: bool = False,
    on_progress: ProgressCallback | None = None,
    lock_timeout_s: float = DEFAULT_TIMEOUT_S,
    **placeholders: object,
) -> MigrationResult:
    """Downgrade to `target` (`COMPONENT@base`, `COMPONENT@REV`, or a relative `COMPONENT@-1`)."""
    values = {k: str(v) for k, v in params.validate(placeholders).items()}
    graph = load_graph()
    dsn = resolve_uri(repository_uri)
    with migration_lock(dsn, timeout_s=lock_timeout_s), connect(dsn, autocommit=True) as conn:
        planned, steps = plan(graph, read_heads(conn), target, "downgrade")
        if dry_run:
            return MigrationResult(plan=planned, dry_run=True)
        return run_steps(graph, dsn, planned, steps, placeholders=values, on_progress=on_progress)


def stamp(
    repository_uri: str, target: str, *, dry_run: bool = False, lock_timeout_s: float = DEFAULT_TIMEOUT_S
) -> dict[str, str | None]:
    """Record `target` (`COMPONENT@REV`, `COMPONENT@base`, `heads`) as current without running anything.

    For a repository whose schema was made by other means; returns the current revisions afterwards.
    """
    from alembic import command

    graph = load_graph()
    dest = stamp_target(graph, target)
    dsn = resolve_uri(repository_uri)
    with migration_lock(dsn, timeout_s=lock_timeout_s), connect(dsn, autocommit=True) as conn:
        if dry_run:
            return current_by_component(graph, read_heads(conn))
        try:
            command.stamp(alembic_config(dsn, dirs=graph.dirs), dest)
        except Exception as exc:
            raise ConfigError(
                f"cannot stamp {target!r}: {exc}", hint="see `migrata migrate history`"
            ) from None
        return current_by_component(graph, read_heads(conn))


def stamp_target(graph: Graph, target: str) -> str:
    """Validate a stamp target: like an upgrade target, plus `COMPONENT@base`."""
    component, sep, rev = target.partition("@")
    if sep and rev == "base":
        graph.require_component(component)
        return target
    return normalize_target(graph, target, "upgrade")


def history(
    component: str | None = None, repository_uri: str | None = None
) -> list[tuple[RevisionInfo, bool]]:
    """Every revision (of `component`) from base to head, with whether the repository has it applied."""
    graph = load_graph()
    if component is not None:
        graph.require_component(component)
    applied: set[str] = set()
    if repository_uri is not None:
        with connect(resolve_uri(repository_uri), autocommit=True) as conn:
            applied = applied_revisions(graph, read_heads(conn))
    rows = []
    for name in [component] if component else graph.components:
        rows.extend((info, info.revision in applied) for info in graph.component_revisions(name))
    return rows


def check(repository_uri: str, *, admin_dsn: str | None = None) -> DriftReport:
    """Compare each component's live schema with what its revisions create (see `drift`)."""
    graph = load_graph()
    return drift.check(graph, resolve_uri(repository_uri), admin_dsn=admin_dsn)
