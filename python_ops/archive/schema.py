"""Own what the archive knows of an archived table: its entry of `MIGRATA_ARCHIVE__TABLES` and its
Postgres columns, read from the catalog and checked against the entry's roles.

The ClickHouse side (types, engine, keys, enrichment columns) is the table's dbt model (macro
`archive_model`), not this module: here are only facts about Postgres, handed to the model as the var
`archive_columns` (`model_columns`) so it compiles without ClickHouse reaching Postgres.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from python_ops.engines.clickhouse import quote_ident
from python_ops.errors import ConfigError, PreconditionError
from python_ops.settings import ArchiveTable

_ID_TYPES = {"text", "varchar", "bpchar", "uuid", "int4", "int8"}
_ROLES = (
    ("id", "id_column", _ID_TYPES),
    ("time", "time_column", {"timestamptz"}),
    ("dataset", "dataset_column", {"text", "varchar", "uuid"}),
    ("payload", "payload_column", None),
)


@dataclass(frozen=True)
class Column:
    """One Postgres column: its name, its type's `udt_name` (`_x` is an array of x), nullability."""

    name: str
    udt_name: str
    nullable: bool

    @property
    def is_array(self) -> bool:
        return self.udt_name.startswith("_")


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
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def model_columns(self) -> list[list[object]]:
        """The columns as the dbt model takes them (var `archive_columns`): [name, udt_name, nullable]."""
        return [[c.name, c.udt_name, c.nullable] for c in self.columns]

    def text_structure(self) -> str:
        """The Postgres columns as ClickHouse text columns: how rows travel before the model types them."""
        return ", ".join(f"{quote_ident(c.name)} Nullable(String)" for c in self.columns)


def read_spec(conn: psycopg.Connection, table: ArchiveTable) -> TableSpec:
    """Read the columns of a configured table from Postgres and check it can be archived."""
    rows = conn.execute(
        """SELECT column_name, udt_name, is_nullable = 'YES' FROM information_schema.columns
           WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position""",
        (table.name,),
    ).fetchall()
    if not rows:
        raise PreconditionError(
            f"archived table {table.name} does not exist in Postgres",
            hint="run `migrata migrate upgrade archive`, or fix MIGRATA_ARCHIVE__TABLES",
        )
    spec = TableSpec(table, tuple(Column(name, udt, bool(nullable)) for name, udt, nullable in rows))
    by_name = {c.name: c for c in spec.columns}
    for role, field, allowed in _ROLES:
        name = getattr(table, field)
        found = by_name.get(name)
        if found is None:
            raise ConfigError(
                f"archived table {table.name} has no {role} column {name}",
                hint=f"set the {field} of {table.name} in MIGRATA_ARCHIVE__TABLES",
            )
        if allowed is not None and (found.udt_name not in allowed or found.nullable):
            raise ConfigError(
                f"the {role} column {table.name}.{name} must be NOT NULL {'/'.join(sorted(allowed))}",
                hint=f"pick another {field} for {table.name} in MIGRATA_ARCHIVE__TABLES",
            )
    return spec
