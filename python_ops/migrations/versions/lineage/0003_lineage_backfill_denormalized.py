"""lineage: backfill the denormalized lineage tables from existing runs (seed 000, V86).

A heavy data migration (contract B): with up to `heavy_threshold` runs (default 100K) it runs now, in
chunks of `chunk_size` runs; above that it logs a warning, records itself as pending and returns, to be
run by hand: `migrata migrate run-pending --set chunk_size=50000` or `migrata lineage backfill`.

Revision ID: lineage_0003
Revises: lineage_0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from python_ops.migrations.heavy import data_migration, forget_data_migration

revision = "lineage_0003"
down_revision = "lineage_0002"
branch_labels = None
# the pending-migrations table and the partition function the backfill calls
depends_on = ("core_0002", "partitions_0001")

online_safe = True  # chunked, one short transaction per chunk; above the threshold it defers itself
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
    data_migration(
        "lineage_backfill",
        estimate="python_ops.lineage.backfill:estimate_runs",
        run="python_ops.lineage.backfill:backfill",
    )


def downgrade() -> None:
    # the denormalized tables are derived data owned by the dbt models; dropping them is the inverse
    from alembic import op

    forget_data_migration("lineage_backfill")
    op.execute("DELETE FROM migrata_checkpoints WHERE operation = 'lineage_backfill'")
    op.execute("DROP TABLE IF EXISTS run_parent_lineage_denormalized")
    op.execute("DROP TABLE IF EXISTS run_lineage_denormalized")
