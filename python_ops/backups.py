"""Own verified table backups registered in `migration_backups` (seed 002) and the backup manager verbs.

`create_backup` copies a table (or the rows a WHERE selects) into `<source>_backup_YYYYMMDD_HHMMSS`
beside it, verifies the copy by count + checksum + spot checks against the source in the same snapshot,
and registers it; a copy that does not verify is rolled back and never registered. The manager verbs
(`list_backups`, `backup_status`, `verify_backup`, `extend_backup`, `cleanup_backups`) work on the
registry; cleanup drops only backups that are both expired and verified, and keeps their registry rows.
`register_kept_table` / `seal_kept_table` / `release_kept_table` register a table an operation keeps in
place instead of copying it (a repartitioned table's retired original), with the same registry and cleanup.

The manager verbs take `Engines` first and open their own connection. `create_backup` is the building
block operations call inside their own run: it takes the operation's connection (and runs in a savepoint
when that connection is inside a transaction), never opening or committing anything of its own beyond it.
`cleanup_backups` is irreversible: it holds the ("backups cleanup", "migration_backups") operation lock,
and the CLI asks for `--yes`. Registry updates of `verify` and `extend` never touch a backup that
cleanup already marked dropped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from python_ops import pgcatalog as catalog
from python_ops.errors import PreconditionError, VerificationError
from python_ops.locks import operation_lock
from python_ops.runner import Check, Plan, Report, Step

if TYPE_CHECKING:
    from python_ops.engines.context import Engines

SPOT_CHECKS = 5


@dataclass
class BackupRecord:
    """One row of `migration_backups`."""

    backup_table: str
    source_table: str
    row_count: int
    checksum: str
    backup_schema: str = "public"
    migration_revision: str | None = None
    checksum_columns: list[str] = field(default_factory=list)
    size_bytes: int | None = None
    status: str = "created"
    created_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    verified_at: dt.datetime | None = None
    dropped_at: dt.datetime | None = None
    note: str | None = None
    id: int | None = None

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.backup_schema, self.backup_table)

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at < dt.datetime.now(dt.UTC)

    def as_row(self) -> list[Any]:
        return [
            self.backup_table,
            self.source_table,
            self.migration_revision,
            self.row_count,
            self.status,
            _fmt(self.created_at),
            _fmt(self.expires_at),
            _fmt(self.verified_at),
        ]


ROW_COLUMNS = ["backup", "source", "revision", "rows", "status", "created", "expires", "verified"]
_FIELDS = (
    "id, backup_table, backup_schema, source_table, migration_revision, row_count, checksum, "
    "checksum_columns, size_bytes, status, created_at, expires_at, verified_at, dropped_at, note"
)


def _fmt(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def backup_name(conn: psycopg.Connection, ref: catalog.TableRef, now: dt.datetime | None = None) -> str:
    """`<table>_backup_YYYYMMDD_HHMMSS`, unique in the schema (a `_2`… suffix within the same second)."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d_%H%M%S")
    suffix = f"_backup_{stamp}"
    base = ref.name[: 63 - len(suffix) - 3] + suffix
    name, n = base, 1
    while catalog.exists(conn, ref.schema, name):
        n += 1
        name = f"{base}_{n}"
    return name


def create_backup(
    conn: psycopg.Connection,
    source_table: str,
    *,
    revision: str,
    where: sql.Composable | None = None,
    params: Sequence[Any] = (),
    retention_days: int = 7,
    note: str | None = None,
) -> BackupRecord:
    """Copy `source_table` (rows matching `where`) to a timestamped backup, verify it and register it.

    Runs in one transaction: when this call opens it (autocommit or idle connection) it is REPEATABLE
    READ, so the source checksum sees exactly the rows copied even under concurrent writes. Inside a
    caller's transaction it runs in a savepoint of that transaction. Raises `VerificationError` (and
    leaves nothing behind) when the copy does not match.
    """
    ref = catalog.resolve(conn, source_table)
    opened_here = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with conn.transaction():
        if opened_here:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cols = catalog.columns(conn, ref)
        name = backup_name(conn, ref)
        target = ref.sibling(name)
        col_list = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
        conn.execute(
            sql.SQL("CREATE TABLE {b} AS SELECT {c} FROM {s}{w}").format(
                b=target,
                c=col_list,
                s=ref.ident,
                w=sql.SQL(" WHERE ") + where if where is not None else sql.SQL(""),
            ),
            tuple(params) if params else None,
        )
        src_count, src_sum = catalog.fingerprint(conn, ref.ident, cols, where, params)
        bak_count, bak_sum = catalog.fingerprint(conn, target, cols)
        spots = spot_check(conn, ref, target, cols)
        if (src_count, src_sum) != (bak_count, bak_sum) or not spots.ok:
            raise VerificationError(
                f"backup {name} of {ref.qualified} does not match its source "
                f"(rows {bak_count}/{src_count}, checksum {'equal' if src_sum == bak_sum else 'differs'}, "
                f"{spots.detail})",
                hint="nothing was kept; check for concurrent DDL on the table and retry",
            )
        row = (
            conn.cursor(row_factory=dict_row)
            .execute(
                sql.SQL(
                    """INSERT INTO migration_backups
                   (backup_table, backup_schema, source_table, migration_revision, row_count, checksum,
                    checksum_columns, size_bytes, status, created_at, expires_at, verified_at, note)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, pg_total_relation_size(%s::regclass), 'verified',
                           now(), now() + make_interval(days => %s), clock_timestamp(), %s)
                   RETURNING {}"""
                ).format(sql.SQL(_FIELDS)),
                (
                    name,
                    ref.schema,
                    ref.qualified,
                    revision,
                    bak_count,
                    bak_sum,
                    cols,
                    f'"{ref.schema}"."{name}"',
                    retention_days,
                    note,
                ),
            )
            .fetchone()
        )
    assert row is not None
    return BackupRecord(**row)


def register_kept_table(
    conn: psycopg.Connection,
    table: catalog.TableRef | tuple[str, str],
    *,
    source_table: str,
    revision: str,
    checksum_columns: Sequence[str],
    retention_days: int,
    note: str,
    fingerprint: tuple[int, str] | None = None,
) -> None:
    """Register a table an operation keeps in place as its backup (no copy), inside the caller's transaction.

    Used for the retired original of a repartitioned table: it is the original's own heap, which the run
    only read, so there is nothing to copy. With `fingerprint` (rows, checksum over `checksum_columns`)
    already verified by the operation it is registered 'verified' at once; without, it is 'created' and
    `seal_kept_table` fingerprints it later (cleanup never drops an unsealed one).
    """
    schema, name = (table.schema, table.name) if isinstance(table, catalog.TableRef) else table
    rows, checksum = fingerprint if fingerprint is not None else (0, "")
    conn.execute(
        """INSERT INTO migration_backups
               (backup_table, backup_schema, source_table, migration_revision, row_count, checksum,
                checksum_columns, size_bytes, status, created_at, expires_at, verified_at, note)
           VALUES (%s, %s, %s, %s, %s, %s, %s, pg_total_relation_size(%s::regclass), %s, now(),
                   now() + make_interval(days => %s), CASE WHEN %s THEN clock_timestamp() END, %s)""",
        (
            name,
            schema,
            source_table,
            revision,
            rows,
            checksum,
            list(checksum_columns),
            f'"{schema}"."{name}"',
            "verified" if fingerprint is not None else "created",
            retention_days,
            fingerprint is not None,
            note,
        ),
    )


def seal_kept_table(conn: psycopg.Connection, schema: str, table: str) -> BackupRecord:
    """Fingerprint a kept table registered 'created' (count + checksum in one snapshot), mark it verified."""
    record = _get(conn, f"{schema}.{table}")
    if record.status != "created":
        return record
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        rows, checksum = catalog.fingerprint(conn, record.ident, record.checksum_columns)
        conn.execute(
            """UPDATE migration_backups SET row_count = %s, checksum = %s, status = 'verified',
                   verified_at = clock_timestamp() WHERE id = %s AND status = 'created'""",
            (rows, checksum, record.id),
        )
    return _get(conn, f"{schema}.{table}")


def release_kept_table(conn: psycopg.Connection, schema: str, table: str, why: str) -> None:
    """Mark a kept table's registry row 'dropped' when the operation's inverse took it back into use."""
    conn.execute(
        """UPDATE migration_backups SET status = 'dropped', dropped_at = now(),
               note = coalesce(note || '; ', '') || %s
            WHERE backup_schema = %s AND backup_table = %s AND status <> 'dropped'""",
        (why, schema, table),
    )


def spot_check(
    conn: psycopg.Connection,
    source: catalog.TableRef,
    backup: sql.Composable,
    cols: Sequence[str],
    samples: int = SPOT_CHECKS,
) -> Check:
    """Look up a few random backup rows in the source by primary key and compare their values."""
    pk = catalog.primary_key(conn, source)
    if not pk:
        return Check("spot_checks", True, samples, 0, "no primary key: covered by the checksum only")
    pk_list = sql.SQL(", ").join(sql.Identifier(c) for c in pk)
    # TABLESAMPLE keeps this cheap on big tables; small tables are read whole.
    rows = conn.execute(
        sql.SQL("SELECT {h}, {pk} FROM {b} TABLESAMPLE SYSTEM (%s) ORDER BY random() LIMIT %s").format(
            h=catalog.row_hash(cols), pk=pk_list, b=backup
        ),
        (_sample_percent(conn, backup), samples),
    ).fetchall()
    cond = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in pk)
    bad = 0
    for row in rows:
        found = conn.execute(
            sql.SQL("SELECT {h} FROM {s} WHERE {c}").format(h=catalog.row_hash(cols), s=source.ident, c=cond),
            tuple(row[1:]),
        ).fetchone()
        if found is None or found[0] != row[0]:
            bad += 1
    return Check(
        "spot_checks", bad == 0, len(rows), len(rows) - bad, f"{len(rows) - bad}/{len(rows)} spot checks"
    )


def _sample_percent(conn: psycopg.Connection, table: sql.Composable) -> float:
    row = conn.execute(
        sql.SQL("SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = %s::regclass"),
        (table.as_string(conn),),
    ).fetchone()
    estimate = float(row[0]) if row else 0.0
    return 100.0 if estimate < 5_000 else max(0.1, min(100.0, 500_000 / estimate))


def get_backup(engines: Engines, backup_table: str) -> BackupRecord:
    """The registry row of `backup_table` (`name` or `schema.name`), or a `PreconditionError`."""
    with engines.connect(autocommit=True) as conn:
        return _get(conn, backup_table)


def _get(conn: psycopg.Connection, backup_table: str) -> BackupRecord:
    schema, name = catalog.split_name(backup_table)
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(
            sql.SQL("SELECT {} FROM migration_backups WHERE backup_schema = %s AND backup_table = %s").format(
                sql.SQL(_FIELDS)
            ),
            (schema, name),
        )
        .fetchone()
    )
    if row is None:
        raise PreconditionError(
            f"backup {backup_table} is not registered in migration_backups",
            hint="list the backups with `migrata backups list`",
        )
    return BackupRecord(**row)


def list_backups(
    engines: Engines, *, source_table: str | None = None, include_dropped: bool = False
) -> list[BackupRecord]:
    """Registered backups, newest first."""
    with engines.connect(autocommit=True) as conn:
        return _list(conn, source_table=source_table, include_dropped=include_dropped)


def _list(
    conn: psycopg.Connection, *, source_table: str | None = None, include_dropped: bool = False
) -> list[BackupRecord]:
    query = sql.SQL("SELECT {} FROM migration_backups WHERE (%s OR status <> 'dropped')").format(
        sql.SQL(_FIELDS)
    )
    args: list[Any] = [include_dropped]
    if source_table is not None:
        schema, name = catalog.split_name(source_table)
        query += sql.SQL(" AND source_table = %s")
        args.append(f"{schema}.{name}")
    query += sql.SQL(" ORDER BY created_at DESC, id DESC")
    rows = conn.cursor(row_factory=dict_row).execute(query, args).fetchall()
    return [BackupRecord(**r) for r in rows]


def backup_status(engines: Engines) -> dict[str, Any]:
    """Counts of the registry: kept, verified, expired, expiring within a day, dropped, bytes held."""
    with engines.connect(autocommit=True) as conn:
        row = conn.execute(
            """SELECT count(*) FILTER (WHERE status <> 'dropped'),
                      count(*) FILTER (WHERE status = 'verified'),
                      count(*) FILTER (WHERE status <> 'dropped' AND expires_at < now()),
                      count(*) FILTER (WHERE status <> 'dropped' AND expires_at >= now()
                                       AND expires_at < now() + interval '1 day'),
                      count(*) FILTER (WHERE status = 'dropped'),
                      coalesce(sum(size_bytes) FILTER (WHERE status <> 'dropped'), 0),
                      count(*) FILTER (WHERE status = 'failed')
                 FROM migration_backups"""
        ).fetchone()
    assert row is not None
    return {
        "kept": row[0],
        "verified": row[1],
        "expired": row[2],
        "expiring_within_1d": row[3],
        "dropped": row[4],
        "bytes_kept": int(row[5]),
        "failed": row[6],
    }


def verify_backup(engines: Engines, backup_table: str) -> Report:
    """Recount and re-checksum a backup against what was recorded; mark it verified or failed."""
    started = time.monotonic()
    with engines.connect(autocommit=True) as conn:
        record = _get(conn, backup_table)
        name = record.backup_table
        plan = Plan(f"backups verify {name}", f"verify {name}", record.row_count)
        if record.status == "dropped":
            raise PreconditionError(
                f"backup {record.backup_table} was dropped on {_fmt(record.dropped_at)}",
                hint="only kept backups can be verified; see `migrata backups list`",
            )
        if not catalog.exists(conn, record.backup_schema, record.backup_table):
            checks = [Check("table_exists", False, True, False, "the backup table is missing")]
        else:
            count, checksum = catalog.fingerprint(conn, record.ident, record.checksum_columns)
            checks = [
                Check("row_count", count == record.row_count, record.row_count, count),
                Check("checksum", checksum == record.checksum, record.checksum, checksum),
            ]
        ok = all(c.ok for c in checks)
        with conn.transaction():
            # a cleanup that dropped it meanwhile keeps its 'dropped': never turned into 'failed'
            conn.execute(
                """UPDATE migration_backups SET status = %s,
                       verified_at = CASE WHEN %s THEN now() ELSE verified_at END
                    WHERE id = %s AND status <> 'dropped'""",
                ("verified" if ok else "failed", ok, record.id),
            )
    return Report(
        plan.operation,
        "ok" if ok else "failed",
        plan,
        units_done=record.row_count,
        checks=checks,
        elapsed_s=time.monotonic() - started,
    )


def extend_backup(engines: Engines, backup_table: str, days: int) -> BackupRecord:
    """Push a backup's expiry `days` further (from its current expiry, or from now if already past)."""
    if days < 1:
        raise PreconditionError(f"--days must be at least 1, got {days}", hint="pass --days 7 for a week")
    with engines.connect(autocommit=True) as conn:
        record = _get(conn, backup_table)
        with conn.transaction():
            updated = conn.execute(
                """UPDATE migration_backups
                      SET expires_at = greatest(expires_at, now()) + make_interval(days => %s)
                    WHERE id = %s AND status <> 'dropped'""",
                (days, record.id),
            ).rowcount
        if not updated:
            raise PreconditionError(
                f"backup {record.backup_table} was already dropped",
                hint="a dropped backup cannot be extended",
            )
        return _get(conn, f"{record.backup_schema}.{record.backup_table}")


CLEANUP_LOCK = ("backups cleanup", "migration_backups")


def cleanup_backups(engines: Engines, *, dry_run: bool = False, wait: bool = False) -> Report:
    """Drop backups that are expired AND verified; keep the rest (and every registry row).

    Irreversible. Holds the ("backups cleanup", "migration_backups") lock: a second cleanup fails at
    once (or waits with `wait=True`).
    """
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if not dry_run:
            stack.enter_context(operation_lock(engines, *CLEANUP_LOCK, wait=wait))
        conn = stack.enter_context(engines.connect(autocommit=True))
        expired = [b for b in _list(conn) if b.expired]
        droppable = [b for b in expired if b.verified_at is not None and b.status == "verified"]
        kept = [b for b in expired if b not in droppable]
        steps = [
            Step(f"drop expired verified backup {b.backup_table} ({b.row_count} rows)", _drop_sql(conn, b))
            for b in droppable
        ]
        plan = Plan(
            "backups cleanup",
            f"{len(droppable)} expired verified backups to drop, {len(kept)} expired but unverified kept",
            len(droppable),
            unit="backups",
            steps=steps,
            details={
                "to_drop": [b.backup_table for b in droppable],
                "kept_unverified": [b.backup_table for b in kept],
            },
        )
        details: dict[str, Any] = {"dropped": [], "kept_unverified": [b.backup_table for b in kept]}
        if dry_run or not droppable:
            status = "dry-run" if dry_run else "nothing-to-do"
            return Report(plan.operation, status, plan, details=details, elapsed_s=time.monotonic() - started)
        for b, step in zip(droppable, steps, strict=True):
            with conn.transaction():
                conn.execute(step.sql.encode())  # exactly the statement the plan shows
                conn.execute(
                    "UPDATE migration_backups SET status = 'dropped', dropped_at = now() WHERE id = %s",
                    (b.id,),
                )
            details["dropped"].append(b.backup_table)
        checks = [
            Check(
                f"dropped {b.backup_table}",
                not catalog.exists(conn, b.backup_schema, b.backup_table),
                True,
                True,
            )
            for b in droppable
        ]
    return Report(
        plan.operation,
        "ok" if all(c.ok for c in checks) else "failed",
        plan,
        units_done=len(droppable),
        batches=len(droppable),
        checks=checks,
        details=details,
        elapsed_s=time.monotonic() - started,
    )


def _drop_sql(conn: psycopg.Connection, backup: BackupRecord) -> str:
    return sql.SQL("DROP TABLE IF EXISTS {}").format(backup.ident).as_string(conn)
