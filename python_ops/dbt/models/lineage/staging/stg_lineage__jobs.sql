with source as (
    select * from {{ source('lineage', 'lineage_jobs') }}
),

renamed as (
    select
        uuid as job_uuid,
        namespace_uuid,
        namespace_name,
        name as job_name,
        facets as job_facets,
        created_at,
        updated_at
    from source
)

select * from renamed
