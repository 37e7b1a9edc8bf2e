with source as (
    select * from {{ source('lineage', 'lineage_runs') }}
),

renamed as (
    select
        uuid as run_uuid,
        job_uuid,
        state,
        started_at,
        ended_at,
        nominal_start_time,
        nominal_end_time,
        parent_run_uuid,
        parent_job_namespace,
        parent_job_name,
        migrata_lineage_id('job', parent_job_namespace, parent_job_name) as parent_job_uuid,
        facets as run_facets,
        first_event_time as created_at,
        {{ lineage_run_date('first_event_time') }} as run_date,
        updated_at,
        changed_xid
    from source
)

select * from renamed
