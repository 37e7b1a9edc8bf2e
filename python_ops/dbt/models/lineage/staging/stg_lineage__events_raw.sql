with source as (
    select * from {{ source('lineage', 'lineage_events_raw') }}
),

renamed as (
    select
        event_id,
        event_kind,
        event_time,
        upper(event_type) as event_type,
        run_id,
        job_namespace,
        job_name,
        dataset_namespace,
        dataset_name,
        producer,
        received_at
    from source
)

select * from renamed
