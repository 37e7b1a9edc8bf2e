"""core: heavy data migrations recorded as pending (skipped in an automatic run, run later by run-pending).

Revision ID: core_0002
Revises: core_0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "core_0002"
down_revision = "core_0001"
branch_labels = None
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE migrata_pending_migrations (
            name          text PRIMARY KEY,
            revision      text,
            status        text NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
            estimate_path text NOT NULL,
            run_path      text NOT NULL,
            estimated     bigint NOT NULL,
            threshold     bigint NOT NULL,
            rows_done     bigint NOT NULL DEFAULT 0,
            summary       text,
            recorded_at   timestamptz NOT NULL DEFAULT now(),
            started_at    timestamptz,
            finished_at   timestamptz
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE migrata_pending_migrations")
