with source as (
    select * from {{ source('lineage', 'lineage_events_raw') }}
),

renamed as (
    select
        event_id,
        event_time,
        upper(event_type) as event_type,
        run_id,
        job_namespace,
        job_name,
        producer,
        received_at
    from source
)

select * from renamed
