"""core: checkpoints of long operations (the shared runner's resumable positions).

Revision ID: core_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "core_0001"
down_revision = None
branch_labels = ("core",)
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE migrata_checkpoints (
            operation  text PRIMARY KEY,
            status     text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
            position   jsonb,
            batches    integer NOT NULL DEFAULT 0,
            units      bigint NOT NULL DEFAULT 0,
            started_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE migrata_checkpoints")
