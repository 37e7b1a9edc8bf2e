"""lintsafe: twin: expand instead of rename: a new column beside the one the code reads."""

from __future__ import annotations

from python_ops.migrations import ddl

revision = "lintsafe_0007"
down_revision = "lintsafe_0006"
branch_labels = None
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    ddl.execute("ALTER TABLE lintsafe_items ADD COLUMN title varchar(20)")


def downgrade() -> None:
    ddl.execute("ALTER TABLE lintsafe_items DROP COLUMN title")
