with source as (
    select * from {{ source('lineage', 'lineage_run_inputs') }}
),

renamed as (
    select
        run_uuid,
        dataset_uuid,
        facets as input_facets,
        created_at
    from source
)

select * from renamed
