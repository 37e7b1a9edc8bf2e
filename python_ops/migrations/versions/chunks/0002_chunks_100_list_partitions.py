"""chunks: repartition `chunks` into 100 LIST partitions on a stable hash of collection_id (seed 002).

Revision ID: chunks_0002
Revises: chunks_0001
Create Date: 2026-11-23

Runs `python_ops.partitions.repartition` on its own connections (given `Engines` for the repository
URI), outside this revision's transaction:
pre-check, `chunks_intermediate` with 100 partitions, batched copy (placeholder `chunk_size`, default
10000) while writes are captured, keys and foreign keys recreated, verification, swap under a short
lock; the original is kept as `chunks_retired_<ts>`, registered in `migration_backups` as the verified
backup. A killed upgrade continues when rerun. `partition_key` becomes
`migrata_partition_key(collection_id::text, 100)` and NOT NULL: writers must set it (the SQL function,
or `python_ops.partitions.partition_key` in Python). The downgrade brings the original back, carrying
over writes made since the swap, verified before the partitioned copy is dropped.
"""

from __future__ import annotations

from alembic import op

revision = "chunks_0002"
down_revision = "chunks_0001"
branch_labels = None
depends_on = ("partitions_0002", "core_0001")

online_safe = True  # online copy with captured writes; only the swap takes a short exclusive lock
backward_compatible = False  # writers must now supply partition_key
forward_compatible = True

TABLE, COLUMN, PARTITIONS = "chunks", "collection_id", 100


def upgrade() -> None:
    import logging

    from python_ops.engines.context import Engines
    from python_ops.errors import VerificationError
    from python_ops.migrations.runtime import placeholder, repository_dsn
    from python_ops.partitions import repartition
    from python_ops.runner import LogProgress

    progress = LogProgress(logging.getLogger("migrata.partitions"))  # each step and batch in the log
    with op.get_context().autocommit_block():
        report = repartition(
            Engines.from_dsn(repository_dsn()),
            TABLE,
            COLUMN,
            PARTITIONS,
            batch_size=placeholder("chunk_size", 10_000),
            revision=revision,
            on_progress=progress,
        )
    if not report.ok:
        raise VerificationError(
            f"repartitioning {TABLE} failed verification: {report.summary()}",
            hint="the original table is untouched; rerun the upgrade (it continues) or downgrade",
        )


def downgrade() -> None:
    from python_ops.engines.context import Engines
    from python_ops.migrations.runtime import repository_dsn
    from python_ops.partitions import rollback, runs

    engines = Engines.from_dsn(repository_dsn())
    with op.get_context().autocommit_block():
        state = {r["table_name"]: r["step"] for r in runs(engines)}
        if state.get(f"public.{TABLE}", "rolled_back") != "rolled_back":
            rollback(engines, TABLE)
