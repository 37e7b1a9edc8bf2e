{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        unique_key='run_date',
        indexes=[
            {'columns': ['run_date'], 'unique': true},
        ],
        pre_hook="select pg_advisory_xact_lock(hashtext('migrata.lineage_dashboard_daily'))",
    )
}}
{#
  The dashboard's answer per day: one row per run_date with that day's entries of `GET /api/v1/stats/runs`
  already written as JSON (`{"date", "state", "count"}` per Marquez state, in state order, joined by
  commas) and the day's total. The dashboard over the last N days reads N + 1 rows by the unique index
  and joins their texts, instead of grouping and serializing ~30 rows of lineage_run_counts_daily per day
  (10 namespaces x 3 states) on every request.

  Incremental by transaction, in one rule for a dbt build and a micro-batch (var `migrata_batch`): the
  days of the lineage_run_counts_daily rows written (`written_xid`) since this model's last build
  (`built_xmin`: the oldest transaction still running when that build's snapshot was taken) are rebuilt
  from that table; in a micro-batch they are the days its counts just rewrote. A day whose runs all
  went elsewhere keeps a row with 0 runs and no entries, so no stale answer survives; readers skip it.
#}

{%- set batch = var('migrata_batch', false) -%}
{%- set empty = var('migrata_empty', false) -%}

with days as (
    select distinct c.run_date
    from {{ ref('lineage_run_counts_daily') }} c
    {% if empty %}
    where false
    {% elif batch or is_incremental() %}
    where c.written_xid >= (select coalesce(max(t.built_xmin), '0'::xid8) from {{ this }} t)
    {% endif %}
),

per_state as (
    select c.run_date, {{ lineage_marquez_state('c.state') }} as state, sum(c.runs)::bigint as runs
    from {{ ref('lineage_run_counts_daily') }} c
    where c.run_date = any(array(select d.run_date from days d)) and c.runs > 0
    group by 1, 2
)

select
    d.run_date,
    coalesce(string_agg(
        {{ lineage_dashboard_entry('d.run_date', 's.state', 's.runs') }}::text, ','
        order by s.state collate "C"), '') as entries_json,
    coalesce(sum(s.runs), 0)::bigint as runs,
    pg_snapshot_xmin(pg_current_snapshot()) as built_xmin
from days d
left join per_state s on s.run_date = d.run_date
group by d.run_date
