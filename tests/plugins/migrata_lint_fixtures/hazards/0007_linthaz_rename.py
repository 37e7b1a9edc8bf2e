"""linthaz: hazard: renaming a column the running code (and a view) reads."""

from __future__ import annotations

from alembic import op

revision = "linthaz_0007"
down_revision = "linthaz_0006"
branch_labels = None
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '2s'")
    op.execute("ALTER TABLE linthaz_items RENAME COLUMN label TO title")


def downgrade() -> None:
    op.execute("ALTER TABLE linthaz_items RENAME COLUMN title TO label")
