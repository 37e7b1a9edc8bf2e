"""lintsafe: twin: the index built CONCURRENTLY, outside the transaction."""

from __future__ import annotations

from python_ops.migrations import ddl

revision = "lintsafe_0002"
down_revision = "lintsafe_0001"
branch_labels = None
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    ddl.create_index("lintsafe_items_v_idx", "lintsafe_items", "v")


def downgrade() -> None:
    ddl.drop_index("lintsafe_items_v_idx")
