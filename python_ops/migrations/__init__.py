"""Own migrata's schema migrations: one Alembic version tree per component, plugins, heavy data migrations.

`migrate(repository_uri, target)` is the one entry point the CLI, Dagster and tests use; `lint(...)`
proves the revisions' declarations; revisions call `placeholders()`, `data_migration(...)` and the
lock-safe helpers of `python_ops.migrations.ddl`.
"""

from python_ops.migrations.api import (
    check,
    components,
    current,
    downgrade,
    history,
    lint,
    migrate,
    plan_downgrade,
    plan_upgrade,
    resolve_uri,
    stamp,
    status,
)
from python_ops.migrations.heavy import data_migration, forget_data_migration, run_pending
from python_ops.migrations.runtime import placeholder, placeholders

__all__ = [
    "check",
    "components",
    "current",
    "data_migration",
    "downgrade",
    "forget_data_migration",
    "history",
    "lint",
    "migrate",
    "placeholder",
    "placeholders",
    "plan_downgrade",
    "plan_upgrade",
    "resolve_uri",
    "run_pending",
    "stamp",
    "status",
]
