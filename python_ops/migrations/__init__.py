"""Own migrata's schema migrations: one Alembic version tree per component, plugins, heavy data migrations.

`migrate(repository_uri, target)` is the one entry point the CLI, Dagster and tests use; `lint(...)`
proves the revisions' declarations; revisions call `placeholders()`, `data_migration(...)` and the
lock-safe helpers of `python_ops.migrations.ddl`.

The verbs are loaded on first use (PEP 562), so a command needing one part (`migrate lint` reads
files and never opens a connection) does not import the rest.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "check": "api",
    "components": "api",
    "current": "api",
    "downgrade": "api",
    "history": "api",
    "migrate": "api",
    "plan_downgrade": "api",
    "plan_upgrade": "api",
    "stamp": "api",
    "status": "status_report",
    "lint": "linter",
    "resolve_uri": "uri",
    "data_migration": "heavy",
    "forget_data_migration": "heavy",
    "run_pending": "heavy",
    "placeholder": "runtime",
    "placeholders": "runtime",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:  # AttributeError lets `from python_ops.migrations import ddl` import the submodule
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
