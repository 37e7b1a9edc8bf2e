"""linthaz: hazard: an index built without CONCURRENTLY blocks writes while it builds."""

from __future__ import annotations

from alembic import op

revision = "linthaz_0002"
down_revision = "linthaz_0001"
branch_labels = None
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '2s'")
    op.execute("CREATE INDEX linthaz_items_v_idx ON linthaz_items (v)")


def downgrade() -> None:
    op.execute("DROP INDEX linthaz_items_v_idx")
