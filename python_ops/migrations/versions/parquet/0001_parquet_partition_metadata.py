"""parquet: the footer cache `partition_metadata` and the repair's issue list.

Revision ID: parquet_0001
Revises:
Create Date: 2026-11-23

`partition_metadata` is created only when absent, so an existing store (seed 001) keeps its table;
the table comment records that migrata created it, and the downgrade drops it only then.
"""

from __future__ import annotations

from alembic import op

revision = "parquet_0001"
down_revision = None
branch_labels = ("parquet",)
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True

_MARK = "created by migrata parquet_0001"


def upgrade() -> None:
    op.execute(
        f"""
        DO $$
        BEGIN
            IF to_regclass('partition_metadata') IS NULL THEN
                CREATE TABLE partition_metadata (
                    file_path  text PRIMARY KEY,
                    metadata   bytea NOT NULL,
                    file_size  bigint,
                    num_rows   bigint,
                    inserted_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now()
                );
                COMMENT ON TABLE partition_metadata IS '{_MARK}';
            END IF;
        END $$
        """
    )
    # One row per entry the last repair could not fix, written in the same transaction as its batch.
    op.execute(
        """
        CREATE TABLE parquet_repair_issues (
            operation  text NOT NULL,
            file_path  text NOT NULL,
            kind       text NOT NULL,
            detail     text NOT NULL DEFAULT '',
            noted_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (operation, file_path)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE parquet_repair_issues")
    op.execute(
        f"""
        DO $$
        BEGIN
            IF obj_description(to_regclass('partition_metadata'), 'pg_class') = '{_MARK}' THEN
                DROP TABLE partition_metadata;
            END IF;
        END $$
        """
    )
