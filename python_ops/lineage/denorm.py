"""Own the denormalizing SQL outside dbt: the same rows the dbt models build, for a chunk of runs.

The dbt models (`dbt_project/models/lineage/run_*lineage_denormalized.sql`) are the published
definition; the backfill needs the same query bounded to a run-uuid range inside its own transactions,
so it lives here too. A test builds both ways and compares them row for row, column for column.
Tables are created like the dbt materialization does: columns taken from the query, natively
partitioned by RANGE on run_date, an empty DEFAULT partition, the same indexes.
"""

from __future__ import annotations

from datetime import date

import psycopg
from psycopg import sql

RLD = "run_lineage_denormalized"
RPLD = "run_parent_lineage_denormalized"

# `@RUNS@` is replaced by a query of the lineage_runs rows to denormalize.
RLD_SELECT = """
WITH runs AS (@RUNS@)
SELECT r.uuid AS run_uuid,
       (r.first_event_time AT TIME ZONE 'UTC')::date AS run_date,
       j.uuid AS job_uuid,
       j.namespace_name,
       j.name AS job_name,
       j.namespace_name || ':' || j.name AS job_key,
       r.state,
       r.first_event_time AS created_at,
       r.updated_at,
       r.started_at,
       r.ended_at,
       r.nominal_start_time,
       r.nominal_end_time,
       (extract(epoch FROM r.ended_at - r.started_at) * 1000)::bigint AS duration_ms,
       r.parent_run_uuid,
       r.parent_job_namespace,
       r.parent_job_name,
       coalesce(i.uuids, '{}'::uuid[]) AS input_dataset_uuids,
       coalesce(i.keys, '{}'::text[]) AS input_datasets,
       coalesce(o.uuids, '{}'::uuid[]) AS output_dataset_uuids,
       coalesce(o.keys, '{}'::text[]) AS output_datasets,
       coalesce(cardinality(i.keys), 0) AS input_count,
       coalesce(cardinality(o.keys), 0) AS output_count,
       r.facets,
       now() AS denormalized_at,
       pg_current_xact_id() AS denormalized_xid
  FROM runs r
  JOIN lineage_jobs j ON j.uuid = r.job_uuid
  LEFT JOIN LATERAL (
      SELECT array_agg(d.uuid ORDER BY d.namespace_name || ':' || d.name) AS uuids,
             array_agg(d.namespace_name || ':' || d.name ORDER BY d.namespace_name || ':' || d.name) AS keys
        FROM lineage_run_inputs x JOIN lineage_datasets d ON d.uuid = x.dataset_uuid
       WHERE x.run_uuid = r.uuid
  ) i ON true
  LEFT JOIN LATERAL (
      SELECT array_agg(d.uuid ORDER BY d.namespace_name || ':' || d.name) AS uuids,
             array_agg(d.namespace_name || ':' || d.name ORDER BY d.namespace_name || ':' || d.name) AS keys
        FROM lineage_run_outputs x JOIN lineage_datasets d ON d.uuid = x.dataset_uuid
       WHERE x.run_uuid = r.uuid
  ) o ON true
"""

RPLD_SELECT = """
WITH runs AS (@RUNS@)
SELECT c.uuid AS run_uuid,
       (c.first_event_time AT TIME ZONE 'UTC')::date AS run_date,
       j.uuid AS job_uuid,
       j.namespace_name,
       j.name AS job_name,
       j.namespace_name || ':' || j.name AS job_key,
       c.state,
       c.first_event_time AS created_at,
       greatest(c.updated_at, p.updated_at) AS updated_at,
       c.started_at,
       c.ended_at,
       c.parent_run_uuid,
       c.parent_job_namespace,
       c.parent_job_name,
       c.parent_job_namespace || ':' || c.parent_job_name AS parent_job_key,
       p.state AS parent_state,
       p.started_at AS parent_started_at,
       p.ended_at AS parent_ended_at,
       now() AS denormalized_at
  FROM runs c
  JOIN lineage_jobs j ON j.uuid = c.job_uuid
  LEFT JOIN LATERAL (
      SELECT p.state, p.started_at, p.ended_at, p.updated_at
        FROM lineage_runs p WHERE p.uuid = c.parent_run_uuid
  ) p ON true
 WHERE c.parent_run_uuid IS NOT NULL
"""

# the same indexes as the models' `partition_indexes` config (names as create_partitioned_table makes them)
INDEXES: dict[str, list[tuple[list[str], str]]] = {
    RLD: [
        (["run_uuid"], "btree"),
        (["job_key", "created_at"], "btree"),
        (["namespace_name", "job_name", "created_at"], "btree"),
        (["state", "created_at"], "btree"),
        (["updated_at"], "btree"),
        (["denormalized_xid"], "btree"),
        (["input_datasets"], "gin"),
        (["output_datasets"], "gin"),
    ],
    RPLD: [
        (["run_uuid"], "btree"),
        (["parent_run_uuid"], "btree"),
        (["parent_job_key", "created_at"], "btree"),
        (["updated_at"], "btree"),
    ],
}
SELECTS = {RLD: RLD_SELECT, RPLD: RPLD_SELECT}


def table_exists(conn: psycopg.Connection, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def ensure_tables(conn: psycopg.Connection) -> list[str]:
    """Create the partitioned denormalized tables the way the dbt materialization does, if missing.

    An existing table gets the columns and indexes the models gained since it was created, as the
    materialization does on its next run.
    """
    created = []
    for table, select in SELECTS.items():
        shape = f"_shape_{table}"
        query = select.replace("@RUNS@", "SELECT * FROM lineage_runs")
        conn.execute(
            sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS {} WITH NO DATA").format(
                sql.Identifier(shape),
                sql.SQL(query),  # type: ignore[arg-type]
            )
        )
        if table_exists(conn, table):
            missing = conn.execute(
                """SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                    WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
                      AND a.attname NOT IN (SELECT attname FROM pg_attribute
                                             WHERE attrelid = %s::regclass AND attnum > 0)
                    ORDER BY a.attnum""",
                (shape, table),
            ).fetchall()
            for name, type_ in missing:
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                        sql.Identifier(table), sql.Identifier(name), sql.SQL(type_)
                    )
                )
        else:
            conn.execute(
                sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS) PARTITION BY RANGE (run_date)").format(
                    sql.Identifier(table), sql.Identifier(shape)
                )
            )
            conn.execute(
                sql.SQL("CREATE TABLE {} PARTITION OF {} DEFAULT").format(
                    sql.Identifier(f"{table}_default"), sql.Identifier(table)
                )
            )
            created.append(table)
        for columns, kind in INDEXES[table]:
            conn.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING {} ({})").format(
                    sql.Identifier(f"{table}_{'_'.join(columns)}_idx"),
                    sql.Identifier(table),
                    sql.SQL(kind),
                    sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                )
            )
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(shape)))
    return created


def ensure_partitions(conn: psycopg.Connection, table: str, low: date, high: date) -> None:
    """The monthly partitions of `table` holding run dates `low` … `high` (made if missing)."""
    conn.execute(
        "SELECT migrata_ensure_range_partitions(%s::regclass, %s::timestamp AT TIME ZONE 'UTC', "
        "%s::timestamp AT TIME ZONE 'UTC' + interval '1 day', 'month')",
        (table, low, high),
    )


def _columns(conn: psycopg.Connection, stage: sql.Identifier) -> list[psycopg.Column]:
    """The columns of a staged relation (by name: an evolved table may order its columns differently)."""
    cur = conn.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(stage))
    return list(cur.description or [])


def denormalize_runs(conn: psycopg.Connection, runs_filter: str, params: dict[str, object]) -> dict[str, int]:
    """Replace the denormalized rows of the runs matching `runs_filter` (SQL on lineage_runs alias r).

    Stages the rows, creates the partitions they need, deletes the old rows of those runs (only in the
    partitions the staged run dates span, so a chunk never scans the whole table), inserts.
    """
    counts = {}
    for table, select in SELECTS.items():
        stage = sql.Identifier(f"_stage_{table}")
        query = select.replace("@RUNS@", f"SELECT r.* FROM lineage_runs r WHERE {runs_filter}")
        conn.execute(
            sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS {}").format(stage, sql.SQL(query)),  # type: ignore[arg-type]
            params,
        )
        row = conn.execute(
            sql.SQL("SELECT min(run_date), max(run_date), count(*) FROM {}").format(stage)
        ).fetchone()
        assert row is not None
        low, high, staged = row
        counts[table] = staged
        if staged:
            ensure_partitions(conn, table, low, high)
            conn.execute(sql.SQL("ANALYZE {}").format(stage))
            conn.execute(
                sql.SQL(
                    "DELETE FROM {} t USING {} s WHERE t.run_uuid = s.run_uuid "
                    "AND t.run_date >= %s AND t.run_date <= %s"
                ).format(sql.Identifier(table), stage),
                (low, high),
            )
            names = sql.SQL(", ").join(sql.Identifier(c.name) for c in _columns(conn, stage))
            insert = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}")
            conn.execute(insert.format(sql.Identifier(table), names, names, stage))
        conn.execute(sql.SQL("DROP TABLE {}").format(stage))
    return counts
