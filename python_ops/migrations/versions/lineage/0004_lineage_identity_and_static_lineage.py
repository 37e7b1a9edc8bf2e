"""lineage: ids from (namespace, name) pairs in SQL, the run-state table, static lineage, raw events by month.

- `migrata_lineage_id(kind, namespace, name)`: THE id of a namespace, job or dataset, an md5 of a
  length-prefixed encoding, so namespace `a:b` + name `c` and namespace `a` + name `b:c` are two
  objects. Ingestion passes names; only this function makes ids. Existing rows get their new ids here;
  where the old ids (UUIDv5 of `kind:ns:name`) had merged two objects into one row, the missing object
  is recreated and its runs, run inputs/outputs and facets are re-attributed from `lineage_events_raw`,
  which kept every event's own (namespace, name).
- `lineage_run_states(state, rank, terminal)`: the run state machine, read by the ingestion merge, by
  Python and by dbt (a relationships test); a foreign key replaces the CHECK of lineage_0002.
- `lineage_runs.changed_xid`: the transaction that last changed what the denormalized tables show of a
  run (not a heartbeat): the micro-batch refresher reads runs changed since its cursor.
- `lineage_job_io` (a JobEvent's static inputs/outputs), `lineage_column_lineage` (the columnLineage
  facet, one row per output column ← input column), `lineage_refresh_cursors`.
- `lineage_events_raw` becomes RANGE-partitioned by month on event_time (retention drops months); the
  rows it had go into one legacy partition, attached after a validated CHECK so the attach does not scan.
  It gains `event_kind` (run, dataset, job) and the dataset of a DatasetEvent; run and job may be null.
- The denormalized tables and the edge table (dbt models, derived data) are dropped: their keys change
  (ids instead of `NS:NAME` strings). lineage_0005 rebuilds them.

Needs downtime on an existing store: every id is rewritten in one transaction. A fresh install doesn't.

Revision ID: lineage_0004
Revises: lineage_0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "lineage_0004"
down_revision = "lineage_0003"
branch_labels = None
depends_on = ("partitions_0001",)

online_safe = False  # rewrites every id of an existing store in one transaction
backward_compatible = False  # the previous version computed other ids and wrote the CHECK-ed state column
forward_compatible = False  # drops state_rank, renames lineage_events_raw: old code cannot run on it

ID_FUNCTION = """
CREATE OR REPLACE FUNCTION migrata_lineage_id(kind text, namespace text, name text) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
$$ SELECT md5(kind || ':' || length(namespace)::text || ':' || namespace || ':' || name)::uuid $$
"""

STATES = [("OTHER", 0, False), ("START", 1, False), ("RUNNING", 2, False)] + [
    (s, 3, True) for s in ("COMPLETE", "FAIL", "ABORT")
]

FKS = {  # constraint name → (table, column, referenced table)
    "lineage_jobs_namespace_uuid_fkey": ("lineage_jobs", "namespace_uuid", "lineage_namespaces"),
    "lineage_datasets_namespace_uuid_fkey": ("lineage_datasets", "namespace_uuid", "lineage_namespaces"),
    "lineage_runs_job_uuid_fkey": ("lineage_runs", "job_uuid", "lineage_jobs"),
    "lineage_run_inputs_dataset_uuid_fkey": ("lineage_run_inputs", "dataset_uuid", "lineage_datasets"),
    "lineage_run_outputs_dataset_uuid_fkey": ("lineage_run_outputs", "dataset_uuid", "lineage_datasets"),
}

# every (kind, namespace, name) the raw events name whose joined `ns:name` has a colon in a part: only
# those can have been merged with another pair by the old ids
NAMED_PAIRS = """
CREATE TEMP TABLE _named ON COMMIT DROP AS
SELECT DISTINCT kind, namespace, name FROM (
    SELECT 'job' AS kind, job_namespace AS namespace, job_name AS name FROM lineage_events_raw
    UNION ALL
    SELECT 'dataset', d->>'namespace', d->>'name'
      FROM lineage_events_raw,
           jsonb_array_elements(CASE jsonb_typeof(payload->'inputs') WHEN 'array' THEN payload->'inputs'
                                ELSE '[]' END
                                || CASE jsonb_typeof(payload->'outputs') WHEN 'array' THEN payload->'outputs'
                                ELSE '[]' END) d
) p
WHERE namespace IS NOT NULL AND name IS NOT NULL AND (strpos(namespace, ':') > 0 OR strpos(name, ':') > 0)
"""


def _repair_ids() -> None:
    for name, (table, _column, _ref) in FKS.items():
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")
    op.execute(
        "CREATE TEMP TABLE _job_map ON COMMIT DROP AS SELECT uuid AS old, "
        "migrata_lineage_id('job', namespace_name, name) AS new FROM lineage_jobs"
    )
    op.execute(
        "CREATE TEMP TABLE _ds_map ON COMMIT DROP AS SELECT uuid AS old, "
        "migrata_lineage_id('dataset', namespace_name, name) AS new FROM lineage_datasets"
    )
    op.execute("CREATE UNIQUE INDEX ON _job_map (old)")
    op.execute("CREATE UNIQUE INDEX ON _ds_map (old)")
    op.execute("UPDATE lineage_namespaces SET uuid = migrata_lineage_id('namespace', name, '')")
    for table, kind in (("lineage_jobs", "job"), ("lineage_datasets", "dataset")):
        op.execute(
            f"UPDATE {table} SET uuid = migrata_lineage_id('{kind}', namespace_name, name), "
            "namespace_uuid = migrata_lineage_id('namespace', namespace_name, '')"
        )
    op.execute("UPDATE lineage_runs r SET job_uuid = m.new FROM _job_map m WHERE r.job_uuid = m.old")
    for side in ("inputs", "outputs"):
        op.execute(
            f"UPDATE lineage_run_{side} x SET dataset_uuid = m.new FROM _ds_map m "
            "WHERE x.dataset_uuid = m.old"
        )

    # objects the old ids merged: recreate the missing ones, re-attribute from the raw events
    op.execute(NAMED_PAIRS)
    op.execute(
        "CREATE AGGREGATE pg_temp.lineage_merge(jsonb) (sfunc = jsonb_concat, stype = jsonb, initcond = '{}')"
    )
    op.execute(
        """INSERT INTO lineage_namespaces (uuid, name)
           SELECT DISTINCT migrata_lineage_id('namespace', namespace, ''), namespace FROM _named
           ON CONFLICT DO NOTHING"""
    )
    op.execute(
        """INSERT INTO lineage_jobs (uuid, namespace_uuid, namespace_name, name, facets)
           SELECT migrata_lineage_id('job', n.namespace, n.name),
                  migrata_lineage_id('namespace', n.namespace, ''),
                  n.namespace, n.name,
                  (SELECT pg_temp.lineage_merge(coalesce(e.payload->'job'->'facets', '{}')
                                                ORDER BY e.event_time)
                     FROM lineage_events_raw e WHERE e.job_namespace = n.namespace AND e.job_name = n.name)
             FROM _named n WHERE n.kind = 'job'
           ON CONFLICT (uuid) DO UPDATE SET facets = EXCLUDED.facets"""
    )
    op.execute(
        """CREATE TEMP TABLE _ds_events ON COMMIT DROP AS
           SELECT e.run_id, e.event_time, side, d->>'namespace' AS namespace, d->>'name' AS name,
                  coalesce(d->'facets', '{}') AS facets,
                  coalesce(d->(CASE side WHEN 'inputs' THEN 'inputFacets' ELSE 'outputFacets' END),
                           '{}') AS io
             FROM lineage_events_raw e, unnest(ARRAY['inputs', 'outputs']) side,
                  jsonb_array_elements(CASE jsonb_typeof(e.payload->side) WHEN 'array' THEN e.payload->side
                                       ELSE '[]' END) d
            WHERE (d->>'namespace', d->>'name') IN
                  (SELECT namespace, name FROM _named WHERE kind = 'dataset')"""
    )
    op.execute(
        """INSERT INTO lineage_datasets (uuid, namespace_uuid, namespace_name, name, facets)
           SELECT migrata_lineage_id('dataset', namespace, name),
                  migrata_lineage_id('namespace', namespace, ''),
                  namespace, name, pg_temp.lineage_merge(facets ORDER BY event_time)
             FROM _ds_events GROUP BY namespace, name
           ON CONFLICT (uuid) DO UPDATE SET facets = EXCLUDED.facets"""
    )
    # each run of a merged job back to the job its events name
    op.execute(
        """UPDATE lineage_runs r SET job_uuid = migrata_lineage_id('job', e.job_namespace, e.job_name)
             FROM (SELECT DISTINCT ON (run_id) run_id, job_namespace, job_name FROM lineage_events_raw
                    WHERE (job_namespace, job_name) IN (SELECT namespace, name FROM _named WHERE kind = 'job')
                    ORDER BY run_id, event_time) e
            WHERE r.uuid = e.run_id"""
    )
    # the inputs/outputs of runs that named a merged dataset, as their events name them
    for side in ("inputs", "outputs"):
        op.execute(
            f"""DELETE FROM lineage_run_{side} x USING lineage_datasets d
                 WHERE d.uuid = x.dataset_uuid AND x.run_uuid IN (SELECT run_id FROM _ds_events)
                   AND (d.namespace_name, d.name) IN
                       (SELECT namespace, name FROM _named WHERE kind = 'dataset')"""
        )
        op.execute(
            f"""INSERT INTO lineage_run_{side} (run_uuid, dataset_uuid, facets)
                SELECT e.run_id, migrata_lineage_id('dataset', e.namespace, e.name),
                       pg_temp.lineage_merge(e.io ORDER BY e.event_time)
                  FROM _ds_events e JOIN lineage_runs r ON r.uuid = e.run_id
                 WHERE e.side = '{side}' GROUP BY 1, 2
                ON CONFLICT DO NOTHING"""
        )
    for name, (table, column, ref) in FKS.items():
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} "
            f"FOREIGN KEY ({column}) REFERENCES {ref} (uuid) NOT VALID"
        )
        op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")
    # joined-key lookups are gone: nodes are found by (namespace_name, name), unique already
    op.execute("DROP INDEX IF EXISTS lineage_jobs_key_idx")
    op.execute("DROP INDEX IF EXISTS lineage_datasets_key_idx")


def _states() -> None:
    op.execute(
        """CREATE TABLE lineage_run_states (
               state     text PRIMARY KEY,
               rank      smallint NOT NULL,
               terminal  boolean NOT NULL
           )"""
    )
    rows = ", ".join(f"('{s}', {r}, {str(t).lower()})" for s, r, t in STATES)
    op.execute(f"INSERT INTO lineage_run_states (state, rank, terminal) VALUES {rows}")
    op.execute("ALTER TABLE lineage_runs DROP CONSTRAINT IF EXISTS lineage_runs_state_check")
    op.execute(
        "ALTER TABLE lineage_runs ADD CONSTRAINT lineage_runs_state_fkey FOREIGN KEY (state) "
        "REFERENCES lineage_run_states (state) NOT VALID"
    )
    op.execute("ALTER TABLE lineage_runs VALIDATE CONSTRAINT lineage_runs_state_fkey")
    op.execute("ALTER TABLE lineage_runs DROP COLUMN state_rank")  # read from lineage_run_states instead
    op.execute("ALTER TABLE lineage_runs ADD COLUMN changed_xid xid8")
    op.execute("CREATE INDEX lineage_runs_changed_xid_idx ON lineage_runs (changed_xid)")


def _static_tables() -> None:
    op.execute(
        """CREATE TABLE lineage_job_io (
               job_uuid      uuid NOT NULL REFERENCES lineage_jobs (uuid),
               dataset_uuid  uuid NOT NULL REFERENCES lineage_datasets (uuid),
               direction     text NOT NULL CHECK (direction IN ('input', 'output')),
               facets        jsonb NOT NULL DEFAULT '{}'::jsonb,
               changed_xid   xid8 NOT NULL DEFAULT pg_current_xact_id(),
               created_at    timestamptz NOT NULL DEFAULT now(),
               updated_at    timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (job_uuid, dataset_uuid, direction)
           )"""
    )
    op.execute("CREATE INDEX lineage_job_io_dataset_idx ON lineage_job_io (dataset_uuid)")
    op.execute("CREATE INDEX lineage_job_io_changed_xid_idx ON lineage_job_io (changed_xid)")
    op.execute(
        """CREATE TABLE lineage_column_lineage (
               output_dataset_uuid  uuid NOT NULL REFERENCES lineage_datasets (uuid),
               output_field         text NOT NULL,
               input_dataset_uuid   uuid NOT NULL REFERENCES lineage_datasets (uuid),
               input_field          text NOT NULL,
               transformations      jsonb NOT NULL DEFAULT '[]'::jsonb,
               updated_at           timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (output_dataset_uuid, output_field, input_dataset_uuid, input_field)
           )"""
    )
    op.execute(
        "CREATE INDEX lineage_column_lineage_input_idx ON lineage_column_lineage "
        "(input_dataset_uuid, input_field)"
    )
    op.execute(
        """CREATE TABLE lineage_refresh_cursors (
               name        text PRIMARY KEY,
               cursor_xid  xid8 NOT NULL,
               updated_at  timestamptz NOT NULL DEFAULT now()
           )"""
    )


def _partition_raw() -> None:
    op.execute("DROP VIEW IF EXISTS stg_lineage__events_raw")  # a dbt view; it follows a rename otherwise
    op.execute("ALTER TABLE lineage_events_raw RENAME TO lineage_events_raw_legacy")
    op.execute(
        "ALTER TABLE lineage_events_raw_legacy RENAME CONSTRAINT lineage_events_raw_pkey "
        "TO lineage_events_raw_legacy_pkey"
    )
    op.execute("ALTER INDEX lineage_events_raw_run_idx RENAME TO lineage_events_raw_legacy_run_idx")
    op.execute("ALTER INDEX lineage_events_raw_received_idx RENAME TO lineage_events_raw_legacy_received_idx")
    op.execute(
        """CREATE TABLE lineage_events_raw (
               event_id           uuid NOT NULL,
               event_time         timestamptz NOT NULL,
               event_type         text,
               run_id             uuid,
               job_namespace      text,
               job_name           text,
               producer           text,
               payload            jsonb NOT NULL,
               received_at        timestamptz NOT NULL DEFAULT now(),
               event_kind         text NOT NULL DEFAULT 'run'
                   CONSTRAINT lineage_events_raw_event_kind_check
                   CHECK (event_kind IN ('run', 'dataset', 'job')),
               dataset_namespace  text,
               dataset_name       text,
               PRIMARY KEY (event_id, event_time)
           ) PARTITION BY RANGE (event_time)"""
    )
    op.execute("CREATE INDEX lineage_events_raw_run_idx ON lineage_events_raw (run_id, event_time)")
    op.execute("CREATE INDEX lineage_events_raw_received_idx ON lineage_events_raw (received_at)")
    bind = op.get_bind()
    upper = bind.exec_driver_sql(
        "SELECT (date_trunc('month', max(event_time) AT TIME ZONE 'UTC') + interval '1 month')::text "
        "FROM lineage_events_raw_legacy"
    ).scalar()
    if upper is None:
        op.execute("DROP TABLE lineage_events_raw_legacy")
        return
    # same columns in the same order as the parent, so the attach needs no rewrite
    op.execute("ALTER TABLE lineage_events_raw_legacy ALTER COLUMN run_id DROP NOT NULL")
    op.execute("ALTER TABLE lineage_events_raw_legacy ALTER COLUMN job_namespace DROP NOT NULL")
    op.execute("ALTER TABLE lineage_events_raw_legacy ALTER COLUMN job_name DROP NOT NULL")
    op.execute(
        "ALTER TABLE lineage_events_raw_legacy ADD COLUMN event_kind text NOT NULL DEFAULT 'run' "
        "CONSTRAINT lineage_events_raw_event_kind_check CHECK (event_kind IN ('run', 'dataset', 'job')), "
        "ADD COLUMN dataset_namespace text, "
        "ADD COLUMN dataset_name text"
    )
    op.execute(
        "CREATE UNIQUE INDEX lineage_events_raw_legacy_key "
        "ON lineage_events_raw_legacy (event_id, event_time)"
    )
    op.execute(
        "ALTER TABLE lineage_events_raw_legacy ADD CONSTRAINT lineage_events_raw_legacy_range "
        f"CHECK (event_time < '{upper}+00'::timestamptz) NOT VALID"
    )
    op.execute("ALTER TABLE lineage_events_raw_legacy VALIDATE CONSTRAINT lineage_events_raw_legacy_range")
    # the parent's key (event_id, event_time) replaces the table's own (event_id)
    op.execute("ALTER TABLE lineage_events_raw_legacy DROP CONSTRAINT lineage_events_raw_legacy_pkey")
    op.execute(
        "ALTER TABLE lineage_events_raw ATTACH PARTITION lineage_events_raw_legacy "
        f"FOR VALUES FROM (MINVALUE) TO ('{upper}+00')"
    )
    op.execute("ALTER TABLE lineage_events_raw_legacy DROP CONSTRAINT lineage_events_raw_legacy_range")


def upgrade() -> None:
    op.execute(ID_FUNCTION)
    for table in ("lineage_graph_edges", "run_parent_lineage_denormalized", "run_lineage_denormalized"):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute("DELETE FROM migrata_checkpoints WHERE operation LIKE 'lineage_backfill%'")
    op.execute("DROP VIEW IF EXISTS stg_lineage__jobs, stg_lineage__datasets, stg_lineage__runs")
    _states()
    _repair_ids()
    _static_tables()
    _partition_raw()


def downgrade() -> None:
    # derived tables are rebuilt by the previous version's backfill; raw events go back into one table
    for table in ("lineage_graph_edges", "run_parent_lineage_denormalized", "run_lineage_denormalized"):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute("DROP VIEW IF EXISTS stg_lineage__events_raw, stg_lineage__jobs, stg_lineage__datasets")
    op.execute("DROP VIEW IF EXISTS stg_lineage__runs")
    op.execute("ALTER TABLE lineage_events_raw RENAME TO lineage_events_raw_partitioned")
    op.execute(
        "ALTER TABLE lineage_events_raw_partitioned "
        "RENAME CONSTRAINT lineage_events_raw_pkey TO lineage_events_raw_p_pkey"
    )
    op.execute("ALTER INDEX lineage_events_raw_run_idx RENAME TO lineage_events_raw_p_run_idx")
    op.execute("ALTER INDEX lineage_events_raw_received_idx RENAME TO lineage_events_raw_p_received_idx")
    op.execute(
        """CREATE TABLE lineage_events_raw (
               event_id uuid PRIMARY KEY, event_time timestamptz NOT NULL, event_type text,
               run_id uuid NOT NULL, job_namespace text NOT NULL, job_name text NOT NULL, producer text,
               payload jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now())"""
    )
    # the previous version knew run events only: dataset and job events cannot go back
    op.execute(
        """INSERT INTO lineage_events_raw SELECT event_id, event_time, event_type, run_id, job_namespace,
               job_name, producer, payload, received_at FROM lineage_events_raw_partitioned
            WHERE event_kind = 'run' ON CONFLICT DO NOTHING"""
    )
    op.execute("DROP TABLE lineage_events_raw_partitioned")
    op.execute("CREATE INDEX lineage_events_raw_run_idx ON lineage_events_raw (run_id, event_time)")
    op.execute("CREATE INDEX lineage_events_raw_received_idx ON lineage_events_raw (received_at)")
    op.execute("DROP TABLE lineage_refresh_cursors, lineage_column_lineage, lineage_job_io")
    op.execute("DROP INDEX lineage_runs_changed_xid_idx")
    op.execute("ALTER TABLE lineage_runs DROP COLUMN changed_xid")
    op.execute("ALTER TABLE lineage_runs ADD COLUMN state_rank smallint")
    op.execute(
        "UPDATE lineage_runs r SET state_rank = s.rank FROM lineage_run_states s WHERE s.state = r.state"
    )
    op.execute("ALTER TABLE lineage_runs ALTER COLUMN state_rank SET NOT NULL")
    op.execute("ALTER TABLE lineage_runs DROP CONSTRAINT lineage_runs_state_fkey")
    op.execute("DROP TABLE lineage_run_states")
    states = ", ".join(f"'{s}'" for s, _, _ in STATES)
    op.execute(
        f"ALTER TABLE lineage_runs ADD CONSTRAINT lineage_runs_state_check CHECK (state IN ({states}))"
    )
    # the ids stay md5-based (the previous version re-derives none on read); objects the old ids merged
    # stay apart, which that version's uuid5 ids cannot express for new events: downgrade is for rollback
    op.execute("CREATE INDEX lineage_jobs_key_idx ON lineage_jobs ((namespace_name || ':' || name))")
    op.execute("CREATE INDEX lineage_datasets_key_idx ON lineage_datasets ((namespace_name || ':' || name))")
    op.execute("DROP FUNCTION migrata_lineage_id(text, text, text)")
