"""Own the advisory lock that keeps two migrators apart.

Every upgrade, downgrade and stamp holds a session-level `pg_advisory_lock` on a fixed key (derived
from `migrata:schema`) on a connection of its own, for the whole run. A second migrator waits up to
`timeout_s`, then fails with one clear error; nothing was applied by it. The lock dies with its
connection, so a killed migrator never leaves it behind.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from python_ops.db import connect, describe_dsn
from python_ops.errors import PreconditionError

SCHEMA_KEY = "schema"
DEFAULT_TIMEOUT_S = 60.0
_POLL_S = 0.1


@contextlib.contextmanager
def migration_lock(
    dsn: str, *, key: str = SCHEMA_KEY, timeout_s: float = DEFAULT_TIMEOUT_S
) -> Iterator[None]:
    """Hold migrata's advisory lock `key` on the repository at `dsn`, waiting at most `timeout_s`."""
    conn = connect(dsn, autocommit=True, application_name=f"migrata migrator ({key})")
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            row = conn.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (f"migrata:{key}",)
            ).fetchone()
            if row and row[0]:
                break
            if time.monotonic() >= deadline:
                holder = conn.execute(
                    """SELECT l.pid, a.application_name FROM pg_locks l
                       JOIN pg_stat_activity a USING (pid)
                       WHERE l.locktype = 'advisory' AND l.granted
                         AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(%s, 0)
                       LIMIT 1""",
                    (f"migrata:{key}",),
                ).fetchone()
                who = f" (held by backend pid {holder[0]}, {holder[1]!r})" if holder else ""
                raise PreconditionError(
                    f"another migrator holds migrata's {key} lock on {describe_dsn(dsn)}{who}; "
                    f"gave up after {timeout_s:g}s",
                    hint="wait for it to finish and run again, or raise MIGRATA_MIGRATIONS__LOCK_TIMEOUT_S",
                )
            time.sleep(_POLL_S)
        yield
    finally:
        conn.close()  # closing the session releases the advisory lock
