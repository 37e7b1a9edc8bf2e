"""demoplug: items with a value (a plugin's own tree, depending on migrata's core tree).

Revision ID: demoplug_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "demoplug_0001"
down_revision = None
branch_labels = ("demoplug",)
depends_on = "core_0002"

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    op.execute("CREATE TABLE demoplug_items (id bigint PRIMARY KEY, v integer NOT NULL, doubled integer)")


def downgrade() -> None:
    op.execute("DROP TABLE demoplug_items")
