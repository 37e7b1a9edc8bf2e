{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        unique_key=['source_node', 'target_node'],
        indexes=[
            {'columns': ['source_node', 'target_node'], 'unique': true},
            {'columns': ['target_node', 'source_node']},
        ],
        pre_hook="select pg_advisory_xact_lock(hashtext('migrata.lineage_graph_edges'))",
    )
}}
{#
  The lineage graph: one row per distinct edge ever seen in a run, dataset → job (`reads`: the job
  read it) and job → dataset (`writes`), node ids as the graph query prints them (`dataset:NS:NAME`,
  `job:NS:NAME`). A depth-N lineage query walks these edges, a few index probes per level, instead of
  every run of every job on its way. An edge seen again keeps its first run date and extends its last;
  edges are never removed (runs only gain datasets; --full-refresh rebuilds them all).

  Incremental by transaction, not by time: each run_lineage_denormalized row carries the id of the
  transaction that wrote it (`denormalized_xid`), and each build records the oldest transaction still
  running when its snapshot was taken (`built_xmin`). Every transaction older than that had finished,
  so its rows were seen; the next build reads only rows written by that transaction or newer. A
  backfill that rewrote a million old runs is read once, with no time lookback to read it again.
  With vars min_date/max_date and `rebuild: true` (a Dagster month rebuild) the month's runs are
  read as well. The pre-hook lock serializes concurrent builds (one Dagster run per month) so their
  delete + insert of the same edge cannot collide.
#}

{%- set since = none -%}
{%- if execute and is_incremental()
      and 'built_xmin' in (adapter.get_columns_in_relation(this) | map(attribute='name') | list) -%}
    {%- set since = run_query("select max(built_xmin)::text from " ~ this).columns[0].values()[0] -%}
{%- endif %}

with changed as (
    select r.job_key, r.run_date, r.input_datasets, r.output_datasets
    from {{ ref('run_lineage_denormalized') }} r
    {% if since is not none %}
    where r.denormalized_xid >= '{{ since }}'::xid8
        {%- if var('rebuild', false) and var('min_date', none) and var('max_date', none) %}
        or (r.run_date >= '{{ var("min_date") }}'::date and r.run_date < '{{ var("max_date") }}'::date)
        {%- endif %}
    {% endif %}
),

seen as (
    select 'dataset:' || d as source_node, 'job:' || job_key as target_node, 'reads' as edge_type, run_date
    from changed, unnest(input_datasets) as d
    union all
    select 'job:' || job_key, 'dataset:' || d, 'writes', run_date
    from changed, unnest(output_datasets) as d
),

edges as (
    select
        source_node,
        target_node,
        edge_type,
        min(run_date) as first_run_date,
        max(run_date) as last_run_date,
        pg_snapshot_xmin(pg_current_snapshot()) as built_xmin
    from seen
    group by source_node, target_node, edge_type
)

{% if is_incremental() %}
select
    e.source_node,
    e.target_node,
    e.edge_type,
    least(e.first_run_date, old.first_run_date) as first_run_date,
    greatest(e.last_run_date, old.last_run_date) as last_run_date,
    e.built_xmin
from edges e
left join {{ this }} old using (source_node, target_node)
{% else %}
select * from edges
{% endif %}
