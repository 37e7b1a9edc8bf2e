"""Own running a migration plan: under the advisory lock, each revision in its own transaction.

The plan computed under the lock is exactly what runs: Alembic's environment gets our ordered steps.
A revision that fails rolls back alone; the recorded revision of its component stays where it was, and
the error names the revision.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from alembic.runtime.environment import EnvironmentContext

from python_ops.errors import MigrataError
from python_ops.migrations.config import alembic_config
from python_ops.migrations.graph import Graph
from python_ops.migrations.models import MigrationPlan, MigrationResult
from python_ops.runner import Progress, ProgressCallback


def run_steps(
    graph: Graph,
    dsn: str,
    plan: MigrationPlan,
    steps: list,
    *,
    placeholders: dict[str, str],
    on_progress: ProgressCallback | None = None,
    extra_callbacks: Sequence[Callable[..., None]] = (),
) -> MigrationResult:
    """Run Alembic `steps` (as planned) on `dsn`; return what was applied."""
    started = time.monotonic()
    result = MigrationResult(plan=plan)
    if not steps:
        return result
    cfg = alembic_config(dsn, placeholders=placeholders, dirs=graph.dirs)
    total = len(steps)
    notify = on_progress or (lambda _e: None)

    def applied(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        rev = str(step.up_revision_id)  # a downgrade step is named by the revision it undid
        result.applied.append(rev)
        notify(
            Progress("migrate", "run", len(result.applied), total, "revisions", len(result.applied), str(rev))
        )

    cfg.attributes["on_version_apply"] = [applied, *extra_callbacks]
    cfg.attributes["warnings"] = result.warnings
    cfg.attributes["on_progress"] = on_progress
    notify(Progress("migrate", "run", 0, total, "revisions", 0, "starting"))
    try:
        with EnvironmentContext(
            cfg,
            graph.script,
            fn=lambda _heads, _ctx: steps,
            as_sql=False,
            destination_rev=plan.target,
        ):
            graph.script.run_env()
    except MigrataError:
        raise
    except Exception as exc:  # Alembic's CommandError, the driver's errors, a revision's own
        failed = plan.steps[len(result.applied)].info if len(result.applied) < len(plan.steps) else None
        where = f"revision {failed.revision} of component {failed.component}" if failed else "the migration"
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        done = f"; {len(result.applied)} revisions before it were applied" if result.applied else ""
        raise MigrataError(
            f"{where} failed and was rolled back ({type(exc).__name__}: {reason}){done}",
            hint="fix the cause and run again; `migrata migrate status` shows the recorded revisions",
        ) from exc
    result.elapsed_s = time.monotonic() - started
    notify(
        Progress(
            "migrate", "done", len(result.applied), total, "revisions", len(result.applied), result.summary()
        )
    )
    return result
