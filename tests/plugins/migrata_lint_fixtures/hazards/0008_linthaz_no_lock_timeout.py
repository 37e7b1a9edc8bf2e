"""linthaz: hazard: a brief ACCESS EXCLUSIVE lock taken without lock_timeout."""

from __future__ import annotations

from alembic import op

revision = "linthaz_0008"
down_revision = "linthaz_0007"
branch_labels = None
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    op.execute("ALTER TABLE linthaz_items ADD COLUMN extra text")


def downgrade() -> None:
    op.execute("ALTER TABLE linthaz_items DROP COLUMN extra")
