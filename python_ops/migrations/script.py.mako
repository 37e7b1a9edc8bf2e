"""${message}

Revision ID: ${up_revision}
Revises:${"" if not down_revision else " " + (down_revision if isinstance(down_revision, str) else ", ".join(down_revision))}
Create Date: ${create_date}
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401  (for op.create_table, op.add_column …)
from alembic import op  # noqa: F401

from python_ops.migrations import ddl  # noqa: F401  (lock-safe DDL: what `migrate lint` expects)

revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}

# migrata declarations (shown by `migrata migrate plan`, listed in docs/migrations.md):
# online_safe: runs while the service is up (no long exclusive locks, no full-table rewrites);
#   False makes `migrata migrate upgrade` refuse it unless --allow-downtime.
# backward_compatible: the new code works on the old schema.
# forward_compatible: the old code works on the new schema.
online_safe = ${repr(context.get("online_safe", True))}
backward_compatible = ${repr(context.get("backward_compatible", True))}
forward_compatible = ${repr(context.get("forward_compatible", True))}

# Placeholders (`--set chunk_size=50000`): python_ops.migrations.placeholders().
# A heavy data migration: python_ops.migrations.heavy.data_migration(name, estimate="m:f", run="m:f")
# in a revision of its own (with depends_on = "core_0002").
#
# `migrata migrate lint [--live]` renders upgrade() to SQL and fails it when the SQL contradicts the
# declarations above. On existing tables use the lock-safe helpers (python_ops.migrations.ddl):
#   ddl.execute("ALTER TABLE t ADD COLUMN c text")   one statement with lock_timeout, retried
#   ddl.create_index("t_c_idx", "t", "c")            CONCURRENTLY, outside the transaction
#   ddl.set_not_null("t", "c")                       via a validated CHECK: no scan under the lock
#   ddl.add_check(...), ddl.add_foreign_key(...)     NOT VALID, then VALIDATE in its own transaction
# A finding you accept needs its reason: lint_suppressions = {"rule": "why it is safe here"}.


def upgrade() -> None:
    ${upgrades if upgrades else "raise NotImplementedError('write the upgrade')"}


def downgrade() -> None:
    ${downgrades if downgrades else "raise NotImplementedError('write the downgrade')"}
