"""Alembic's environment: run migrations online against the DSN the API put in the config.

Each revision runs in its own transaction (`transaction_per_migration`), so a failed one leaves the
recorded revision unchanged. Placeholders are not passed to `upgrade()` (revisions take no arguments):
revisions read them with `python_ops.migrations.placeholders()` or `context.get_x_argument()`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from python_ops.migrations.config import sqlalchemy_url

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(sqlalchemy_url(config.attributes["dsn"]), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        transaction_per_migration=True,
        compare_type=True,
        on_version_apply=tuple(config.attributes.get("on_version_apply", ())),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("migrata runs migrations online only: give it a repository URI")
run_migrations_online()
