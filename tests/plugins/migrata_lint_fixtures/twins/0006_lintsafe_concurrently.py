"""lintsafe: twin: CREATE INDEX CONCURRENTLY in Alembic's autocommit block."""

from __future__ import annotations

from python_ops.migrations import ddl

revision = "lintsafe_0006"
down_revision = "lintsafe_0005"
branch_labels = None
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    ddl.create_index("lintsafe_items_note_idx", "lintsafe_items", "note")


def downgrade() -> None:
    ddl.drop_index("lintsafe_items_note_idx")
