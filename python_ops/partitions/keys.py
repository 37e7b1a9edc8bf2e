"""Own the stable LIST partition key: the same number in Python and in SQL (`migrata_partition_key`).

`md5` of the value's text, first 32 bits, modulo the partition count; NULL maps to 0. Postgres's own
hash functions are not reproducible outside the server, which is why md5 is used.
"""

from __future__ import annotations

import hashlib


def partition_key(value: object, partitions: int) -> int:
    """The partition (0 … partitions-1) a row with this column value belongs to."""
    if value is None:
        return 0
    digest = hashlib.md5(str(value).encode()).hexdigest()
    return int(digest[:8], 16) % partitions
