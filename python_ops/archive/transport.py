"""Own how rows travel from Postgres to ClickHouse: pull (postgresql() through a named collection) or push.

Pull (default): one set-based `INSERT … SELECT … FROM postgresql(<collection>, …)` per slice; ClickHouse
pushes the dataset/time filter down to Postgres and the credentials stay in the named collection.
Push (`transport: push`, for a ClickHouse server that cannot reach Postgres): migrata streams the rows
with `COPY (SELECT …) TO STDOUT (FORMAT csv)`, parses them into Arrow and sends them with
`insert_arrow`. Both write the same rows; verification does not care which one ran.

Pull is the default because it is the fastest on one machine: no row passes through Python (psycopg
costs 0.7-1 µs of Python per COPY row, as much CPU as ClickHouse's whole insert), and the one
`postgresql()` stream already keeps both cores busy (a Postgres backend rendering COPY text, ClickHouse
parsing and sorting), so splitting a slice into parallel streams measured no faster on 2 cores.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from clickhouse_connect.driver.client import Client
from psycopg import sql

from python_ops.archive.checksum import ch_range, pg_range
from python_ops.archive.schema import TableSpec
from python_ops.engines.clickhouse import quote_ident, quote_literal
from python_ops.errors import EngineError

# ReplacingMergeTree would collapse duplicates inside every inserted block (optimize_on_insert),
# which costs ~40% of ClickHouse's insert CPU; FINAL collapses them at read time anyway.
INSERT_SETTINGS = {"optimize_on_insert": 0}


def pull_sql(
    spec: TableSpec,
    *,
    collection: str,
    dataset_id: str,
    slug: str,
    lo: datetime | None,
    hi: datetime | None,
    schema: str = "public",
) -> str:
    """The ClickHouse INSERT copying one dataset's rows with lo < time <= hi from Postgres."""
    source = (
        f"postgresql({quote_ident(collection)}, schema={quote_literal(schema)}, "
        f"table={quote_literal(spec.name)})"
    )
    columns = ", ".join(quote_ident(c) for c in spec.column_names)
    return (
        f"INSERT INTO {quote_ident(spec.name)} ({columns})\n"
        f"SELECT {spec.ch_projection(slug)}\n"
        f"FROM (SELECT * FROM {source} WHERE {ch_range(spec, dataset_id, lo, hi)}) AS src"
    )


def pull(ch: Client, statement: str, *, table: str) -> None:
    """Run a pull INSERT; a ClickHouse that cannot reach Postgres becomes a clear `EngineError`."""
    try:
        ch.command(statement, settings=INSERT_SETTINGS)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise EngineError(
            f"ClickHouse could not copy {table} from Postgres: {reason}",
            hint="check that ClickHouse reaches Postgres (`migrata engines up` refreshes the named "
            "collection), "
            "or set MIGRATA_ARCHIVE__TRANSPORT=push",
        ) from None


def push_query(
    spec: TableSpec,
    dataset_id: str,
    lo: datetime | None,
    hi: datetime | None,
    ids: Sequence[object] | None = None,
) -> tuple[sql.Composed, list[object]]:
    """The Postgres COPY statement (and params) streaming one dataset's rows as ClickHouse-readable text."""
    where, params = pg_range(spec, lo, hi)
    if ids is not None:
        id_type = next(c.pg_type for c in spec.columns if c.name == spec.config.id_column)
        where = sql.SQL("{} AND {} = ANY(%s::{}[])").format(
            where, sql.Identifier(spec.config.id_column), sql.Identifier(id_type)
        )
        params.append(list(ids))
    statement = sql.SQL("COPY (SELECT {cols} FROM {table} WHERE {where}) TO STDOUT (FORMAT csv)").format(
        cols=spec.pg_push_projection(), table=sql.Identifier(spec.name), where=where
    )
    return statement, [dataset_id, *params]


def _constant(value: object, n: int, type_: pa.DataType) -> pa.Array:
    return pa.array([value], type=type_).take(pa.array(np.zeros(n, dtype=np.int32)))


def _to_arrow(chunk: bytes, spec: TableSpec, slug: str, migrated_at: datetime) -> pa.Table:
    names = [c.name for c in spec.columns]
    table = pacsv.read_csv(
        io.BytesIO(chunk),
        read_options=pacsv.ReadOptions(column_names=names, block_size=64 << 20),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,  # unquoted empty = NULL in Postgres CSV; "" stays an empty string
            quoted_strings_can_be_null=False,
        ),
    )
    n = table.num_rows
    time = table.column(spec.config.time_column)
    partition_key = pc.binary_join_element_wise(
        slug + "/", pc.utf8_slice_codeunits(time, 0, 4), pc.utf8_slice_codeunits(time, 5, 7), ""
    )
    return (
        table.append_column("__migrated_at", _constant(migrated_at, n, pa.timestamp("us", tz="UTC")))
        .append_column("__source_table", _constant(spec.name, n, pa.string()))
        .append_column("__dataset_slug", _constant(slug, n, pa.string()))
        .append_column("__partition_key", partition_key)
    )


def push(
    conn: psycopg.Connection,
    ch: Client,
    spec: TableSpec,
    *,
    dataset_id: str,
    slug: str,
    lo: datetime | None,
    hi: datetime | None,
    chunk_rows: int,
    ids: Sequence[object] | None = None,
) -> int:
    """Stream rows out of Postgres (COPY CSV) into ClickHouse (Arrow), `chunk_rows` at a time; return rows."""
    statement, params = push_query(spec, dataset_id, lo, hi, ids)
    migrated_at = datetime.now(UTC)
    total = 0
    parts: list[bytes] = []

    def flush() -> None:
        nonlocal total
        if parts:
            arrow = _to_arrow(b"".join(parts), spec, slug, migrated_at)
            ch.insert_arrow(spec.name, arrow, settings=INSERT_SETTINGS)
            total += arrow.num_rows
            parts.clear()

    with conn.cursor().copy(statement, params) as copy:
        for data in copy:  # Postgres sends one row per COPY message
            parts.append(bytes(data))
            if len(parts) >= chunk_rows:
                flush()
    flush()
    return total
