"""lineage: b-tree indexes on lower(name) for search by prefix (`q=job_1%`).

`GET /api/v1/search` and `migrata lineage search` match a prefix `TEXT%` as
`lower(name) LIKE 'text%'` with the text's own `%`, `_` and `\\` escaped: with `text_pattern_ops` the
planner turns it into a range scan of this index (the names that start with the text, in order). The
trigram indexes of lineage_0006 serve substrings and other patterns, but for a prefix such as `job_1`,
whose trigrams every job name shares, they return nearly every row to recheck. Built CONCURRENTLY
(python_ops.migrations.ddl) so ingestion keeps writing meanwhile.

Revision ID: lineage_0007
Revises: lineage_0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from python_ops.migrations import ddl

revision = "lineage_0007"
down_revision = "lineage_0006"
branch_labels = None
depends_on = None

online_safe = True  # CREATE INDEX CONCURRENTLY: no lock that blocks writers
backward_compatible = True
forward_compatible = True

INDEXES = {
    "lineage_jobs_name_prefix_idx": "lineage_jobs",
    "lineage_datasets_name_prefix_idx": "lineage_datasets",
}


def upgrade() -> None:
    for index, table in INDEXES.items():
        ddl.create_index(index, table, "lower(name) text_pattern_ops")


def downgrade() -> None:
    for index in INDEXES:
        ddl.drop_index(index)
