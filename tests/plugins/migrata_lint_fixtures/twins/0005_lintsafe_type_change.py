"""lintsafe: twin: varchar(20) to text is binary coercible: no rewrite."""

from __future__ import annotations

from python_ops.migrations import ddl

revision = "lintsafe_0005"
down_revision = "lintsafe_0004"
branch_labels = None
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    ddl.execute("ALTER TABLE lintsafe_items ALTER COLUMN code TYPE text")


def downgrade() -> None:
    ddl.execute("ALTER TABLE lintsafe_items ALTER COLUMN code TYPE varchar(20)")
