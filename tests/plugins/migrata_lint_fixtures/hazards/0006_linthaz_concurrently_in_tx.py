"""linthaz: hazard: CREATE INDEX CONCURRENTLY inside the revision's transaction (Postgres refuses it)."""

from __future__ import annotations

from alembic import op

revision = "linthaz_0006"
down_revision = "linthaz_0005"
branch_labels = None
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    op.execute("CREATE INDEX CONCURRENTLY linthaz_items_note_idx ON linthaz_items (note)")


def downgrade() -> None:
    op.execute("DROP INDEX linthaz_items_note_idx")
