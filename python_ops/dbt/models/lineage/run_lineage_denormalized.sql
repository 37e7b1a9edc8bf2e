{{
    config(
        materialized='partitioned_incremental',
        partition_by='run_date',
        unique_key='run_uuid',
        partition_indexes=[
            {'columns': ['run_uuid']},
            {'columns': ['job_key', 'created_at']},
            {'columns': ['namespace_name', 'job_name', 'created_at']},
            {'columns': ['state', 'created_at']},
            {'columns': ['updated_at']},
            {'columns': ['denormalized_xid']},
            {'columns': ['input_datasets'], 'type': 'gin'},
            {'columns': ['output_datasets'], 'type': 'gin'},
        ],
    )
}}
{#
  One row per run, everything the lineage graph and the UI queries (dashboard, job listing with the
  latest state, run history, search) need, without joining the normalized tables. Datasets are kept as
  NAMESPACE:NAME keys in arrays (GIN-indexed), the lineage-graph node ids.
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
        jobs.job_key,
        runs.state,
        runs.created_at,
        runs.updated_at,
        runs.started_at,
        runs.ended_at,
        runs.nominal_start_time,
        runs.nominal_end_time,
        (extract(epoch from runs.ended_at - runs.started_at) * 1000)::bigint as duration_ms,
        runs.parent_run_uuid,
        runs.parent_job_namespace,
        runs.parent_job_name,
        coalesce(inputs.dataset_uuids, '{}'::uuid[]) as input_dataset_uuids,
        coalesce(inputs.dataset_keys, '{}'::text[]) as input_datasets,
        coalesce(outputs.dataset_uuids, '{}'::uuid[]) as output_dataset_uuids,
        coalesce(outputs.dataset_keys, '{}'::text[]) as output_datasets,
        coalesce(cardinality(inputs.dataset_keys), 0) as input_count,
        coalesce(cardinality(outputs.dataset_keys), 0) as output_count,
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
            array_agg(d.uuid order by d.namespace_name || ':' || d.name) as dataset_uuids,
            array_agg(d.namespace_name || ':' || d.name order by d.namespace_name || ':' || d.name) as dataset_keys
        from {{ source('lineage', 'lineage_run_inputs') }} x
        join {{ source('lineage', 'lineage_datasets') }} d on d.uuid = x.dataset_uuid
        where x.run_uuid = runs.run_uuid
    ) inputs on true
    left join lateral (
        select
            array_agg(d.uuid order by d.namespace_name || ':' || d.name) as dataset_uuids,
            array_agg(d.namespace_name || ':' || d.name order by d.namespace_name || ':' || d.name) as dataset_keys
        from {{ source('lineage', 'lineage_run_outputs') }} x
        join {{ source('lineage', 'lineage_datasets') }} d on d.uuid = x.dataset_uuid
        where x.run_uuid = runs.run_uuid
    ) outputs on true
)

select * from final
