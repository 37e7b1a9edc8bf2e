"""lineage: raw OpenLineage events as received, one row per event.

Revision ID: lineage_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "lineage_0001"
down_revision = None
branch_labels = ("lineage",)
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE lineage_events_raw (
            event_id     uuid PRIMARY KEY,
            event_time   timestamptz NOT NULL,
            event_type   text,
            run_id       uuid NOT NULL,
            job_namespace text NOT NULL,
            job_name     text NOT NULL,
            producer     text,
            payload      jsonb NOT NULL,
            received_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX lineage_events_raw_run_idx ON lineage_events_raw (run_id, event_time)")


def downgrade() -> None:
    op.execute("DROP TABLE lineage_events_raw")
