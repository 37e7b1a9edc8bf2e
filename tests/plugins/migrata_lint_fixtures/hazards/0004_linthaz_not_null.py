"""linthaz: hazard: SET NOT NULL scans the table under ACCESS EXCLUSIVE."""

from __future__ import annotations

from alembic import op

revision = "linthaz_0004"
down_revision = "linthaz_0003"
branch_labels = None
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '2s'")
    op.execute("ALTER TABLE linthaz_items ALTER COLUMN v SET NOT NULL")


def downgrade() -> None:
    op.execute("ALTER TABLE linthaz_items ALTER COLUMN v DROP NOT NULL")
