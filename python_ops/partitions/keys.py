"""Own the Python face of the stable LIST partition key, `migrata_partition_key(value, n)` in SQL.

The rule (`md5` of the value's text, first 32 bits, modulo the partition count; NULL maps to 0) is
written once, in the SQL function that revision `partitions_0002` installs: the repartitioning's copy,
its capture triggers and its verification all call it. Python asks the database rather than keeping a
twin of it. Writers of a repartitioned table set `partition_key` in the same statement:
`INSERT … VALUES (…, migrata_partition_key($1::text, 100))`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from python_ops.engines.context import Engines


def partition_key(engines: Engines, value: object, partitions: int) -> int:
    """The partition (0 … partitions-1) a row with this column value belongs to."""
    with engines.connect(autocommit=True) as conn:
        row = conn.execute(
            "SELECT migrata_partition_key(%s::text, %s)", (None if value is None else str(value), partitions)
        ).fetchone()
    assert row is not None
    return int(row[0])
