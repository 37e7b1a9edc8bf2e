"""linthaz: the table every hazard below changes, and a view reading its label."""

from __future__ import annotations

from alembic import op

revision = "linthaz_0001"
down_revision = None
branch_labels = ("linthaz",)
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    op.execute(
        "CREATE TABLE linthaz_items"
        " (id bigint PRIMARY KEY, v integer, label varchar(20), code varchar(20), note text)"
    )
    op.execute("CREATE VIEW linthaz_labels AS SELECT id, label FROM linthaz_items")


def downgrade() -> None:
    op.execute("DROP VIEW linthaz_labels")
    op.execute("DROP TABLE linthaz_items")
