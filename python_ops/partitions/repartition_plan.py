"""Own the pre-check and plan of an online LIST repartitioning (seed 002, step 1). Reads only.

`precheck` resolves the table and column, checks every precondition (partition count, not already
partitioned, a primary key, no unique keys or incoming foreign keys that a partitioned table cannot keep,
no views or user triggers that would silently stay on the retired table, enough disk) and returns a
`RepartitionSpec` holding everything later steps need: names, columns, keys, index and constraint
definitions. Any failure is one `PreconditionError`; nothing is changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from python_ops import pgcatalog as catalog
from python_ops.errors import PreconditionError
from python_ops.runner import Plan, Step

KEY_COLUMN = "partition_key"
CAPTURE_TRIGGERS = (
    "migrata_capture_ins",
    "migrata_capture_upd",
    "migrata_capture_del",
    "migrata_block_truncate",
)
INT_TYPES = ("smallint", "integer", "bigint")


def _short(name: str, suffix: str) -> str:
    """`name + suffix` within Postgres's 63-byte identifier limit."""
    return name[: 63 - len(suffix)] + suffix


@dataclass
class RepartitionSpec:
    """What a repartitioning of one table needs, computed by the pre-check."""

    table: catalog.TableRef
    column: str
    partitions: int
    batch_size: int
    columns: list[str]
    copy_columns: list[str]
    has_key_column: bool
    pk: list[str]
    pk_types: list[str]
    pk_name: str
    indexes: list[tuple[str, str]]
    foreign_keys: list[tuple[str, str]]
    check_count: int
    sequences: list[str]
    rows: int
    table_bytes: int
    free_bytes: int | None
    key_column: str = KEY_COLUMN
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def new_name(self) -> str:
        return _short(self.name, "_intermediate")

    @property
    def delta_name(self) -> str:
        return _short(self.name, "_delta")

    @property
    def capture_function(self) -> str:
        return _short(self.name, "_migrata_capture")

    def partition_name(self, k: int) -> str:
        width = len(str(self.partitions - 1))
        return _short(self.name, f"_p{k:0{width}d}")

    @property
    def new_pk_name(self) -> str:
        return _short(self.pk_name, "_rp")

    def new_index_name(self, index: str) -> str:
        return _short(index, "_rp")

    def ident(self, name: str) -> sql.Identifier:
        return self.table.sibling(name)

    def key_of(self, text: sql.Composable) -> sql.Composed:
        """`migrata_partition_key(<text>, N)`: the partition key of a column value given as text."""
        return sql.SQL("migrata_partition_key({}, {})").format(text, sql.Literal(self.partitions))

    @property
    def key_expr(self) -> sql.Composed:
        """`migrata_partition_key(<column>::text, N)` over the source table's row."""
        return self.key_of(sql.SQL("{}::text").format(sql.Identifier(self.column)))

    def as_details(self) -> dict[str, Any]:
        return {
            "table": self.table.qualified,
            "column": self.column,
            "partitions": self.partitions,
            "rows": self.rows,
            "table_bytes": self.table_bytes,
            "free_bytes": self.free_bytes,
            "primary_key": self.pk + ([] if self.key_column in self.pk else [self.key_column]),
            "indexes": [n for n, _ in self.indexes],
            "foreign_keys": [n for n, _ in self.foreign_keys],
            "notes": self.notes,
        }


def _fail(message: str, hint: str) -> PreconditionError:
    return PreconditionError(message, hint=hint)


def precheck(
    conn: psycopg.Connection,
    table: str,
    column: str,
    partitions: int,
    *,
    batch_size: int = 10_000,
    free_bytes: int | None = None,
    resuming: bool = False,
) -> RepartitionSpec:
    """Check every precondition of repartitioning `table` by `column` into `partitions` LIST partitions."""
    if partitions < 2:
        raise _fail(f"a partition count of {partitions} is too small", "pass --list-partitions 2 or more")
    if partitions > 1000:
        raise _fail(f"a partition count of {partitions} is too large", "use at most 1000 partitions")
    if batch_size < 1:
        raise _fail(f"batch size {batch_size} is too small", "pass --batch-size 10000")
    ref = catalog.resolve(conn, table)
    if ref.kind == "p":
        raise _fail(
            f"table {ref.qualified} is already partitioned",
            "repartitioning starts from a plain table; see `migrata partitions status`",
        )
    cols = catalog.columns(conn, ref)
    if column not in cols:
        raise _fail(f"column {column} does not exist in {ref.qualified}", f"pick one of: {', '.join(cols)}")
    if column == KEY_COLUMN:
        raise _fail(
            f"cannot partition {ref.qualified} by its {KEY_COLUMN} column itself",
            "name the column the key is derived from (e.g. --by collection_id)",
        )
    pk = catalog.primary_key(conn, ref)
    if not pk:
        raise _fail(
            f"table {ref.qualified} has no primary key",
            "add one first: copying resumes by primary-key position and changes are replayed by key",
        )
    types = dict(
        conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped",
            (ref.oid,),
        ).fetchall()
    )
    generated = set(cols) - set(catalog.columns(conn, ref, writable_only=True))
    has_key = KEY_COLUMN in cols
    if has_key and (types[KEY_COLUMN] not in INT_TYPES or KEY_COLUMN in generated):
        raise _fail(
            f"column {ref.qualified}.{KEY_COLUMN} exists with type {types[KEY_COLUMN]}",
            f"the LIST key column must be a plain integer; rename or drop {KEY_COLUMN} first",
        )
    cur = conn.cursor(row_factory=dict_row)
    constraints = cur.execute(
        """SELECT conname, contype, pg_get_constraintdef(oid) AS def, conindid FROM pg_constraint
            WHERE conrelid = %s""",
        (ref.oid,),
    ).fetchall()
    pk_row = next(c for c in constraints if c["contype"] == "p")
    unique = [c["conname"] for c in constraints if c["contype"] in ("u", "x")]
    unique += [
        r[0]
        for r in conn.execute(
            """SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                WHERE i.indrelid = %s AND i.indisunique AND NOT i.indisprimary
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)""",
            (ref.oid,),
        ).fetchall()
    ]
    if unique:
        raise _fail(
            f"table {ref.qualified} has unique keys other than its primary key: {', '.join(unique)}",
            f"a partitioned table's unique keys must include the partition key; drop them or add "
            f"{KEY_COLUMN}",
        )
    incoming = conn.execute(
        "SELECT conname, conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' AND confrelid = %s "
        "AND conrelid <> %s",
        (ref.oid, ref.oid),
    ).fetchall()
    if incoming:
        names = ", ".join(f"{c} on {t}" for c, t in incoming)
        raise _fail(
            f"table {ref.qualified} is referenced by foreign keys ({names})",
            "a partitioned table can only be referenced through keys that include the partition key; "
            "drop those foreign keys first and recreate them on (id, partition_key) if needed",
        )
    views = conn.execute(
        """SELECT DISTINCT v.oid::regclass::text FROM pg_depend d
             JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
            WHERE d.refobjid = %s AND v.oid <> %s""",
        (ref.oid, ref.oid),
    ).fetchall()
    if views:
        raise _fail(
            f"views depend on {ref.qualified}: {', '.join(v[0] for v in views)}",
            "views bind to the table itself and would stay on the retired copy; drop them and recreate after",
        )
    triggers = conn.execute(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = %s AND NOT tgisinternal AND NOT (tgname = ANY(%s))",
        (ref.oid, list(CAPTURE_TRIGGERS)),
    ).fetchall()
    if triggers:
        raise _fail(
            f"table {ref.qualified} has triggers ({', '.join(t[0] for t in triggers)})",
            "drop them before repartitioning and recreate them on the new table afterwards",
        )
    indexes = [
        (r[0], r[1])
        for r in conn.execute(
            """SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i
                 JOIN pg_class c ON c.oid = i.indexrelid
                WHERE i.indrelid = %s AND NOT i.indisprimary ORDER BY c.relname""",
            (ref.oid,),
        ).fetchall()
    ]
    fks = [(c["conname"], c["def"]) for c in constraints if c["contype"] == "f"]
    sequences = [
        c
        for c in cols
        if conn.execute("SELECT pg_get_serial_sequence(%s, %s)", (ref.qualified, c)).fetchone()[0]  # type: ignore[index]
    ]
    row = conn.execute(
        sql.SQL("SELECT count(*), pg_total_relation_size(%s) FROM {}").format(ref.ident), (ref.oid,)
    ).fetchone()
    assert row is not None
    rows, size = int(row[0]), int(row[1])
    free = free_bytes if free_bytes is not None else catalog.free_bytes(conn)
    spec = RepartitionSpec(
        table=ref,
        column=column,
        partitions=partitions,
        batch_size=batch_size,
        columns=cols,
        copy_columns=[c for c in cols if c not in generated and c != KEY_COLUMN],
        has_key_column=has_key,
        pk=pk,
        pk_types=[types[c] for c in pk],
        pk_name=pk_row["conname"],
        indexes=indexes,
        foreign_keys=fks,
        check_count=sum(c["contype"] == "c" for c in constraints),
        sequences=sequences,
        rows=rows,
        table_bytes=size,
        free_bytes=free,
    )
    # the new table with its indexes and WAL headroom; no backup copy (the original is kept as the backup)
    needed = size + size // 5
    if free is None:
        spec.notes.append("free disk space not visible from here: disk check skipped")
    elif free < needed and not resuming:
        raise _fail(
            f"not enough disk for repartitioning {ref.qualified}: needs about {needed // 2**20} MiB "
            f"(the new table), {free // 2**20} MiB free",
            "free space (e.g. `migrata backups cleanup`) or move the data directory to a larger disk",
        )
    if KEY_COLUMN not in pk:
        spec.notes.append(f"primary key becomes ({', '.join([*pk, KEY_COLUMN])}): it must include the key")
    if has_key:
        spec.notes.append(f"{KEY_COLUMN} values are recomputed as migrata_partition_key({column}::text, N)")
    if rows == 0:
        spec.notes.append("table is empty: no copy needed, only the new structure and the swap")
    return spec


def build_plan(spec: RepartitionSpec, operation: str, statements: dict[str, list[str]]) -> Plan:
    """The Plan of a repartitioning: each step with the statements the run executes (rendered from the
    same builders, so --dry-run prints exactly them; the copy's key bounds are its `%s` parameters) and
    its reverse."""
    t = spec.table
    qual = t.qualified

    def joined(key: str) -> str:
        return ";\n".join(statements[key])

    steps = [
        Step(
            f"pre-check {qual}: {spec.rows} rows, {spec.table_bytes // 2**20} MiB, "
            f"free {'unknown' if spec.free_bytes is None else str(spec.free_bytes // 2**20) + ' MiB'}"
        ),
        Step(
            f"create {spec.new_name} PARTITION BY LIST ({spec.key_column}) with {spec.partitions} "
            "partitions (its keys come after the copy)",
            joined("create"),
            f'DROP TABLE "{t.schema}"."{spec.new_name}"',
        ),
        Step(
            f"capture writes to {qual} into {spec.delta_name} (statement triggers) during the copy",
            joined("capture"),
            f'DROP TRIGGER migrata_capture_ins ON "{t.schema}"."{spec.name}"; DROP TABLE {spec.delta_name}',
        ),
        Step(
            f"copy {spec.rows} rows in batches of {spec.batch_size} by primary key ({', '.join(spec.pk)}), "
            "each batch with its checkpoint",
            joined("copy"),
        ),
        Step(
            f"build the primary key and {len(spec.indexes)} indexes on the copied rows (in the last "
            "batch's transaction, before the replay of the writes captured during the copy)",
            joined("indexes"),
        ),
        Step(f"add {len(spec.foreign_keys)} foreign keys NOT VALID", joined("foreign_keys")),
        Step("replay captured writes; verify counts, checksums, partition distribution, every group intact"),
        Step(
            f"swap under a short lock: {qual} → {statements['retired'][0]}, {spec.new_name} → {qual} "
            "(the replay of the last captured writes, the capture's removal and each index's rename come "
            "between the locks and the renames); the original stays as the registered backup (no copy: "
            "the run only reads it) until its retention ends; then validate the foreign keys online",
            joined("swap"),
            f"`migrata repartition rollback {qual}`",
        ),
    ]
    return Plan(
        operation,
        f"repartition {qual} by {spec.column} into {spec.partitions} LIST partitions",
        spec.rows,
        unit="rows",
        steps=steps,
        details=spec.as_details(),
    )
