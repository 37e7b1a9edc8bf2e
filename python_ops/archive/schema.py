"""Own the shape of an archived table on both sides: Postgres columns → ClickHouse types, DDL, projections.

The ClickHouse table of a Postgres table `t` is named `t`, has the same columns with explicit types
(mapped here, one place) plus the seed's enrichment columns, is partitioned by (dataset, month) and is
a `ReplacingMergeTree(__migrated_at)` ordered by (dataset, time, id): a row delivered twice collapses
into one, so every copy is safe to repeat. The dbt model of the table (macro `archive_model`) builds
the same table; a test compares the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from python_ops.engines.clickhouse import quote_ident, quote_literal
from python_ops.errors import ConfigError, PreconditionError
from python_ops.settings import ArchiveTable

ENRICHMENT = (
    ("__migrated_at", "DateTime64(6, 'UTC')"),
    ("__source_table", "LowCardinality(String)"),
    ("__dataset_slug", "LowCardinality(String)"),
    ("__partition_key", "String"),
)

_SCALAR = {
    "text": "String",
    "varchar": "String",
    "bpchar": "String",
    "name": "String",
    "citext": "String",
    "json": "String",
    "jsonb": "String",
    "int2": "Int16",
    "int4": "Int32",
    "int8": "Int64",
    "float4": "Float32",
    "float8": "Float64",
    "bool": "Bool",
    "uuid": "UUID",
    "date": "Date32",
    "timestamptz": "DateTime64(6, 'UTC')",
    "timestamp": "DateTime64(6)",
}
_ID_TYPES = {"text", "varchar", "bpchar", "uuid", "int4", "int8"}


@dataclass(frozen=True)
class Column:
    """One column of an archived table: its Postgres type and the ClickHouse type it is stored as."""

    name: str
    pg_type: str
    ch_type: str
    nullable: bool
    is_array: bool = False

    @property
    def ch_column_type(self) -> str:
        return f"Nullable({self.ch_type})" if self.nullable and not self.is_array else self.ch_type


@dataclass(frozen=True)
class TableSpec:
    """An archived table as configured plus its columns as found in Postgres."""

    config: ArchiveTable
    columns: tuple[Column, ...]

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns] + [name for name, _ in ENRICHMENT]

    def ch_create(self) -> str:
        """`CREATE TABLE IF NOT EXISTS` of the ClickHouse table (same engine and keys as the dbt model)."""
        cfg = self.config
        cols = [f"{quote_ident(c.name)} {c.ch_column_type}" for c in self.columns]
        cols += [f"{quote_ident(n)} {t}" for n, t in ENRICHMENT]
        return (
            f"CREATE TABLE IF NOT EXISTS {quote_ident(self.name)} (\n    "
            + ",\n    ".join(cols)
            + "\n) ENGINE = ReplacingMergeTree(__migrated_at)\n"
            f"PARTITION BY ({quote_ident(cfg.dataset_column)}, toYYYYMM({quote_ident(cfg.time_column)}))\n"
            f"ORDER BY ({quote_ident(cfg.dataset_column)}, {quote_ident(cfg.time_column)}, "
            f"{quote_ident(cfg.id_column)})"
        )

    def ch_projection(self, slug: str) -> str:
        """The SELECT list turning a `postgresql()` row (alias `src`) into an archived row."""
        parts = [f"CAST(src.{quote_ident(c.name)}, {quote_literal(c.ch_column_type)})" for c in self.columns]
        time = f"CAST(src.{quote_ident(self.config.time_column)}, 'DateTime64(6, \\'UTC\\')')"
        parts += [
            "now64(6, 'UTC')",
            quote_literal(self.name),
            quote_literal(slug),
            f"concat({quote_literal(slug + '/')}, toString(toYYYYMM({time})))",
        ]
        names = [quote_ident(c) for c in self.column_names]
        return ", ".join(f"{p} AS {n}" for p, n in zip(parts, names, strict=True))

    def pg_push_projection(self) -> sql.Composed:
        """Postgres SELECT list rendering each column as text ClickHouse parses into its type (push path)."""
        parts: list[sql.Composable] = []
        for c in self.columns:
            ident = sql.Identifier(c.name)
            if c.is_array:
                # ClickHouse's text form of arrays: ['a', NULL, 'b\'c']
                numeric = c.ch_type.removeprefix("Array(Nullable(").startswith(("Int", "Float", "Bool"))
                element = (
                    sql.SQL("e::text")
                    if numeric
                    else sql.SQL("'''' || replace(replace(e::text, '\\', '\\\\'), '''', '\\''') || ''''")
                )
                parts.append(
                    sql.SQL(
                        "coalesce((SELECT '[' || string_agg(CASE WHEN e IS NULL THEN 'NULL' ELSE {} END, ',')"
                        " || ']' FROM unnest({}) AS e), '[]')"
                    ).format(element, ident)
                )
            elif c.pg_type == "timestamptz":
                parts.append(
                    sql.SQL("to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')").format(ident)
                )
            elif c.pg_type == "timestamp":
                parts.append(sql.SQL("to_char({}, 'YYYY-MM-DD HH24:MI:SS.US')").format(ident))
            else:
                parts.append(sql.SQL("{}::text").format(ident))
        return sql.SQL(", ").join(parts)


def read_spec(conn: psycopg.Connection, table: ArchiveTable) -> TableSpec:
    """Read the columns of a configured table from Postgres and check it can be archived."""
    rows = conn.execute(
        """SELECT a.attname, t.typname, a.attnotnull, t.typcategory = 'A', et.typname
           FROM pg_attribute a
           JOIN pg_type t ON t.oid = a.atttypid
           LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
           WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
           ORDER BY a.attnum""",
        (table.name,),
    ).fetchall()
    if not rows:
        raise PreconditionError(
            f"archived table {table.name} does not exist in Postgres",
            hint="run `migrata migrate upgrade archive`, or fix MIGRATA_ARCHIVE__TABLES",
        )
    columns = []
    for name, typname, notnull, is_array, elem in rows:
        if is_array:
            ch = f"Array(Nullable({_SCALAR.get(elem, 'String')}))"
            columns.append(Column(name, typname, ch, not notnull, is_array=True))
        else:
            columns.append(Column(name, typname, _SCALAR.get(typname, "String"), not notnull))
    by_name = {c.name: c for c in columns}
    for role, col, allowed in (
        ("id", table.id_column, _ID_TYPES),
        ("time", table.time_column, {"timestamptz"}),
        ("dataset", table.dataset_column, {"text", "varchar", "uuid"}),
        ("payload", table.payload_column, None),
    ):
        found = by_name.get(col)
        if found is None:
            raise ConfigError(
                f"archived table {table.name} has no {role} column {col}",
                hint=f"set the {role}_column of {table.name} in MIGRATA_ARCHIVE__TABLES",
            )
        if allowed is not None and (found.pg_type not in allowed or found.nullable):
            raise ConfigError(
                f"the {role} column {table.name}.{col} must be NOT NULL {'/'.join(sorted(allowed))}",
                hint=f"pick another {role}_column for {table.name} in MIGRATA_ARCHIVE__TABLES",
            )
    return TableSpec(table, tuple(columns))
