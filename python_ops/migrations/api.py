"""Own the Python API of migrations: a migration is a callable given only a repository URI.

The URI is a Postgres DSN, or `embedded` for the embedded server of the current settings.
"""

from __future__ import annotations

from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from python_ops.migrations.config import alembic_config, component_dirs, sqlalchemy_url


def resolve_uri(repository_uri: str) -> str:
    """Map `embedded` to the embedded server's DSN; any other value is a DSN already."""
    if repository_uri == "embedded":
        from python_ops.engines.control import postgres_dsn
        from python_ops.settings import load_settings

        return postgres_dsn(load_settings())
    return repository_uri


def components() -> list[str]:
    return list(component_dirs())


def migrate(repository_uri: str, target: str = "heads", **placeholders: str) -> None:
    """Upgrade the repository at `repository_uri` to `target` (`heads`, `COMPONENT`, `COMPONENT@REV`)."""
    dsn = resolve_uri(repository_uri)
    if target in components():
        target = f"{target}@head"
    command.upgrade(alembic_config(dsn, placeholders={k: str(v) for k, v in placeholders.items()}), target)


def downgrade(repository_uri: str, target: str) -> None:
    """Downgrade to `target` (`COMPONENT@base`, `COMPONENT@REV`, or a relative `COMPONENT@-1`)."""
    dsn = resolve_uri(repository_uri)
    command.downgrade(alembic_config(dsn), target)


def current(repository_uri: str) -> dict[str, str | None]:
    """Current revision of each component (None where the component is not installed)."""
    dsn = resolve_uri(repository_uri)
    script = ScriptDirectory.from_config(alembic_config(dsn))
    engine = create_engine(sqlalchemy_url(dsn), poolclass=pool.NullPool)
    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    result: dict[str, str | None] = dict.fromkeys(components())
    for rev in heads:
        for base in script.get_revisions(rev)[0].branch_labels or ():
            result[base] = rev
        if not script.get_revisions(rev)[0].branch_labels:
            # branch label sits on the component's base revision: walk down to find it
            for r in script.iterate_revisions(rev, "base"):
                if r.branch_labels:
                    result[next(iter(r.branch_labels))] = rev
                    break
    return result
