"""lintsafe: twin: the column added without a default, the default set for new rows only."""

from __future__ import annotations

from python_ops.migrations import ddl

revision = "lintsafe_0003"
down_revision = "lintsafe_0002"
branch_labels = None
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    ddl.execute("ALTER TABLE lintsafe_items ADD COLUMN token uuid")
    ddl.execute("ALTER TABLE lintsafe_items ALTER COLUMN token SET DEFAULT gen_random_uuid()")


def downgrade() -> None:
    ddl.execute("ALTER TABLE lintsafe_items DROP COLUMN token")
