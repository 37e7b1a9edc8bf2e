"""Own planning: read where each component is and say which revisions would run, in order (no writes).

Upgrades run in Alembic's topological order with the `core` tree first (other trees' data migrations
need its tables); each planned step carries the revision's declarations and, for data migrations, the
estimated rows.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from python_ops.errors import ConfigError
from python_ops.migrations.graph import CORE, Graph
from python_ops.migrations.models import (
    DataMigrationRef,
    Direction,
    MigrationPlan,
    PlannedStep,
    RevisionInfo,
)

if TYPE_CHECKING:
    import psycopg

_RELATIVE = re.compile(r"^[+-]\d+$")


def read_heads(conn: psycopg.Connection) -> tuple[str, ...]:
    """The revisions recorded in `alembic_version` (one row per installed tree's head)."""
    row = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return ()
    return tuple(sorted(r[0] for r in conn.execute("SELECT version_num FROM alembic_version").fetchall()))


def applied_revisions(graph: Graph, heads: tuple[str, ...]) -> set[str]:
    """Every revision applied given the recorded heads: their ancestors and dependencies."""
    seen: set[str] = set()
    todo = [h for h in heads if h in graph.revisions]
    while todo:
        rev = todo.pop()
        if rev in seen:
            continue
        seen.add(rev)
        info = graph.revisions[rev]
        todo.extend(d for d in info.down_revision if d in graph.revisions)
        todo.extend(d for d in graph.dependencies(rev) if d in graph.revisions)
    return seen


def current_by_component(graph: Graph, heads: tuple[str, ...]) -> dict[str, str | None]:
    """The current revision of each component (None where it is not installed)."""
    applied = applied_revisions(graph, heads)
    result: dict[str, str | None] = {}
    for component in graph.components:
        revs = [r.revision for r in graph.component_revisions(component) if r.revision in applied]
        result[component] = revs[-1] if revs else None
    unknown = [h for h in heads if h not in graph.revisions]
    for rev in unknown:
        result.setdefault("?", rev)  # recorded by code this installation no longer has
    return result


def normalize_target(graph: Graph, target: str, direction: Direction) -> str:
    """Turn `heads`, `COMPONENT`, `COMPONENT@REV` or `REV` into an Alembic target, refusing unknown names."""
    target = target.strip()
    if target in ("heads", "head") and direction == "upgrade":
        return "heads"
    if target == "base" and direction == "downgrade":
        return "base"
    if "@" not in target:
        if target in graph.dirs:
            if direction == "downgrade":
                raise ConfigError(
                    f"downgrade needs a revision: {target!r} alone does not say how far",
                    hint=f"use {target}@base, {target}@-1 or {target}@<revision>",
                )
            return f"{target}@head"
        if target in graph.revisions:
            return target
        raise ConfigError(
            f"unknown component or revision {target!r}",
            hint=f"known components: {', '.join(graph.components)} (see `migrata migrate history`)",
        )
    component, _, rev = target.partition("@")
    graph.require_component(component)
    if rev in ("head", "base") or _RELATIVE.match(rev):
        if rev == "head" and direction == "downgrade":
            raise ConfigError(f"cannot downgrade to {target}", hint="downgrade to an older revision or base")
        return f"{component}@{rev}"
    graph.require_revision(rev, component)
    return rev


def _estimate(conn: psycopg.Connection | None, ref: DataMigrationRef) -> DataMigrationRef:
    """Ask the data migration's estimate callable; None when it cannot run yet (its tables do not exist)."""
    if conn is None or not ref.estimate:
        return ref
    from python_ops.migrations.pending import resolve

    try:
        fn = resolve(ref.estimate)
        with conn.transaction(force_rollback=True):
            rows = int(fn(conn))
    except Exception:
        return ref
    return DataMigrationRef(ref.name, ref.estimate, ref.run, rows)


def plan(
    graph: Graph,
    heads: tuple[str, ...],
    target: str,
    direction: Direction,
    conn: psycopg.Connection | None = None,
) -> tuple[MigrationPlan, list]:
    """Plan `direction` to `target` from `heads`; return the plan and Alembic's steps in the same order."""
    dest = normalize_target(graph, target, direction)
    current = current_by_component(graph, heads)
    from alembic.script.revision import RevisionError  # Alembic loads only for verbs that plan
    from alembic.util import CommandError

    try:
        if direction == "upgrade":
            steps = graph.script._upgrade_revs(dest, heads)  # type: ignore[arg-type]
            # core first: its tables (checkpoints, pending data migrations) serve every other tree
            steps.sort(key=lambda s: graph.component_of(s.revision.revision) != CORE)
        else:
            steps = graph.script._downgrade_revs(dest, heads)  # type: ignore[arg-type]
    except (CommandError, RevisionError) as exc:
        raise ConfigError(
            f"cannot {direction} to {target!r}: {exc}",
            hint="see `migrata migrate status` for where each component is",
        ) from None
    planned = []
    for step in steps:
        info: RevisionInfo = graph.revisions[step.revision.revision]
        if info.data_migrations and direction == "upgrade":
            refs = tuple(_estimate(conn, r) for r in info.data_migrations)
            info = RevisionInfo(**{**info.__dict__, "data_migrations": refs})
        planned.append(PlannedStep(direction, info, fresh_component=current.get(info.component) is None))
    return MigrationPlan(target=target, direction=direction, current=current, steps=planned), steps
