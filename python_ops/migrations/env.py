"""Alembic's environment: run migrations online against the DSN the API put in the config.

Each revision runs in its own transaction, so a failed one leaves the recorded revision unchanged.
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
    )
    with context.begin_transaction():
        context.run_migrations(**config.attributes.get("placeholders", {}))


if context.is_offline_mode():
    raise SystemExit("migrata runs migrations online only: give it a repository URI")
run_migrations_online()
