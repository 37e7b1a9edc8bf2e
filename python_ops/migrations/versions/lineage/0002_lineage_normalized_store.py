"""lineage: the normalized OpenLineage store — namespaces, jobs, datasets, runs, run inputs and outputs.

Modeled on OpenLineage (and on how Marquez keeps it): ids of namespaces, jobs and datasets are UUIDv5
of their names, so ingestion never has to look an id up; a run's id is the event's `run.runId`.

Revision ID: lineage_0002
Revises: lineage_0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "lineage_0002"
down_revision = "lineage_0001"
branch_labels = None
depends_on = None

online_safe = True  # new tables only
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE lineage_namespaces (
            uuid        uuid PRIMARY KEY,
            name        text NOT NULL UNIQUE,
            created_at  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE lineage_jobs (
            uuid            uuid PRIMARY KEY,
            namespace_uuid  uuid NOT NULL REFERENCES lineage_namespaces (uuid),
            namespace_name  text NOT NULL,
            name            text NOT NULL,
            facets          jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now(),
            UNIQUE (namespace_name, name)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE lineage_datasets (
            uuid            uuid PRIMARY KEY,
            namespace_uuid  uuid NOT NULL REFERENCES lineage_namespaces (uuid),
            namespace_name  text NOT NULL,
            name            text NOT NULL,
            facets          jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now(),
            UNIQUE (namespace_name, name)
        )
        """
    )
    # state_rank/state_event_time make the state machine order-independent: an event changes the
    # state only if (rank, event time) is greater, so a late START never regresses a COMPLETE.
    op.execute(
        """
        CREATE TABLE lineage_runs (
            uuid                  uuid PRIMARY KEY,
            job_uuid              uuid NOT NULL REFERENCES lineage_jobs (uuid),
            state                 text NOT NULL
                CHECK (state IN ('START', 'RUNNING', 'COMPLETE', 'FAIL', 'ABORT', 'OTHER')),
            state_rank            smallint NOT NULL,
            state_event_time      timestamptz NOT NULL,
            started_at            timestamptz,
            ended_at              timestamptz,
            nominal_start_time    timestamptz,
            nominal_end_time      timestamptz,
            parent_run_uuid       uuid,
            parent_job_namespace  text,
            parent_job_name       text,
            facets                jsonb NOT NULL DEFAULT '{}'::jsonb,
            first_event_time      timestamptz NOT NULL,
            created_at            timestamptz NOT NULL DEFAULT now(),
            updated_at            timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX lineage_runs_job_idx ON lineage_runs (job_uuid, first_event_time)")
    op.execute("CREATE INDEX lineage_runs_updated_idx ON lineage_runs (updated_at)")
    # the backfill walks runs in (first event, uuid) order: each chunk then spans few monthly partitions
    op.execute("CREATE INDEX lineage_runs_first_event_idx ON lineage_runs (first_event_time, uuid)")
    op.execute(
        "CREATE INDEX lineage_runs_parent_idx ON lineage_runs (parent_run_uuid) "
        "WHERE parent_run_uuid IS NOT NULL"
    )
    for side in ("inputs", "outputs"):
        op.execute(
            f"""
            CREATE TABLE lineage_run_{side} (
                run_uuid      uuid NOT NULL REFERENCES lineage_runs (uuid) ON DELETE CASCADE,
                dataset_uuid  uuid NOT NULL REFERENCES lineage_datasets (uuid),
                facets        jsonb NOT NULL DEFAULT '{{}}'::jsonb,
                created_at    timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (run_uuid, dataset_uuid)
            )
            """
        )
        op.execute(f"CREATE INDEX lineage_run_{side}_dataset_idx ON lineage_run_{side} (dataset_uuid)")
    op.execute("CREATE INDEX lineage_events_raw_received_idx ON lineage_events_raw (received_at)")
    # lineage-graph nodes are addressed as NAMESPACE:NAME; these keep the normalized lookups indexed too
    op.execute("CREATE INDEX lineage_jobs_key_idx ON lineage_jobs ((namespace_name || ':' || name))")
    op.execute("CREATE INDEX lineage_datasets_key_idx ON lineage_datasets ((namespace_name || ':' || name))")


def downgrade() -> None:
    op.execute("DROP INDEX lineage_events_raw_received_idx")
    op.execute("DROP TABLE lineage_run_outputs")
    op.execute("DROP TABLE lineage_run_inputs")
    op.execute("DROP TABLE lineage_runs")
    op.execute("DROP TABLE lineage_datasets")
    op.execute("DROP TABLE lineage_jobs")
    op.execute("DROP TABLE lineage_namespaces")
