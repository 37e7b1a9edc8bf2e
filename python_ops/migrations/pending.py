"""Own the record of heavy data migrations (`migrata_pending_migrations`, created by `core_0002`).

A heavy data migration skipped by an automatic run is recorded here as `pending`; `run-pending` marks it
`running`, then `done` or `failed`. A run that was killed stays `running` and is picked up again: its
callable resumes from the shared runner's checkpoint.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from python_ops.errors import ConfigError, PreconditionError

if TYPE_CHECKING:
    import psycopg

TABLE = "migrata_pending_migrations"
OPEN_STATUSES = ("pending", "running", "failed")


@dataclass(frozen=True)
class PendingMigration:
    """One heavy data migration as recorded: where its callables are and how far it got."""

    name: str
    revision: str | None
    status: str
    estimate_path: str
    run_path: str
    estimated: int
    threshold: int
    rows_done: int
    summary: str | None
    recorded_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()}


def resolve(path: str) -> Callable[..., Any]:
    """Import `module:function`; a wrong path is a ConfigError naming it."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(
            f"data migration callable {path!r} is not of the form 'module:function'",
            hint="write e.g. estimate='python_ops.lineage.backfill:estimate_runs'",
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"cannot import {module_name!r} for data migration callable {path!r}: {exc}",
            hint="fix the import path in the revision, or install the package that provides it",
        ) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(
            f"{module_name!r} has no callable {attr!r} (data migration callable {path!r})",
            hint="fix the function name in the revision",
        )
    return fn


def table_exists(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)).fetchone()
    return bool(row and row[0])


def require_table(conn: psycopg.Connection) -> None:
    if not table_exists(conn):
        raise PreconditionError(
            f"table {TABLE} does not exist, so a heavy data migration cannot be recorded",
            hint="upgrade the core component first (`migrata migrate upgrade core`); a revision calling "
            "data_migration() should declare depends_on = 'core_0002'",
        )


_COLUMNS = (
    "name, revision, status, estimate_path, run_path, estimated, threshold, rows_done, summary, "
    "recorded_at, started_at, finished_at"
)


def record(
    conn: psycopg.Connection,
    *,
    name: str,
    revision: str | None,
    status: str,
    estimate_path: str,
    run_path: str,
    estimated: int,
    threshold: int,
) -> None:
    """Insert or refresh the record of `name` (a rerun of its revision refreshes the estimate)."""
    conn.execute(
        f"""INSERT INTO {TABLE} (name, revision, status, estimate_path, run_path, estimated, threshold,
                                recorded_at, started_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, now(), CASE WHEN %s = 'running' THEN now() END)
            ON CONFLICT (name) DO UPDATE SET revision = EXCLUDED.revision, status = EXCLUDED.status,
                estimate_path = EXCLUDED.estimate_path, run_path = EXCLUDED.run_path,
                estimated = EXCLUDED.estimated, threshold = EXCLUDED.threshold,
                started_at = EXCLUDED.started_at, finished_at = NULL""",
        (name, revision, status, estimate_path, run_path, estimated, threshold, status),
    )


def mark_running(conn: psycopg.Connection, name: str) -> None:
    conn.execute(
        f"UPDATE {TABLE} SET status = 'running', started_at = now(), finished_at = NULL WHERE name = %s",
        (name,),
    )


def mark_finished(conn: psycopg.Connection, name: str, *, ok: bool, rows_done: int, summary: str) -> None:
    conn.execute(
        f"""UPDATE {TABLE} SET status = %s, rows_done = %s, summary = %s, finished_at = now()
            WHERE name = %s""",
        ("done" if ok else "failed", rows_done, summary, name),
    )


def forget(conn: psycopg.Connection, name: str) -> None:
    conn.execute(f"DELETE FROM {TABLE} WHERE name = %s", (name,))


def load(conn: psycopg.Connection, *, open_only: bool = False) -> list[PendingMigration]:
    """Recorded data migrations, oldest first (only pending/running/failed with `open_only`)."""
    if not table_exists(conn):
        return []
    where = "WHERE status = ANY(%s)" if open_only else ""
    params: tuple[Any, ...] = (list(OPEN_STATUSES),) if open_only else ()
    rows = conn.execute(f"SELECT {_COLUMNS} FROM {TABLE} {where} ORDER BY recorded_at, name", params)
    return [PendingMigration(*row) for row in rows.fetchall()]
