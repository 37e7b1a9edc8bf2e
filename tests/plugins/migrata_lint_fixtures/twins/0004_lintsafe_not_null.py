"""lintsafe: twin: NOT NULL proven by a validated CHECK first, so SET NOT NULL does not scan."""

from __future__ import annotations

from python_ops.migrations import ddl

revision = "lintsafe_0004"
down_revision = "lintsafe_0003"
branch_labels = None
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    ddl.set_not_null("lintsafe_items", "v")


def downgrade() -> None:
    ddl.execute("ALTER TABLE lintsafe_items ALTER COLUMN v DROP NOT NULL")
