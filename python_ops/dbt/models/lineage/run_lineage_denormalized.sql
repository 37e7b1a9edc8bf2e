{{
    config(
        materialized='partitioned_incremental',
        partition_by='run_date',
        partition_by_never_increases=true,
        unique_key='run_uuid',
        pre_hook="select pg_advisory_xact_lock(hashtext('migrata.run_lineage_denormalized'))",
        partition_indexes=[
            {'columns': ['run_uuid']},
            {'columns': ['job_uuid', 'created_at']},
            {'columns': ['namespace_name', 'job_name', 'created_at']},
            {'columns': ['state', 'created_at']},
            {'columns': ['run_date', 'state', 'namespace_name']},
            {'columns': ['updated_at']},
            {'columns': ['denormalized_xid']},
            {'columns': ['input_dataset_uuids'], 'type': 'gin'},
            {'columns': ['output_dataset_uuids'], 'type': 'gin'},
        ],
    )
}}
{#
  The pre-hook's lock makes one writer of these rows at a time (a dbt build, migrata's micro-batches;
  a parallel backfill's ranges take it shared): the table has no unique index to stop two of them
  from inserting the same run twice. `partition_by_never_increases`: a run's `run_date` is the day of
  its first event, and ingestion keeps the earliest (LEAST in python_ops/lineage/ingest.py), so a
  changed run's old row lies in its new partition or a later one, never an earlier one.

  One row per run, everything the lineage graph and the UI queries (dashboard, job listing with the
  latest state, run history, search) need, without joining the normalized tables. A job or dataset is
  its (namespace, name) pair and its id (`migrata_lineage_id`): datasets are kept as parallel arrays of
  ids, namespaces and names, ordered by (namespace, name); never as joined `NS:NAME` strings, which
  cannot tell namespace `a:b` + name `c` from namespace `a` + name `b:c`.
#}

with runs as (
    select * from {{ ref('stg_lineage__runs') }} r
    {{ lineage_changed_runs_filter('r', 'r.updated_at') }}
),

jobs as (
    select * from {{ ref('stg_lineage__jobs') }}
),

final as (
    select
        runs.run_uuid,
        runs.run_date,
        jobs.job_uuid,
        jobs.namespace_name,
        jobs.job_name,
        runs.state,
        runs.created_at,
        runs.updated_at,
        runs.started_at,
        runs.ended_at,
        runs.nominal_start_time,
        runs.nominal_end_time,
        (extract(epoch from runs.ended_at - runs.started_at) * 1000)::bigint as duration_ms,
        runs.parent_run_uuid,
        runs.parent_job_uuid,
        runs.parent_job_namespace,
        runs.parent_job_name,
        coalesce(inputs.uuids, '{}'::uuid[]) as input_dataset_uuids,
        coalesce(inputs.namespaces, '{}'::text[]) as input_dataset_namespaces,
        coalesce(inputs.names, '{}'::text[]) as input_dataset_names,
        coalesce(outputs.uuids, '{}'::uuid[]) as output_dataset_uuids,
        coalesce(outputs.namespaces, '{}'::text[]) as output_dataset_namespaces,
        coalesce(outputs.names, '{}'::text[]) as output_dataset_names,
        coalesce(cardinality(inputs.uuids), 0) as input_count,
        coalesce(cardinality(outputs.uuids), 0) as output_count,
        runs.run_facets as facets,
        now() as denormalized_at,
        -- the writing transaction: lineage_graph_edges picks up rows written since its last build
        pg_current_xact_id() as denormalized_xid
    from runs
    join jobs using (job_uuid)
    -- per run, through the (run_uuid, dataset_uuid) keys: a few index lookups however large the store.
    -- The source tables, not the staging views: through the views Postgres picks a hash join that
    -- scans every dataset once per run.
    left join lateral (
        select
            array_agg(d.uuid order by d.namespace_name, d.name) as uuids,
            array_agg(d.namespace_name order by d.namespace_name, d.name) as namespaces,
            array_agg(d.name order by d.namespace_name, d.name) as names
        from {{ source('lineage', 'lineage_run_inputs') }} x
        join {{ source('lineage', 'lineage_datasets') }} d on d.uuid = x.dataset_uuid
        where x.run_uuid = runs.run_uuid
    ) inputs on true
    left join lateral (
        select
            array_agg(d.uuid order by d.namespace_name, d.name) as uuids,
            array_agg(d.namespace_name order by d.namespace_name, d.name) as namespaces,
            array_agg(d.name order by d.namespace_name, d.name) as names
        from {{ source('lineage', 'lineage_run_outputs') }} x
        join {{ source('lineage', 'lineage_datasets') }} d on d.uuid = x.dataset_uuid
        where x.run_uuid = runs.run_uuid
    ) outputs on true
)

select * from final
