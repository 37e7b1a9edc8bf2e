with source as (
    select * from {{ source('lineage', 'lineage_run_outputs') }}
),

renamed as (
    select
        run_uuid,
        dataset_uuid,
        facets as output_facets,
        created_at
    from source
)

select * from renamed
