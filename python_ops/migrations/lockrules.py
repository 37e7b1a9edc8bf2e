"""Own the rules `migrate lint` judges by: Postgres' lock level per DDL, and migrata's lint rules.

`DDL` is Postgres' documented table lock of each statement kind (the ALTER TABLE, CREATE INDEX and
explicit-locking pages of the manual) and the work it does while holding it: nothing (a catalog
change), a scan of the table, a rewrite of it, or an index build. `RULES` are the hazards lint reports,
with the fix and the squawk rules that report the same thing. The analyzer, the verdicts, the generated
docs (`docs/migrations.md`) and the tests read these tables; nothing else restates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

PG_DOCS = "https://www.postgresql.org/docs/current"
SQUAWK_DOCS = "https://squawkhq.com/docs"


class Lock(IntEnum):
    """Postgres' table-level lock modes, weakest first (each conflicts with more than the one before)."""

    ACCESS_SHARE = 1
    ROW_SHARE = 2
    ROW_EXCLUSIVE = 3
    SHARE_UPDATE_EXCLUSIVE = 4
    SHARE = 5
    SHARE_ROW_EXCLUSIVE = 6
    EXCLUSIVE = 7
    ACCESS_EXCLUSIVE = 8

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")

    @property
    def blocks_writes(self) -> bool:
        """SHARE and stronger conflict with ROW EXCLUSIVE: INSERT/UPDATE/DELETE wait."""
        return self >= Lock.SHARE

    @property
    def blocks_reads(self) -> bool:
        """Only ACCESS EXCLUSIVE conflicts with ACCESS SHARE: even SELECT waits."""
        return self is Lock.ACCESS_EXCLUSIVE

    @property
    def blocks(self) -> str:
        return "reads and writes" if self.blocks_reads else "writes" if self.blocks_writes else "neither"


Work = Literal["none", "scan", "rewrite", "index"]


@dataclass(frozen=True)
class DdlLock:
    """The lock a statement kind takes on its table and the work done while the lock is held."""

    lock: Lock
    work: Work
    doc: str


_ALTER = f"{PG_DOCS}/sql-altertable.html"
DDL: dict[str, DdlLock] = {
    "CREATE INDEX": DdlLock(Lock.SHARE, "index", f"{PG_DOCS}/sql-createindex.html"),
    "CREATE INDEX CONCURRENTLY": DdlLock(
        Lock.SHARE_UPDATE_EXCLUSIVE, "none", f"{PG_DOCS}/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY"
    ),
    "DROP INDEX": DdlLock(Lock.ACCESS_EXCLUSIVE, "none", f"{PG_DOCS}/sql-dropindex.html"),
    "DROP INDEX CONCURRENTLY": DdlLock(Lock.SHARE_UPDATE_EXCLUSIVE, "none", f"{PG_DOCS}/sql-dropindex.html"),
    "REINDEX": DdlLock(Lock.SHARE, "index", f"{PG_DOCS}/sql-reindex.html"),
    "REINDEX CONCURRENTLY": DdlLock(Lock.SHARE_UPDATE_EXCLUSIVE, "none", f"{PG_DOCS}/sql-reindex.html"),
    "ADD COLUMN": DdlLock(Lock.ACCESS_EXCLUSIVE, "none", _ALTER),
    "ADD COLUMN (volatile default)": DdlLock(Lock.ACCESS_EXCLUSIVE, "rewrite", _ALTER),
    "ADD COLUMN (NOT NULL, no default)": DdlLock(Lock.ACCESS_EXCLUSIVE, "scan", _ALTER),
    "ADD COLUMN (stored generated, identity or serial)": DdlLock(Lock.ACCESS_EXCLUSIVE, "rewrite", _ALTER),
    "ALTER COLUMN TYPE": DdlLock(Lock.ACCESS_EXCLUSIVE, "rewrite", _ALTER),
    "ALTER COLUMN TYPE (binary coercible)": DdlLock(Lock.ACCESS_EXCLUSIVE, "none", _ALTER),
    "SET NOT NULL": DdlLock(Lock.ACCESS_EXCLUSIVE, "scan", _ALTER),
    "SET NOT NULL (proven by a valid CHECK)": DdlLock(Lock.ACCESS_EXCLUSIVE, "none", _ALTER),
    "DROP NOT NULL": DdlLock(Lock.ACCESS_EXCLUSIVE, "none", _ALTER),
    "SET/DROP DEFAULT": DdlLock(Lock.ACCESS_EXCLUSIVE, "none", _ALTER),
    "DROP COLUMN": DdlLock(Lock.ACCESS_EXCLUSIVE, "none", _ALTER),
    "ADD CHECK": DdlLock(Lock.ACCESS_EXCLUSIVE, "scan", _ALTER),
    "ADD CHECK NOT VALID": DdlLock(Lock.ACCESS_EXCLUSIVE, "none", _ALTER),
    "ADD FOREIGN KEY": DdlLock(Lock.SHARE_ROW_EXCLUSIVE, "scan", _ALTER),
    "ADD FOREIGN KEY NOT VALID": DdlLock(Lock.SHARE_ROW_EXCLUSIVE, "none", _ALTER),
    "ADD PRIMARY KEY/UNIQUE": DdlLock(Lock.ACCESS_EXCLUSIVE, "index", _ALTER),
    "ADD PRIMARY KEY/UNIQUE USING INDEX": DdlLock(Lock.ACCESS_EXCLUSIVE, "none", _ALTER),
    "VALIDATE CONSTRAINT": DdlLock(Lock.SHARE_UPDATE_EXCLUSIVE, "scan", _ALTER),
    "DROP CONSTRAINT": DdlLock(Lock.ACCESS_EXCLUSIVE, "none", _ALTER),
    "SET STATISTICS/storage parameters": DdlLock(Lock.SHARE_UPDATE_EXCLUSIVE, "none", _ALTER),
    "ATTACH PARTITION (parent)": DdlLock(Lock.SHARE_UPDATE_EXCLUSIVE, "none", _ALTER),
    "ATTACH PARTITION (partition)": DdlLock(Lock.ACCESS_EXCLUSIVE, "scan", _ALTER),
    "DETACH PARTITION": DdlLock(Lock.ACCESS_EXCLUSIVE, "none", _ALTER),
    "DETACH PARTITION CONCURRENTLY": DdlLock(Lock.SHARE_UPDATE_EXCLUSIVE, "none", _ALTER),
    "SET TABLESPACE/LOGGED/UNLOGGED": DdlLock(Lock.ACCESS_EXCLUSIVE, "rewrite", _ALTER),
    "other ALTER TABLE": DdlLock(Lock.ACCESS_EXCLUSIVE, "none", _ALTER),
    "RENAME": DdlLock(Lock.ACCESS_EXCLUSIVE, "none", _ALTER),
    "DROP TABLE": DdlLock(Lock.ACCESS_EXCLUSIVE, "none", f"{PG_DOCS}/sql-droptable.html"),
    "TRUNCATE": DdlLock(Lock.ACCESS_EXCLUSIVE, "none", f"{PG_DOCS}/sql-truncate.html"),
    "CREATE TRIGGER": DdlLock(Lock.SHARE_ROW_EXCLUSIVE, "none", f"{PG_DOCS}/sql-createtrigger.html"),
    "CREATE TABLE … REFERENCES (referenced table)": DdlLock(
        Lock.SHARE_ROW_EXCLUSIVE, "none", f"{PG_DOCS}/sql-createtable.html"
    ),
    "CREATE TABLE … PARTITION OF (parent)": DdlLock(
        Lock.ACCESS_EXCLUSIVE, "none", f"{PG_DOCS}/sql-createtable.html"
    ),
    "VACUUM FULL / CLUSTER": DdlLock(Lock.ACCESS_EXCLUSIVE, "rewrite", f"{PG_DOCS}/sql-vacuum.html"),
    "UPDATE/DELETE": DdlLock(Lock.ROW_EXCLUSIVE, "scan", f"{PG_DOCS}/explicit-locking.html"),
    "INSERT": DdlLock(Lock.ROW_EXCLUSIVE, "none", f"{PG_DOCS}/explicit-locking.html"),
    "LOCK TABLE": DdlLock(Lock.ACCESS_EXCLUSIVE, "none", f"{PG_DOCS}/sql-lock.html"),
}

Severity = Literal["fail", "warn", "info"]


@dataclass(frozen=True)
class Rule:
    """A hazard lint reports: what it is, how to fix it, and the squawk rules that flag the same."""

    id: str
    title: str
    fix: str
    squawk: tuple[str, ...] = ()
    # needs the declaration to be wrong: online_safe (locks), forward_compatible (old code), or none
    contradicts: Literal["online_safe", "forward_compatible", "always", "nothing"] = "online_safe"
    size_dependent: bool = True  # harmless on a table below the big-table threshold
    severity: Severity = "fail"


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "index-not-concurrent",
            "builds an index without CONCURRENTLY",
            "ddl.create_index(...) (CREATE INDEX CONCURRENTLY outside the transaction)",
            ("require-concurrent-index-creation",),
        ),
        Rule(
            "concurrently-in-transaction",
            "runs CONCURRENTLY inside a transaction, which Postgres refuses",
            "ddl.create_index(...) / ddl.drop_index(...) (they run in Alembic's autocommit_block)",
            ("ban-concurrent-index-creation-in-transaction",),
            contradicts="always",
            size_dependent=False,
        ),
        Rule(
            "volatile-default-rewrite",
            "adds a column whose default is volatile (or stored generated), rewriting the table",
            "add the column without a default, ddl.execute(SET DEFAULT), backfill with data_migration(...)",
            ("adding-field-with-default", "adding-serial-primary-key-field", "prefer-identity"),
        ),
        Rule(
            "column-type-rewrite",
            "changes a column's type, rewriting the table",
            "add a column of the new type, backfill it (data_migration), switch readers, drop the old one",
            ("changing-column-type",),
        ),
        Rule(
            "table-rewrite",
            "rewrites the table",
            "copy online instead (python_ops.partitions.repartition shows the pattern), or declare downtime",
        ),
        Rule(
            "set-not-null-scan",
            "sets NOT NULL, scanning the table",
            "ddl.set_not_null(table, column) (a CHECK … NOT VALID, VALIDATE, then SET NOT NULL)",
            ("adding-not-nullable-field", "adding-required-field"),
        ),
        Rule(
            "constraint-scan",
            "adds or validates a constraint while holding a lock that blocks writes, scanning the table",
            "ddl.add_check(...) / ddl.add_foreign_key(...) (NOT VALID, then VALIDATE in its own transaction)",
            ("constraint-missing-not-valid", "adding-foreign-key-constraint"),
        ),
        Rule(
            "constraint-index-build",
            "adds a primary key or unique constraint, building its index under ACCESS EXCLUSIVE",
            "ddl.create_index(..., unique=True), then ADD CONSTRAINT … USING INDEX",
            ("adding-primary-key-constraint", "disallowed-unique-constraint"),
        ),
        Rule(
            "missing-lock-timeout",
            "waits for its lock without lock_timeout, so every query behind it queues too",
            "ddl.execute(sql) (lock_timeout per statement, retried), or SET LOCAL lock_timeout first",
            ("require-lock-timeout",),
            size_dependent=False,
        ),
        Rule(
            "breaks-old-code",
            "renames or drops what the running code uses",
            "expand/contract: add the new column (or table), backfill, switch the code, drop the old later",
            ("renaming-column", "renaming-table", "ban-drop-column", "ban-drop-table"),
            contradicts="forward_compatible",
            size_dependent=False,
        ),
        Rule(
            "bulk-dml",
            "updates or deletes rows of an existing table inside the revision's transaction",
            "data_migration(...) (chunked, resumable, throttled by run-pending)",
            severity="warn",
        ),
        Rule(
            "opaque",
            "runs code whose SQL lint cannot see (a DO block, or Python on its own connection)",
            "use op.execute / python_ops.migrations.ddl, or suppress with the reason it is safe",
            contradicts="nothing",
            size_dependent=False,
            severity="warn",
        ),
    )
}


def squawk_link(rule: str) -> str:
    return f"{SQUAWK_DOCS}/{rule}"


def rule_for_squawk(name: str) -> str | None:
    """The migrata rule reporting the same hazard as squawk's `name`, if any."""
    for rule in RULES.values():
        if name in rule.squawk:
            return rule.id
    return None
