"""demoplug: fill `doubled` for every item (a heavy data migration: deferred above the threshold).

Revision ID: demoplug_0002
Revises: demoplug_0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

from python_ops.migrations.heavy import data_migration, forget_data_migration

revision = "demoplug_0002"
down_revision = "demoplug_0001"
branch_labels = None
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    data_migration(
        "demoplug_double",
        estimate="migrata_demo_plugin.backfill:estimate",
        run="migrata_demo_plugin.backfill:run",
    )


def downgrade() -> None:
    forget_data_migration("demoplug_double")
    op.execute("UPDATE demoplug_items SET doubled = NULL")
