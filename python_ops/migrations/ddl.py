"""Own lock-safe DDL for revisions: each helper runs the statements an online change needs, and only those.

- `execute(sql)`: one statement with `lock_timeout` (and optionally `statement_timeout`) set for it, in a
  savepoint, retried with backoff when the lock is not granted in time, so a long transaction elsewhere
  makes the revision wait a little and retry, not stall every query queued behind its lock.
- `create_index(...)` / `drop_index(...)`: CONCURRENTLY, outside the revision's transaction (Alembic's
  `autocommit_block`), dropping an invalid index a killed earlier attempt left behind and retrying.
- `add_check(...)` / `add_foreign_key(...)`: `ADD CONSTRAINT … NOT VALID` (a catalog change under a short
  lock), then `VALIDATE CONSTRAINT` in its own transaction (it scans under SHARE UPDATE EXCLUSIVE, which
  does not block reads or writes).
- `set_not_null(table, column)`: a validated `CHECK (column IS NOT NULL)` lets `SET NOT NULL` skip its
  scan; the check is dropped afterwards.

Offline (`migrate lint`, which renders revisions like Alembic's `--sql` mode) each helper writes the
same statements it runs, so lint judges what runs. Retries happen only online.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import op
from psycopg import sql as pgsql

from python_ops.errors import MigrataError
from python_ops.migrations.runtime import rendering

log = logging.getLogger("migrata.migrations")

LOCK_TIMEOUT = "2s"
RETRIES = 5
_LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a lock_timeout that expired
_SAVEPOINT = "migrata_lock_safe"


def ident(name: str) -> str:
    """A (possibly schema-qualified) name as a quoted SQL identifier."""
    return pgsql.Identifier(*name.split(".")).as_string(None)


def _literal(value: str) -> str:
    return pgsql.Literal(value).as_string(None)


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)


def _retrying(what: str, attempt_fn, retries: int) -> None:  # type: ignore[no-untyped-def]
    delay = 0.5
    for attempt in range(retries + 1):
        try:
            attempt_fn()
            return
        except Exception as exc:
            if _sqlstate(exc) != _LOCK_NOT_AVAILABLE or attempt == retries:
                if _sqlstate(exc) == _LOCK_NOT_AVAILABLE:
                    raise MigrataError(
                        f"{what}: lock not granted within its lock_timeout after {retries + 1} attempts",
                        hint="a long transaction holds the table; end it or rerun the upgrade later",
                    ) from exc
                raise
            log.warning(f"{what}: lock not granted in time (attempt {attempt + 1}); retrying in {delay:g}s")
            time.sleep(delay)
            delay = min(delay * 2, 8.0)


def execute(
    statement: str,
    *,
    lock_timeout: str = LOCK_TIMEOUT,
    statement_timeout: str | None = None,
    retries: int = RETRIES,
) -> None:
    """Run one DDL statement in the revision's transaction with its timeouts, retrying a lock timeout.

    The timeouts are `SET LOCAL` inside a savepoint: a timed-out attempt rolls back to it and tries again;
    after success they stay set for the rest of the revision's transaction.
    """
    lines = [f"SET LOCAL lock_timeout = {_literal(lock_timeout)}"]
    if statement_timeout is not None:
        lines.append(f"SET LOCAL statement_timeout = {_literal(statement_timeout)}")
    if rendering():
        for line in (f"SAVEPOINT {_SAVEPOINT}", *lines, statement, f"RELEASE SAVEPOINT {_SAVEPOINT}"):
            op.execute(line)
        return
    bind = op.get_bind()

    def attempt() -> None:
        bind.exec_driver_sql(f"SAVEPOINT {_SAVEPOINT}")
        try:
            for line in (*lines, statement):
                bind.exec_driver_sql(line)
        except Exception:
            bind.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
            raise
        bind.exec_driver_sql(f"RELEASE SAVEPOINT {_SAVEPOINT}")

    _retrying(" ".join(statement.split())[:80], attempt, retries)


@contextmanager
def _outside_transaction() -> Iterator[None]:
    """Alembic's autocommit block: what the revision did so far commits first."""
    with op.get_context().autocommit_block():
        yield


def _session_timeouts(lock_timeout: str) -> tuple[str, str]:
    return f"SET lock_timeout = {_literal(lock_timeout)}", "RESET lock_timeout"


def create_index(
    name: str,
    table: str,
    columns: str,
    *,
    unique: bool = False,
    where: str | None = None,
    using: str | None = None,
    lock_timeout: str = LOCK_TIMEOUT,
    retries: int = RETRIES,
) -> None:
    """CREATE INDEX CONCURRENTLY outside the transaction (`columns` is SQL, e.g. "state, created_at").

    A valid index of that name is kept (a rerun is a no-op); an invalid one, left by a killed or
    timed-out attempt, is dropped concurrently first.
    """
    kind = "UNIQUE INDEX" if unique else "INDEX"
    method = f" USING {using}" if using else ""
    predicate = f" WHERE {where}" if where else ""
    target = f"{ident(name)} ON {ident(table)}{method} ({columns}){predicate}"
    statement = f"CREATE {kind} CONCURRENTLY IF NOT EXISTS {target}"
    set_timeout, reset = _session_timeouts(lock_timeout)
    drop = f"DROP INDEX CONCURRENTLY IF EXISTS {ident(name)}"
    with _outside_transaction():
        if rendering():
            for line in (set_timeout, statement, reset):
                op.execute(line)
            return
        bind = op.get_bind()

        def attempt() -> None:
            valid = bind.exec_driver_sql(
                "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%(n)s)", {"n": name}
            ).scalar()
            if valid is False:
                log.warning(f"index {name} is invalid (an earlier attempt was interrupted): dropping it")
                bind.exec_driver_sql(drop)
            bind.exec_driver_sql(set_timeout)
            try:
                bind.exec_driver_sql(statement)
            finally:
                bind.exec_driver_sql(reset)

        _retrying(f"index {name}", attempt, retries)


def drop_index(name: str, *, lock_timeout: str = LOCK_TIMEOUT, retries: int = RETRIES) -> None:
    """DROP INDEX CONCURRENTLY IF EXISTS outside the transaction."""
    statement = f"DROP INDEX CONCURRENTLY IF EXISTS {ident(name)}"
    set_timeout, reset = _session_timeouts(lock_timeout)
    with _outside_transaction():
        if rendering():
            for line in (set_timeout, statement, reset):
                op.execute(line)
            return
        bind = op.get_bind()

        def attempt() -> None:
            bind.exec_driver_sql(set_timeout)
            try:
                bind.exec_driver_sql(statement)
            finally:
                bind.exec_driver_sql(reset)

        _retrying(f"drop index {name}", attempt, retries)


def _validate(table: str, constraint: str) -> None:
    """VALIDATE CONSTRAINT in its own transaction: scans without blocking reads or writes."""
    statement = f"ALTER TABLE {ident(table)} VALIDATE CONSTRAINT {ident(constraint)}"
    with _outside_transaction():
        if rendering():
            op.execute(statement)
        else:
            op.get_bind().exec_driver_sql(statement)


def add_check(
    table: str, name: str, expression: str, *, lock_timeout: str = LOCK_TIMEOUT, retries: int = RETRIES
) -> None:
    """ADD CONSTRAINT name CHECK (expression) NOT VALID, then VALIDATE it in its own transaction."""
    execute(
        f"ALTER TABLE {ident(table)} ADD CONSTRAINT {ident(name)} CHECK ({expression}) NOT VALID",
        lock_timeout=lock_timeout,
        retries=retries,
    )
    _validate(table, name)


def add_foreign_key(
    table: str,
    name: str,
    columns: str,
    referenced_table: str,
    referenced_columns: str,
    *,
    on_delete: str | None = None,
    lock_timeout: str = LOCK_TIMEOUT,
    retries: int = RETRIES,
) -> None:
    """ADD CONSTRAINT … FOREIGN KEY … NOT VALID, then VALIDATE it in its own transaction."""
    action = f" ON DELETE {on_delete}" if on_delete else ""
    execute(
        f"ALTER TABLE {ident(table)} ADD CONSTRAINT {ident(name)} FOREIGN KEY ({columns}) "
        f"REFERENCES {ident(referenced_table)} ({referenced_columns}){action} NOT VALID",
        lock_timeout=lock_timeout,
        retries=retries,
    )
    _validate(table, name)


def set_not_null(
    table: str, column: str, *, lock_timeout: str = LOCK_TIMEOUT, retries: int = RETRIES
) -> None:
    """SET NOT NULL without a scan under ACCESS EXCLUSIVE: a validated CHECK proves it first."""
    check = f"{table.split('.')[-1]}_{column}_not_null"[:63]
    add_check(table, check, f"{ident(column)} IS NOT NULL", lock_timeout=lock_timeout, retries=retries)
    execute(
        f"ALTER TABLE {ident(table)} ALTER COLUMN {ident(column)} SET NOT NULL",
        lock_timeout=lock_timeout,
        retries=retries,
    )
    execute(
        f"ALTER TABLE {ident(table)} DROP CONSTRAINT {ident(check)}",
        lock_timeout=lock_timeout,
        retries=retries,
    )
