"""Own operation locks: one Postgres advisory lock per (operation, target), held for the whole run.

Every state-changing operation takes `operation_lock(engines, "repartition", "public.chunks")` before
its first write. The lock is session-level on a connection of its own, so it is released when the
run ends or its process dies (kill -9 included): a crash never leaves a lock behind. A second
invocation on the same target either fails at once with a `PreconditionError` (exit 2) naming who
holds it — the holder's process id and host, and since when — or, with `wait=True`, waits for it.
Different targets (two tables, two datasets) run side by side.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from python_ops.errors import PreconditionError

if TYPE_CHECKING:
    import psycopg

    from python_ops.engines.context import Engines

_POLL_S = 0.1
# The holder's identity travels in application_name (Postgres keeps 63 bytes of it).
_PREFIX = "migrata-lock"


def lock_key(operation: str, target: str) -> str:
    """The text whose 64-bit hash is the advisory lock key of (operation, target)."""
    return f"migrata:{operation}:{target}"


def _holder(conn: psycopg.Connection, key: str) -> str:
    row = conn.execute(
        """SELECT a.application_name, a.backend_start, a.pid FROM pg_locks l
            JOIN pg_stat_activity a USING (pid)
           WHERE l.locktype = 'advisory' AND l.granted
             AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(%s, 0)
           LIMIT 1""",
        (key,),
    ).fetchone()
    if row is None:
        return ""
    name, since, backend = row
    parts = str(name or "").split(" ")
    if len(parts) >= 3 and parts[0] == _PREFIX:
        who = f"pid {parts[1]} on {parts[2]}"
    else:
        who = f"Postgres backend {backend} ({name!r})"
    return f" ({who}, started at {since:%Y-%m-%d %H:%M:%S %Z})"


@contextlib.contextmanager
def operation_lock(
    engines: Engines, operation: str, target: str, *, wait: bool = False, timeout_s: float | None = None
) -> Iterator[None]:
    """Hold the lock of (`operation`, `target`) for the block; fail at once, or wait, if it is held.

    `wait=True` waits until the holder finishes (at most `timeout_s` seconds when given).
    """
    with operation_locks(engines, operation, [target], wait=wait, timeout_s=timeout_s):
        yield


@contextlib.contextmanager
def operation_locks(
    engines: Engines,
    operation: str,
    targets: Sequence[str],
    *,
    wait: bool = False,
    timeout_s: float | None = None,
) -> Iterator[None]:
    """Hold the locks of `operation` on every one of `targets` for the block, on one session.

    Taken in sorted order, so two runs waiting for overlapping targets never wait in a circle; when
    one is held (and not `wait`), those already taken are released and nothing was changed.
    """
    name = f"{_PREFIX} {os.getpid()} {socket.gethostname()}"[:63]
    conn = engines.connect(autocommit=True, application_name=name)
    held: list[str] = []
    try:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for target in sorted(set(targets)):
            key = lock_key(operation, target)
            while True:
                row = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)).fetchone()
                if row and row[0]:
                    held.append(key)
                    break
                if not wait or (deadline is not None and time.monotonic() >= deadline):
                    waited = f"; gave up after {timeout_s:g}s" if wait else ""
                    raise PreconditionError(
                        f"{operation} of {target} is already running{_holder(conn, key)}{waited}",
                        hint="wait for it to finish, or pass --wait to wait for it",
                    )
                time.sleep(_POLL_S)
        yield
    finally:
        # Unlock explicitly: the server ends a closed session asynchronously, so a lock released only by
        # close() can still look held to the next operation this process starts at once.
        if not conn.closed:
            for key in held:
                with contextlib.suppress(Exception):
                    conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))
        conn.close()  # and a session that dies (kill -9) releases them too
