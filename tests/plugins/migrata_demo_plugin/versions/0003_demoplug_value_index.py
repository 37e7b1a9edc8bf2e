"""demoplug: index items by value (a plain CREATE INDEX blocks writes: needs downtime).

Revision ID: demoplug_0003
Revises: demoplug_0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "demoplug_0003"
down_revision = "demoplug_0002"
branch_labels = None
depends_on = None

online_safe = False
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    op.execute("CREATE INDEX demoplug_items_v_idx ON demoplug_items (v)")


def downgrade() -> None:
    op.execute("DROP INDEX demoplug_items_v_idx")
