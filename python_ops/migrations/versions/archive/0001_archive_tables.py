"""archive: the timestore tables the archive reads (datasets, audit logs, job runs) and its watermarks.

Revision ID: archive_0001
Revises:
Create Date: 2026-11-23

Shapes follow the timestore service of seed 004; `migration_watermarks` is exactly the seed's DDL.
Every archived table has an index on (dataset_id, <time column>): the archive selects, verifies and
cleans up by dataset and time range.
"""

from __future__ import annotations

from alembic import op

revision = "archive_0001"
down_revision = None
branch_labels = ("archive",)
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE datasets (
            id          text PRIMARY KEY,
            slug        text NOT NULL UNIQUE,
            name        text NOT NULL,
            description text,
            status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
            metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE dataset_access_audit (
            id           text PRIMARY KEY,
            dataset_id   text NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            dataset_slug text NOT NULL,
            actor_id     text,
            actor_scopes text[] NOT NULL DEFAULT '{}',
            action       text NOT NULL,
            success      boolean NOT NULL,
            metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
            accessed_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        "CREATE INDEX dataset_access_audit_dataset_time_idx ON dataset_access_audit (dataset_id, accessed_at)"
    )
    op.execute("CREATE INDEX dataset_access_audit_time_idx ON dataset_access_audit (accessed_at)")
    op.execute(
        """
        CREATE TABLE lifecycle_audit_log (
            id          text PRIMARY KEY,
            dataset_id  text NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            manifest_id text,
            event_type  text NOT NULL,
            payload     jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        "CREATE INDEX lifecycle_audit_log_dataset_time_idx ON lifecycle_audit_log (dataset_id, created_at)"
    )
    op.execute(
        "CREATE INDEX lifecycle_audit_log_type_time_idx ON lifecycle_audit_log (event_type, created_at)"
    )
    op.execute(
        """
        CREATE TABLE lifecycle_job_runs (
            id             text PRIMARY KEY,
            job_kind       text NOT NULL,
            dataset_id     text NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            operations     text[] NOT NULL DEFAULT '{}',
            trigger_source text NOT NULL,
            status         text NOT NULL
                CHECK (status IN ('queued', 'running', 'completed', 'failed', 'skipped')),
            scheduled_for  timestamptz,
            started_at     timestamptz,
            completed_at   timestamptz,
            duration_ms    integer,
            attempts       integer NOT NULL DEFAULT 0,
            error          text,
            metadata       jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at     timestamptz NOT NULL DEFAULT now(),
            updated_at     timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        "CREATE INDEX lifecycle_job_runs_dataset_time_idx ON lifecycle_job_runs (dataset_id, created_at)"
    )
    op.execute("CREATE INDEX lifecycle_job_runs_status_idx ON lifecycle_job_runs (status, scheduled_for)")
    op.execute(
        """
        CREATE TABLE migration_watermarks (
          dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
          table_name TEXT NOT NULL,
          watermark_timestamp TIMESTAMPTZ NOT NULL,
          updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
          PRIMARY KEY (dataset_id, table_name)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE migration_watermarks")
    op.execute("DROP TABLE lifecycle_job_runs")
    op.execute("DROP TABLE lifecycle_audit_log")
    op.execute("DROP TABLE dataset_access_audit")
    op.execute("DROP TABLE datasets")
