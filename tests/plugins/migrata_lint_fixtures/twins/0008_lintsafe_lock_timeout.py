"""lintsafe: twin: the same brief ACCESS EXCLUSIVE change with lock_timeout, retried."""

from __future__ import annotations

from python_ops.migrations import ddl

revision = "lintsafe_0008"
down_revision = "lintsafe_0007"
branch_labels = None
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    ddl.execute("ALTER TABLE lintsafe_items ADD COLUMN extra text")


def downgrade() -> None:
    ddl.execute("ALTER TABLE lintsafe_items DROP COLUMN extra")
