{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        unique_key=['source_uuid', 'target_uuid'],
        indexes=[
            {'columns': ['source_uuid', 'target_uuid'], 'unique': true},
            {'columns': ['target_uuid', 'source_uuid']},
            {'columns': ['built_xmin']},
        ],
        pre_hook="select pg_advisory_xact_lock(hashtext('migrata.lineage_graph_edges'))",
        post_hook="{{ create_missing_indexes(this) }}",
    )
}}
{#
  The lineage graph: one row per distinct edge, dataset → job (`reads`: the job read it) and job →
  dataset (`writes`). Nodes are ids (migrata_lineage_id) with their kind, namespace and name beside
  them; a node id such as `dataset:NS:NAME` is only rendered at the edges (CLI, HTTP). A depth-N
  lineage query walks these edges, a few index probes per level, instead of every run of every job.

  Two sources: edges seen in runs (from run_lineage_denormalized; first and last run date), and static
  edges a JobEvent declared (lineage_job_io; `is_static`, no run date unless runs saw them too). An edge
  seen again keeps its first run date and extends its last; edges are removed only by retention (runs
  older than the cutoff), and a static edge stays.

  Incremental by transaction, not by time: each run_lineage_denormalized row (and each lineage_job_io
  row) carries the id of the transaction that wrote it, and each build records the oldest transaction
  still running when its snapshot was taken (`built_xmin`); the next build reads only rows written by
  that transaction or newer (the max of `built_xmin`: an index probe, where a scan of every edge grew
  with the store). With var `migrata_batch: true` the runs are those of
  `pg_temp.migrata_batch_runs` and the jobs those of `pg_temp.migrata_batch_jobs` (a micro-batch run
  by python_ops/lineage/batch.py from this model's compiled SQL). The pre-hook lock serializes
  concurrent dbt builds so their delete + insert of the same edge cannot collide.
#}

{%- set batch = var('migrata_batch', false) -%}
{%- set empty = var('migrata_empty', false) -%}
{%- set since = none -%}
{%- if execute and not batch and not empty and is_incremental()
      and 'built_xmin' in (adapter.get_columns_in_relation(this) | map(attribute='name') | list) -%}
    {%- set since = run_query("select max(built_xmin)::text from " ~ this).columns[0].values()[0] -%}
{%- endif %}

with changed as (
    select r.job_uuid, r.namespace_name, r.job_name, r.run_date,
           r.input_dataset_uuids, r.input_dataset_namespaces, r.input_dataset_names,
           r.output_dataset_uuids, r.output_dataset_namespaces, r.output_dataset_names
    from {{ ref('run_lineage_denormalized') }} r
    {% if empty %}
    where false
    {% elif batch %}
    where r.run_uuid in (select b.run_uuid from pg_temp.migrata_batch_runs b)
    {% elif since is not none %}
    where r.denormalized_xid >= '{{ since }}'::xid8
        {%- if var('rebuild', false) and var('min_date', none) and var('max_date', none) %}
        or (r.run_date >= '{{ var("min_date") }}'::date and r.run_date < '{{ var("max_date") }}'::date)
        {%- endif %}
    {% endif %}
),

static as (
    select io.direction, io.job_uuid, j.namespace_name as job_namespace, j.name as job_name,
           io.dataset_uuid, d.namespace_name as dataset_namespace, d.name as dataset_name
    from {{ source('lineage', 'lineage_job_io') }} io
    join {{ source('lineage', 'lineage_jobs') }} j on j.uuid = io.job_uuid
    join {{ source('lineage', 'lineage_datasets') }} d on d.uuid = io.dataset_uuid
    {% if empty %}
    where false
    {% elif batch %}
    where io.job_uuid in (select b.job_uuid from pg_temp.migrata_batch_jobs b)
    {% elif since is not none %}
    where io.changed_xid >= '{{ since }}'::xid8
    {% endif %}
),

seen as (
    select 'dataset' as source_kind, d.uuid as source_uuid, d.ns as source_namespace, d.name as source_name,
           'job' as target_kind, c.job_uuid as target_uuid, c.namespace_name as target_namespace,
           c.job_name as target_name, 'reads' as edge_type, c.run_date, false as is_static
    from changed c, unnest(c.input_dataset_uuids, c.input_dataset_namespaces, c.input_dataset_names) as d(uuid, ns, name)
    union all
    select 'job', c.job_uuid, c.namespace_name, c.job_name,
           'dataset', d.uuid, d.ns, d.name, 'writes', c.run_date, false
    from changed c, unnest(c.output_dataset_uuids, c.output_dataset_namespaces, c.output_dataset_names) as d(uuid, ns, name)
    union all
    select 'dataset', s.dataset_uuid, s.dataset_namespace, s.dataset_name,
           'job', s.job_uuid, s.job_namespace, s.job_name, 'reads', null::date, true
    from static s where s.direction = 'input'
    union all
    select 'job', s.job_uuid, s.job_namespace, s.job_name,
           'dataset', s.dataset_uuid, s.dataset_namespace, s.dataset_name, 'writes', null::date, true
    from static s where s.direction = 'output'
),

edges as (
    select
        source_uuid,
        target_uuid,
        min(source_kind) as source_kind,
        min(source_namespace) as source_namespace,
        min(source_name) as source_name,
        min(target_kind) as target_kind,
        min(target_namespace) as target_namespace,
        min(target_name) as target_name,
        min(edge_type) as edge_type,
        min(run_date) as first_run_date,
        max(run_date) as last_run_date,
        bool_or(is_static) as is_static,
        pg_snapshot_xmin(pg_current_snapshot()) as built_xmin
    from seen
    group by source_uuid, target_uuid
)

{% if batch or is_incremental() %}
select
    e.source_uuid,
    e.target_uuid,
    e.source_kind,
    e.source_namespace,
    e.source_name,
    e.target_kind,
    e.target_namespace,
    e.target_name,
    e.edge_type,
    least(e.first_run_date, old.first_run_date) as first_run_date,
    greatest(e.last_run_date, old.last_run_date) as last_run_date,
    e.is_static or coalesce(old.is_static, false) as is_static,
    e.built_xmin
from edges e
left join {{ this }} old using (source_uuid, target_uuid)
{% else %}
select * from edges
{% endif %}
