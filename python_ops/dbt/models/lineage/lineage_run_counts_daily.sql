{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        unique_key=['run_date', 'state', 'namespace_name'],
        indexes=[
            {'columns': ['run_date', 'state', 'namespace_name'], 'unique': true},
        ],
        pre_hook="select pg_advisory_xact_lock(hashtext('migrata.lineage_run_counts_daily'))",
    )
}}
{#
  Runs per (run_date, state, namespace): the dashboard's counts, read as a handful of rows instead of
  counting the last days' runs on every request.

  Incremental by day: the days a change touched are counted again from run_lineage_denormalized (an
  index-only range scan of (run_date, state, namespace_name) in the day's partition) and replace their
  rows. A (day, state, namespace) that no longer has runs (its runs moved to another state) is written
  with 0 runs, so no stale count survives; readers skip zeros. Which days a change touched:
  - var `migrata_batch: true`: the days of the runs of `pg_temp.migrata_batch_runs` now, and the days
    they were on before the batch (`pg_temp.migrata_batch_days`, filled by python_ops/lineage/batch.py
    before run_lineage_denormalized is replaced: a late event can move a run to an earlier day);
  - a dbt build: the days of the rows written since the last build (`built_xmin`) up to the newest
    day counted (a moved run's former day lies between them); the first build: every day.
  Each row keeps the transaction that wrote it (`written_xid`): lineage_dashboard_daily rebuilds the
  days written since its own last build.
#}

{%- set batch = var('migrata_batch', false) -%}
{%- set empty = var('migrata_empty', false) -%}
{%- set since = none -%}
{%- if execute and not batch and not empty and is_incremental() -%}
    {%- set since = run_query("select max(built_xmin)::text from " ~ this).columns[0].values()[0] -%}
{%- endif %}
{%- set incremental = batch or (is_incremental() and since is not none) %}

with days as (
    {% if empty %}
    select null::date as run_date where false
    {% elif batch %}
    select r.run_date from {{ ref('run_lineage_denormalized') }} r
    where r.run_uuid in (select b.run_uuid from pg_temp.migrata_batch_runs b)
    union
    select d.run_date from pg_temp.migrata_batch_days d
    {% elif since is not none %}
    select generate_series(
        (select min(r.run_date) from {{ ref('run_lineage_denormalized') }} r
          where r.denormalized_xid >= '{{ since }}'::xid8),
        (select max(t.run_date) from {{ this }} t), interval '1 day')::date as run_date
    union
    select r.run_date from {{ ref('run_lineage_denormalized') }} r
    where r.denormalized_xid >= '{{ since }}'::xid8
    {% else %}
    select distinct r.run_date from {{ ref('run_lineage_denormalized') }} r
    {% endif %}
),

counted as (
    select r.run_date, r.state, r.namespace_name, count(*)::bigint as runs
    from {{ ref('run_lineage_denormalized') }} r
    where r.run_date = any(array(select d.run_date from days d))
    group by r.run_date, r.state, r.namespace_name
)

{% if incremental %}
, kept as (
    select t.run_date, t.state, t.namespace_name
    from {{ this }} t
    where t.run_date = any(array(select d.run_date from days d))
)

select
    run_date,
    state,
    namespace_name,
    coalesce(c.runs, 0)::bigint as runs,
    pg_snapshot_xmin(pg_current_snapshot()) as built_xmin,
    pg_current_xact_id() as written_xid
from counted c
full join kept k using (run_date, state, namespace_name)
{% else %}
select
    run_date,
    state,
    namespace_name,
    runs,
    pg_snapshot_xmin(pg_current_snapshot()) as built_xmin,
    pg_current_xact_id() as written_xid
from counted
{% endif %}
