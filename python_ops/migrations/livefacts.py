"""Own what `migrate lint --live` asks the repository: sizes, catalog facts, and this server's speed.

Everything here reads; nothing is left in the repository (the speed is measured on a scratch table in
a transaction that is rolled back). Row counts come from the planner's statistics
(`reltuples`, summed over partitions); a table never analyzed is counted, under a short statement
timeout. Rates (scan and write in bytes/s, index builds in rows/s for integer and text keys) are
measured once per server and process on a scratch table of `CALIBRATION_ROWS` rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import psycopg

CALIBRATION_ROWS = 100_000
_EXACT_COUNT_TIMEOUT = "3s"
_VARCHAR, _NUMERIC = 1043, 1700
_RATES: dict[tuple[str, str, str], Rates | None] = {}


@dataclass(frozen=True)
class TableSize:
    """A live table: its name as Postgres prints it, rows, and bytes (heap, and with indexes/TOAST)."""

    name: str
    rows: int | None  # None: never analyzed and too slow to count
    rows_exact: bool
    heap_bytes: int
    total_bytes: int
    partitions: int = 0
    indexes: int = 0  # a rewrite rebuilds each of them
    text_indexes: int = 0  # of which with a collatable (text) key: slower to sort

    def describe(self) -> str:
        rows = "? rows" if self.rows is None else f"{self.rows:,} rows" + ("" if self.rows_exact else " est.")
        parts = f", {self.partitions} partitions" if self.partitions else ""
        return f"{rows}, {human_bytes(self.total_bytes)}{parts}"


@dataclass(frozen=True)
class Rates:
    """This server's speed, measured on a scratch table: bytes/s scanned and written, rows/s indexed."""

    scan: float  # heap bytes per second, sequential scan
    write: float  # heap bytes per second, writing a new copy of a table
    index_int: float  # rows per second, building a btree on an integer key
    index_text: float  # rows per second, on a text key (collation-aware comparisons)
    sample_rows: int

    def seconds(
        self, work: Literal["scan", "rewrite", "index"], size: TableSize, *, text_key: bool = False
    ) -> float:
        rows = size.rows if size.rows is not None else size.heap_bytes // 100
        if work == "scan":
            return size.heap_bytes / self.scan
        if work == "index":
            return rows / (self.index_text if text_key else self.index_int)
        # a rewrite writes a new heap, then rebuilds every index of the table
        plain = size.indexes - size.text_indexes
        return size.heap_bytes / self.write + rows * (
            plain / self.index_int + size.text_indexes / self.index_text
        )

    def as_dict(self) -> dict[str, float]:
        mb = 1024 * 1024
        return {
            "scan_mb_s": round(self.scan / mb, 1),
            "write_mb_s": round(self.write / mb, 1),
            "index_int_krows_s": round(self.index_int / 1000, 1),
            "index_text_krows_s": round(self.index_text / 1000, 1),
            "sample_rows": self.sample_rows,
        }


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


class LiveFacts:
    """Facts of one repository, cached for the lint run. `conn` is autocommit and left idle."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self._tables: dict[str, TableSize | None] = {}

    @property
    def server_version(self) -> str:
        version = self.conn.info.server_version  # e.g. 180006 for 18.6
        return f"{version // 10000}.{version % 10000}"

    def table(self, name: str) -> TableSize | None:
        """The table's size, or None when it does not exist (yet)."""
        if name not in self._tables:
            self._tables[name] = self._size(name)
        return self._tables[name]

    def _size(self, name: str) -> TableSize | None:
        row = self.conn.execute(
            """SELECT c.oid::regclass::text, c.relkind,
                      sum(greatest(p.reltuples, 0))::bigint, bool_and(p.reltuples >= 0),
                      sum(pg_relation_size(p.oid))::bigint, sum(pg_total_relation_size(p.oid))::bigint,
                      count(*) FILTER (WHERE c.relkind = 'p')
                 FROM pg_class c
                 CROSS JOIN LATERAL (SELECT relid FROM pg_partition_tree(c.oid) WHERE isleaf
                                     UNION SELECT c.oid WHERE c.relkind <> 'p') t
                 JOIN pg_class p ON p.oid = t.relid
                WHERE c.oid = to_regclass(%s) AND c.relkind IN ('r', 'p', 'm')
                GROUP BY c.oid, c.relkind""",
            (name,),
        ).fetchone()
        if row is None:
            return None
        regname, _kind, rows, analyzed, heap, total, parts = row
        exact = False
        if not analyzed:  # never vacuumed/analyzed (a fresh table): count it, briefly
            try:
                with self.conn.transaction():
                    self.conn.execute(f"SET LOCAL statement_timeout = '{_EXACT_COUNT_TIMEOUT}'")
                    counted = self.conn.execute(f"SELECT count(*) FROM {regname}").fetchone()
                rows, exact = int(counted[0]) if counted else None, True
            except psycopg.errors.QueryCanceled:
                rows = None
        indexes = self.conn.execute(
            """SELECT count(*), count(*) FILTER (WHERE EXISTS (
                          SELECT 1 FROM unnest(i.indcollation) c WHERE c <> 0))
                 FROM pg_index i WHERE i.indrelid = %s::regclass""",
            (regname,),
        ).fetchone()
        n_indexes, n_text = (int(indexes[0]), int(indexes[1])) if indexes else (0, 0)
        return TableSize(
            regname, rows, exact, int(heap or 0), int(total or 0), int(parts or 0), n_indexes, n_text
        )

    def text_key(self, table: str, keys: tuple[str, ...]) -> bool:
        """Whether an index on `keys` of `table` sorts text (an expression counts as text)."""
        if not keys or "" in keys:
            return True
        row = self.conn.execute(
            """SELECT bool_or(t.typcollation <> 0) FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                WHERE a.attrelid = to_regclass(%s) AND a.attname = ANY(%s)""",
            (table, list(keys)),
        ).fetchone()
        return bool(row and row[0])

    def index_table(self, index: str) -> str | None:
        row = self.conn.execute(
            "SELECT indrelid::regclass::text FROM pg_index WHERE indexrelid = to_regclass(%s)", (index,)
        ).fetchone()
        return row[0] if row else None

    def volatile(self, function: str) -> bool | None:
        """Whether a function of that name is volatile (any overload); None if there is none."""
        row = self.conn.execute(
            "SELECT bool_or(provolatile = 'v') FROM pg_proc WHERE proname = %s", (function,)
        ).fetchone()
        return row[0] if row else None

    def column(self, table: str, column: str) -> tuple[int, int, bool] | None:
        """(type oid, typmod, NOT NULL) of a live column, or None."""
        row = self.conn.execute(
            """SELECT atttypid::int, atttypmod, attnotnull FROM pg_attribute
                WHERE attrelid = to_regclass(%s) AND attname = %s AND attnum > 0 AND NOT attisdropped""",
            (table, column),
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def type_change_rewrites(self, table: str, column: str, new_type: str, using: bool) -> bool | None:
        """Whether ALTER COLUMN … TYPE `new_type` rewrites the table (None: the column is not there)."""
        old = self.column(table, column)
        if old is None:
            return None
        if using:
            return True
        try:
            with self.conn.transaction():
                row = self.conn.execute(
                    "SELECT to_regtype(%s)::oid::int, to_regtypemod(%s)", (new_type, new_type)
                ).fetchone()
        except psycopg.Error:  # before Postgres 17 (no to_regtypemod), or an unknown type: assume it does
            return True
        if not row or row[0] is None:
            return True
        (old_oid, old_mod, _), (new_oid, new_mod) = old, row
        if new_oid == old_oid:
            if new_mod in (-1, old_mod):
                return False
            if new_oid == _VARCHAR:
                return old_mod != -1 and new_mod < old_mod  # widening a varchar keeps the data as is
            if new_oid == _NUMERIC and old_mod != -1:  # more precision, same scale: no rewrite
                return not ((new_mod - 4) & 0xFFFF == (old_mod - 4) & 0xFFFF and new_mod >= old_mod)
            return True
        cast = self.conn.execute(
            "SELECT castmethod FROM pg_cast WHERE castsource = %s AND casttarget = %s", (old_oid, new_oid)
        ).fetchone()
        return not (cast and cast[0] == "b" and new_mod == -1)  # e.g. varchar(n) → text

    def not_null_proven(self, table: str, column: str) -> bool:
        """The column is NOT NULL already, or a validated CHECK (column IS NOT NULL) proves it."""
        col = self.column(table, column)
        if col is None:
            return False
        if col[2]:
            return True
        row = self.conn.execute(
            """SELECT count(*) FROM pg_constraint
                WHERE conrelid = to_regclass(%s) AND contype = 'c' AND convalidated
                  AND pg_get_constraintdef(oid) ~* %s""",
            (table, rf"^CHECK \(\(?{column} IS NOT NULL\)?\)$"),
        ).fetchone()
        return bool(row and row[0])

    def column_users(self, table: str, column: str) -> list[str]:
        """Views, indexes and constraints that use the column (what a rename or drop breaks at once)."""
        rows = self.conn.execute(
            """WITH col AS (SELECT attrelid, attnum FROM pg_attribute
                             WHERE attrelid = to_regclass(%s) AND attname = %s AND NOT attisdropped)
               SELECT DISTINCT 'view ' || r.ev_class::regclass::text FROM pg_depend d
                 JOIN pg_rewrite r ON r.oid = d.objid JOIN col ON d.refobjid = col.attrelid
                  AND d.refobjsubid = col.attnum
                WHERE d.classid = 'pg_rewrite'::regclass AND r.ev_class <> col.attrelid
               UNION
               SELECT DISTINCT 'index ' || i.indexrelid::regclass::text FROM pg_index i JOIN col
                   ON i.indrelid = col.attrelid AND col.attnum = ANY (i.indkey)
               ORDER BY 1""",
            (table, column),
        ).fetchall()
        return [r[0] for r in rows]

    @property
    def measured(self) -> bool:
        """Whether this server's rates were measured (only when a statement has work on a live table)."""
        info = self.conn.info
        return (info.host, str(info.port), info.dbname) in _RATES

    def rates(self) -> Rates | None:
        """This server's scan, write and index-build rates (measured once per server and process).

        None where no scratch table can be created (then lint gives no time estimates)."""
        info = self.conn.info
        key = (info.host, str(info.port), info.dbname)
        if key not in _RATES:
            _RATES[key] = self._measure()
        return _RATES[key]

    def _measure(self) -> Rates | None:
        """Write, scan and index a scratch table (rolled back): a real table where the role may create
        one, as a rewrite would write it (WAL included); a temporary one otherwise."""
        conn = self.conn
        for kind in ("", "TEMP "):
            try:
                with conn.transaction(force_rollback=True):
                    return self._measure_in(kind)
            except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction):
                continue  # no CREATE on the schema, or a read-only server (a standby): no estimates
        return None

    def _measure_in(self, kind: str) -> Rates:
        conn, n = self.conn, CALIBRATION_ROWS
        table = "migrata_lint_calibration"
        started = time.perf_counter()
        conn.execute(
            f"CREATE {kind}TABLE {table} AS SELECT g AS id, (g * 7919) %% %s AS v, md5(g::text) AS t"
            " FROM generate_series(1, %s) g",
            (n, n),
        )
        wrote = time.perf_counter()
        size_row = conn.execute(f"SELECT pg_relation_size('{table}')").fetchone()
        size = int(size_row[0]) if size_row else 1
        conn.execute(f"SELECT count(*) FROM {table} WHERE v >= 0").fetchone()
        scanned = time.perf_counter()
        conn.execute(f"CREATE INDEX ON {table} (v)")
        indexed_int = time.perf_counter()
        conn.execute(f"CREATE INDEX ON {table} (t)")
        indexed_text = time.perf_counter()
        return Rates(
            scan=size / max(scanned - wrote, 1e-6),
            write=size / max(wrote - started, 1e-6),
            index_int=n / max(indexed_int - scanned, 1e-6),
            index_text=n / max(indexed_text - indexed_int, 1e-6),
            sample_rows=n,
        )
