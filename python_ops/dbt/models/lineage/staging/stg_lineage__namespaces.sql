with source as (
    select * from {{ source('lineage', 'lineage_namespaces') }}
),

renamed as (
    select
        uuid as namespace_uuid,
        name as namespace_name,
        created_at,
        updated_at
    from source
)

select * from renamed
