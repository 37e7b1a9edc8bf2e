"""lineage: trigram indexes on job and dataset names, for search by prefix and by substring.

`GET /api/v1/search` (Marquez's `q`, matched case-insensitively anywhere in the name) and
`migrata lineage search` run `name ILIKE '%text%'`; a b-tree serves neither a substring nor a
case-insensitive prefix, a pg_trgm GIN index serves both. Built CONCURRENTLY (outside the migration's
transaction) so ingestion keeps writing jobs and datasets meanwhile.

Revision ID: lineage_0006
Revises: lineage_0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "lineage_0006"
down_revision = "lineage_0005"
branch_labels = None
depends_on = None

online_safe = True  # CREATE INDEX CONCURRENTLY: no lock that blocks writers
backward_compatible = True
forward_compatible = True

INDEXES = {"lineage_jobs_name_trgm_idx": "lineage_jobs", "lineage_datasets_name_trgm_idx": "lineage_datasets"}


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    with op.get_context().autocommit_block():
        for index, table in INDEXES.items():
            op.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} ON {table} USING gin (name gin_trgm_ops)"
            )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for index in INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {index}")
