-- Gate: every dataset a denormalized run read or wrote is an edge of the lineage graph (within the
-- built window when the run built one). Returns the missing edges (fails) if any.
{{ config(meta={'dagster': {'ref': {'name': 'lineage_graph_edges'}}}) }}
with run_edges as (
    select distinct d as source_uuid, r.job_uuid as target_uuid
    from {{ ref('run_lineage_denormalized') }} r, unnest(r.input_dataset_uuids) as d
    where {{ lineage_window_predicate('r.run_date') }}
    union
    select distinct r.job_uuid, d
    from {{ ref('run_lineage_denormalized') }} r, unnest(r.output_dataset_uuids) as d
    where {{ lineage_window_predicate('r.run_date') }}
)

select run_edges.*
from run_edges
left join {{ ref('lineage_graph_edges') }} e using (source_uuid, target_uuid)
where e.source_uuid is null
