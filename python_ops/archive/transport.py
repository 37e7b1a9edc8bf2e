"""Own how rows travel from Postgres to ClickHouse, pull or push; the table's dbt model types them.

Both transports run the model's compiled SQL (`CompiledTable.insert`) and only choose the relation it
reads:

- pull (default): a `postgresql(<collection>, …)` read of one dataset's time slice; ClickHouse pushes
  the dataset/time filter down to Postgres and the credentials stay in the named collection. No row
  passes through Python, and the one stream already keeps both cores busy (a Postgres backend
  rendering COPY text, ClickHouse parsing and sorting), so parallel streams measured no faster.
- push (`transport: push`, for a ClickHouse that cannot reach Postgres): migrata streams the slice with
  `COPY (SELECT …) TO STDOUT (FORMAT csv)`, each column rendered as the text ClickHouse parses (arrays
  as `['a', NULL]`, times in UTC), into a session-scoped temporary table of text columns, `chunk_rows`
  at a time, and runs the model's SQL over that table. A temporary table belongs to the client's
  session, so concurrent runs never see each other's rows, and a killed run leaves nothing behind.

Both write the same rows; verification does not care which one ran.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from clickhouse_connect.driver.client import Client
from psycopg import sql

from python_ops.archive.checksum import ch_range, pg_range
from python_ops.archive.compiled import CompiledTable
from python_ops.archive.schema import TableSpec
from python_ops.db import is_cancel
from python_ops.engines.clickhouse import quote_ident, quote_literal
from python_ops.errors import ConfigError, EngineError

# ReplacingMergeTree would collapse duplicates inside every inserted block (optimize_on_insert),
# which costs ~40% of ClickHouse's insert CPU; FINAL collapses them at read time anyway.
INSERT_SETTINGS = {"optimize_on_insert": 0}
# Postgres element types whose text ClickHouse reads unquoted inside an array.
_UNQUOTED_ELEMENTS = {"int2", "int4", "int8", "float4", "float8", "numeric", "bool", "oid"}


def pull_source(
    spec: TableSpec,
    *,
    collection: str,
    dataset_id: str,
    lo: datetime | None,
    hi: datetime | None,
    schema: str = "public",
) -> str:
    """The relation of one dataset's rows with lo < time <= hi, read from Postgres by ClickHouse."""
    table = (
        f"postgresql({quote_ident(collection)}, schema={quote_literal(schema)}, "
        f"table={quote_literal(spec.name)})"
    )
    return f"(SELECT * FROM {table} WHERE {ch_range(spec, dataset_id, lo, hi)})"


def pull(
    ch: Client, statement: str, *, table: str, block_rows: int, block_bytes: int, insert_threads: int
) -> None:
    """Run a pull INSERT in blocks of at most `block_rows` rows read from Postgres, written once
    `block_rows` rows or `block_bytes` bytes are gathered, by `insert_threads` streams (with chDB, this
    process's memory); a ClickHouse that cannot reach Postgres becomes a clear `EngineError`."""
    settings = {
        **INSERT_SETTINGS,
        "max_block_size": block_rows,
        "min_insert_block_size_rows": block_rows,
        "min_insert_block_size_bytes": block_bytes,
        "max_insert_threads": insert_threads,
    }
    _through_postgres(ch, statement, f"copy {table} from Postgres", settings)


def _through_postgres(ch: Client, statement: str, what: str, settings: dict[str, Any] | None = None) -> Any:
    """Run a statement that reads Postgres through postgresql(); a ClickHouse that cannot reach
    Postgres becomes a clear `EngineError`."""
    try:
        return ch.command(statement, settings=settings)
    except Exception as exc:
        if is_cancel(exc):
            raise  # it reached Postgres: the runner names the setting that cancelled it
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise EngineError(
            f"ClickHouse could not {what}: {reason}",
            hint="check that ClickHouse reaches Postgres (`migrata engines up` refreshes the named "
            "collection), or set MIGRATA_ARCHIVE__TRANSPORT=push",
        ) from None


def check_times_cross(ch: Client, conn: psycopg.Connection, collection: str) -> None:
    """Refuse to move rows through postgresql() when ClickHouse would shift their times: it must read
    this connection's `backend_start` as the instant Postgres holds (engines/clickhouse.py says why
    both sessions run in UTC; a ClickHouse server's own Postgres sessions are not migrata's to set)."""
    row = conn.execute(
        "SELECT pid, (extract(epoch FROM backend_start) * 1000000)::bigint, current_user "
        "FROM pg_stat_activity WHERE pid = pg_backend_pid()"
    ).fetchone()
    assert row is not None
    pid, held, user = row
    source = f"postgresql({quote_ident(collection)}, schema='pg_catalog', table='pg_stat_activity')"
    seen = _through_postgres(
        ch, f"SELECT toUnixTimestamp64Micro(backend_start) FROM {source} WHERE pid = {int(pid)}",
        "read a time from Postgres",
    )  # fmt: skip
    skew = timedelta(microseconds=int(seen) - int(held))
    if skew:
        off = f"{abs(skew)} {'late' if skew > timedelta(0) else 'early'}"
        raise ConfigError(
            f"ClickHouse reads Postgres' times {off} (its sessions with Postgres do not run in UTC with "
            "DateStyle ISO, as its own does): archived rows would carry shifted times",
            hint=f"run the ClickHouse server's sessions with Postgres so (ALTER ROLE {user} SET timezone = "
            f"'UTC'; ALTER ROLE {user} SET datestyle = 'ISO'; or PGTZ=UTC and PGDATESTYLE=ISO in the "
            "server's environment), or set MIGRATA_ARCHIVE__TRANSPORT=push",
        )


def _text(spec: TableSpec) -> sql.Composed:
    """Postgres SELECT list rendering each column as the text ClickHouse parses into the model's type."""
    parts: list[sql.Composable] = []
    for c in spec.columns:
        ident = sql.Identifier(c.name)
        if c.is_array:
            element = (
                sql.SQL("e::text")
                if c.udt_name[1:] in _UNQUOTED_ELEMENTS
                else sql.SQL("'''' || replace(replace(e::text, '\\', '\\\\'), '''', '\\''') || ''''")
            )
            parts.append(
                sql.SQL(
                    "coalesce((SELECT '[' || string_agg(CASE WHEN e IS NULL THEN 'NULL' ELSE {} END, ',')"
                    " || ']' FROM unnest({}) AS e), '[]')"
                ).format(element, ident)
            )
        elif c.udt_name == "timestamptz":
            parts.append(sql.SQL("to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')").format(ident))
        elif c.udt_name == "timestamp":
            parts.append(sql.SQL("to_char({}, 'YYYY-MM-DD HH24:MI:SS.US')").format(ident))
        else:
            parts.append(sql.SQL("{}::text").format(ident))
    return sql.SQL(", ").join(parts)


def copy_statement(
    spec: TableSpec,
    dataset_id: str,
    lo: datetime | None,
    hi: datetime | None,
    ids: Sequence[str] | None = None,
) -> sql.Composed:
    """The Postgres COPY streaming one dataset's rows (or those of `ids`) as text; values inlined."""
    where = pg_range(spec, dataset_id, lo, hi)
    if ids is not None:
        id_column = spec.column(spec.config.id_column)
        where = sql.SQL("{} AND {} = ANY({}::{}[])").format(
            where, sql.Identifier(id_column.name), sql.Literal(list(ids)), sql.Identifier(id_column.udt_name)
        )
    return sql.SQL("COPY (SELECT {cols} FROM {table} WHERE {where}) TO STDOUT (FORMAT csv)").format(
        cols=_text(spec), table=sql.Identifier(spec.name), where=where
    )


def stage_name(spec: TableSpec) -> str:
    return f"__migrata_stage_{spec.name}"


def push_statements(spec: TableSpec, compiled: CompiledTable, slug: str) -> list[str]:
    """The ClickHouse statements of a push: the staging table, then per chunk the model's INSERT and a reset.

    Each chunk of rows is sent with `INSERT INTO <stage> FORMAT Arrow` between the first two.
    """
    stage = quote_ident(stage_name(spec))
    return [
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ({spec.text_structure()}) ENGINE = Memory",
        compiled.insert(stage, slug),
        f"TRUNCATE TABLE {stage}",
    ]


def _to_arrow(chunk: bytes, spec: TableSpec) -> pa.Table:
    names = spec.column_names
    return pacsv.read_csv(
        io.BytesIO(chunk),
        read_options=pacsv.ReadOptions(column_names=names, block_size=64 << 20),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,  # unquoted empty = NULL in Postgres CSV; "" stays an empty string
            quoted_strings_can_be_null=False,
        ),
    )


def push(
    conn: psycopg.Connection,
    ch: Client,
    spec: TableSpec,
    compiled: CompiledTable,
    *,
    statement: sql.Composed,
    slug: str,
    chunk_rows: int,
) -> int:
    """Stream the rows of a COPY `statement` into ClickHouse through the model, `chunk_rows` at a time."""
    create, insert, reset = push_statements(spec, compiled, slug)
    stage = stage_name(spec)
    ch.command(create)
    ch.command(reset)  # a failed earlier push of this session may have left rows
    total = 0
    parts: list[bytes] = []

    def flush() -> None:
        nonlocal total
        if parts:
            rows = _to_arrow(b"".join(parts), spec)
            ch.insert_arrow(stage, rows)
            ch.command(insert, settings=INSERT_SETTINGS)
            ch.command(reset)
            total += rows.num_rows
            parts.clear()

    with conn.cursor().copy(statement) as copy:
        for data in copy:  # Postgres sends one row per COPY message
            parts.append(bytes(data))
            if len(parts) >= chunk_rows:
                flush()
    flush()
    return total
