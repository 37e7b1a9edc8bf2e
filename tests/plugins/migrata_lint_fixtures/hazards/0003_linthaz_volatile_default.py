"""linthaz: hazard: a volatile default rewrites the table under ACCESS EXCLUSIVE."""

from __future__ import annotations

from alembic import op

revision = "linthaz_0003"
down_revision = "linthaz_0002"
branch_labels = None
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '2s'")
    op.execute("ALTER TABLE linthaz_items ADD COLUMN token uuid DEFAULT gen_random_uuid()")


def downgrade() -> None:
    op.execute("ALTER TABLE linthaz_items DROP COLUMN token")
