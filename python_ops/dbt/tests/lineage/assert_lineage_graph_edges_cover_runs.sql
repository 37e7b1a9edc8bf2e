-- Gate: every dataset a denormalized run read or wrote is an edge of the lineage graph (within the
-- built window when the run built one). Returns the missing edges (fails) if any.
{{ config(meta={'dagster': {'ref': {'name': 'lineage_graph_edges'}}}) }}
with run_edges as (
    select distinct 'dataset:' || d as source_node, 'job:' || r.job_key as target_node
    from {{ ref('run_lineage_denormalized') }} r, unnest(r.input_datasets) as d
    where {{ lineage_window_predicate('r.run_date') }}
    union
    select distinct 'job:' || r.job_key, 'dataset:' || d
    from {{ ref('run_lineage_denormalized') }} r, unnest(r.output_datasets) as d
    where {{ lineage_window_predicate('r.run_date') }}
)

select run_edges.*
from run_edges
left join {{ ref('lineage_graph_edges') }} e using (source_node, target_node)
where e.source_node is null
