"""lintsafe: the table every safe twin below changes, and a view reading its label."""

from __future__ import annotations

from alembic import op

revision = "lintsafe_0001"
down_revision = None
branch_labels = ("lintsafe",)
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    op.execute(
        "CREATE TABLE lintsafe_items"
        " (id bigint PRIMARY KEY, v integer, label varchar(20), code varchar(20), note text)"
    )
    op.execute("CREATE VIEW lintsafe_labels AS SELECT id, label FROM lintsafe_items")


def downgrade() -> None:
    op.execute("DROP VIEW lintsafe_labels")
    op.execute("DROP TABLE lintsafe_items")
