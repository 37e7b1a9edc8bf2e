"""lineage: rebuild the denormalized tables and the edge table with the ids of lineage_0004.

A heavy data migration (contract B), like lineage_0003: up to `heavy_threshold` runs (default 100K) it
runs now through `migrata lineage backfill`'s code (the dbt models' compiled SQL in chunks of runs),
above that it is recorded as pending: `migrata migrate run-pending` or `migrata lineage backfill`.

Revision ID: lineage_0005
Revises: lineage_0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from python_ops.migrations.heavy import data_migration, forget_data_migration

revision = "lineage_0005"
down_revision = "lineage_0004"
branch_labels = None
depends_on = ("core_0002", "partitions_0001")

online_safe = True  # chunked, one short transaction per chunk; above the threshold it defers itself
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    data_migration(
        "lineage_rebuild_ids",
        estimate="python_ops.lineage.backfill:estimate_runs",
        run="python_ops.lineage.backfill:backfill",
    )


def downgrade() -> None:
    from alembic import op

    forget_data_migration("lineage_rebuild_ids")
    op.execute("DELETE FROM migrata_checkpoints WHERE operation LIKE 'lineage_backfill%'")
    for table in ("lineage_graph_edges", "run_parent_lineage_denormalized", "run_lineage_denormalized"):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
