with source as (
    select * from {{ source('lineage', 'lineage_datasets') }}
),

renamed as (
    select
        uuid as dataset_uuid,
        namespace_uuid,
        namespace_name,
        name as dataset_name,
        facets as dataset_facets,
        created_at,
        updated_at
    from source
)

select * from renamed
