"""Own the lock that keeps two migrators apart: the shared operation lock on ("migrate", key).

Every upgrade, downgrade and stamp holds it for the whole run (key `schema`); a data migration run
by `run-pending` holds ("migrate", `pending:<name>`). A second migrator waits up to `timeout_s`, then
fails with one clear error naming the holder; nothing was applied by it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from python_ops.engines.context import Engines
from python_ops.locks import operation_lock

SCHEMA_KEY = "schema"
DEFAULT_TIMEOUT_S = 60.0


@contextlib.contextmanager
def migration_lock(
    dsn: str, *, key: str = SCHEMA_KEY, timeout_s: float = DEFAULT_TIMEOUT_S
) -> Iterator[None]:
    """Hold migrata's migration lock `key` on the repository at `dsn`, waiting at most `timeout_s`."""
    with operation_lock(Engines.from_dsn(dsn), "migrate", key, wait=True, timeout_s=timeout_s):
        yield
