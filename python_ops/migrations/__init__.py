"""Own migrata's schema migrations: one Alembic version tree per component.

`migrate(repository_uri, target)` is the one entry point the CLI, Dagster and tests use.
"""

from python_ops.migrations.api import components, current, downgrade, migrate

__all__ = ["components", "current", "downgrade", "migrate"]
