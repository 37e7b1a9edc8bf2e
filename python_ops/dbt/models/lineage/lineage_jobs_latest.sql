{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        unique_key='job_uuid',
        indexes=[
            {'columns': ['job_uuid'], 'unique': true},
            {'columns': ['namespace_name', 'job_name']},
            {'columns': ['built_xmin']},
        ],
        pre_hook="select pg_advisory_xact_lock(hashtext('migrata.lineage_jobs_latest'))",
        post_hook="{{ create_missing_indexes(this) }}",
    )
}}
{#
  One row per job that has runs: its latest run (the newest by created_at, then run_uuid: the order of
  the run history) with everything Marquez's Job shows of it, and how many runs the job has. The job
  listing and the lineage graph's job nodes read it by key (one probe per job) instead of looking for
  the newest run in every monthly partition of run_lineage_denormalized; the run history reads its
  `run_count` as the total. `job_json` is the job's whole answer, Marquez's Job with that run (macros
  lineage_job_json and lineage_run_json, the shapes' one definition), stored as text: a page of the job
  listing or the graph's job nodes copy it instead of building ~2 KB of JSON per job per request. It
  holds the job's row as of `job_updated_at`: a reader finding lineage_jobs.updated_at moved since (the
  job's facets changed, with no run) builds that job's answer itself.

  Rebuilt per job: the jobs of the runs that changed are looked up again in run_lineage_denormalized.
  Per job, one pass over the (job_uuid, created_at) index of each monthly partition, index only, gives
  its run count and newest created_at; the latest run is then read from the one partition that day
  falls in (lineage_run_date: the partition key is the UTC day of created_at). Ordering the runs of
  every partition newest first instead read one whole row per partition per job (Merge Append starts
  every input): random heap reads that grew with the store (issue 16). Which runs changed: with var
  `migrata_batch: true` those of `pg_temp.migrata_batch_runs` (a micro-batch or the end of a backfill,
  python_ops/lineage/batch.py); in a dbt build, the rows written since the last build (`built_xmin`,
  its max read by index, as lineage_graph_edges). The pre-hook lock makes one writer at a time.
#}

{%- set batch = var('migrata_batch', false) -%}
{%- set empty = var('migrata_empty', false) -%}
{%- set since = none -%}
{%- if execute and not batch and not empty and is_incremental() -%}
    {%- set since = run_query("select max(built_xmin)::text from " ~ this).columns[0].values()[0] -%}
{%- endif %}

with changed_jobs as (
    select distinct r.job_uuid
    from {{ ref('run_lineage_denormalized') }} r
    {% if empty %}
    where false
    {% elif batch %}
    where r.run_uuid in (select b.run_uuid from pg_temp.migrata_batch_runs b)
    {% elif since is not none %}
    where r.denormalized_xid >= '{{ since }}'::xid8
    {% endif %}
)

select
    c.job_uuid,
    latest.namespace_name,
    latest.job_name,
    latest.run_uuid,
    latest.run_date,
    latest.state,
    latest.created_at,
    latest.updated_at,
    latest.started_at,
    latest.ended_at,
    latest.nominal_start_time,
    latest.nominal_end_time,
    latest.duration_ms,
    latest.facets,
    latest.input_dataset_uuids,
    latest.input_dataset_namespaces,
    latest.input_dataset_names,
    latest.output_dataset_uuids,
    latest.output_dataset_namespaces,
    latest.output_dataset_names,
    total.run_count,
    jb.updated_at as job_updated_at,
    {{ lineage_job_json('jb', 'latest_run.body',
        lineage_datasets_json('latest.input_dataset_namespaces', 'latest.input_dataset_names'),
        lineage_datasets_json('latest.output_dataset_namespaces', 'latest.output_dataset_names')) }} as job_json,
    pg_snapshot_xmin(pg_current_snapshot()) as built_xmin
from changed_jobs c
join {{ source('lineage', 'lineage_jobs') }} jb on jb.uuid = c.job_uuid
cross join lateral (
    select count(*)::bigint as run_count, max(r.created_at) as newest
    from {{ ref('run_lineage_denormalized') }} r
    where r.job_uuid = c.job_uuid
) total
-- the newest by created_at, then run_uuid (created_at is never null: a run's first event time)
cross join lateral (
    select r.*
    from {{ ref('run_lineage_denormalized') }} r
    where r.job_uuid = c.job_uuid and r.created_at = total.newest
      and r.run_date = {{ lineage_run_date('total.newest') }}
    order by r.run_uuid desc
    limit 1
) latest
cross join lateral (select {{ lineage_run_json('latest') }} as body) latest_run
