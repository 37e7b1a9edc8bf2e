{{
    config(
        materialized='partitioned_incremental',
        partition_by='run_date',
        partition_by_never_increases=true,
        unique_key='run_uuid',
        pre_hook="select pg_advisory_xact_lock(hashtext('migrata.run_parent_lineage_denormalized'))",
        partition_indexes=[
            {'columns': ['run_uuid']},
            {'columns': ['parent_run_uuid']},
            {'columns': ['parent_job_uuid', 'created_at']},
            {'columns': ['updated_at']},
        ],
    )
}}
{#
  The pre-hook's lock makes one writer of these rows at a time (a dbt build, migrata's micro-batches;
  a parallel backfill's ranges take it shared): the table has no unique index to stop two of them
  from inserting the same run twice. `partition_by_never_increases`: a run's `run_date` is the day of
  its first event, and ingestion keeps the earliest (LEAST in python_ops/lineage/ingest.py), so a
  changed run's old row lies in its new partition or a later one, never an earlier one.

  One row per run that has a parent (OpenLineage parent run facet): the child run beside its parent
  run and parent job, so "child runs of this run/job" needs no join. The parent run may be unknown to
  the store (only named in the facet); its state then stays null. A row changes when the child or the
  parent run changes, so `updated_at` is the later of both.
#}

-- The runs are looked up with `= any(array(...))`, an index scan whatever the planner guesses about
-- how many runs changed; `runs` as a CTE referenced more than once would be materialized whole (every
-- run, spilled to disk), and joins against the changed runs got planned as hash joins scanning every run.
with jobs as (
    select * from {{ ref('stg_lineage__jobs') }}
),

changed as (
    select r.run_uuid, r.parent_run_uuid from {{ ref('stg_lineage__runs') }} r
    {{ lineage_changed_runs_filter('r', 'r.updated_at') }}
),

-- children that changed themselves, and children whose parent run changed
child_ids as (
    select ch.run_uuid from changed ch where ch.parent_run_uuid is not null
    union
    select c.run_uuid from {{ ref('stg_lineage__runs') }} c
    where c.parent_run_uuid = any(array(select ch.run_uuid from changed ch))
      and c.parent_run_uuid is not null and {{ lineage_window_predicate('c.run_date') }}
),

final as (
    select
        c.run_uuid,
        c.run_date,
        jobs.job_uuid,
        jobs.namespace_name,
        jobs.job_name,
        c.state,
        c.created_at,
        greatest(c.updated_at, parent.updated_at) as updated_at,
        c.started_at,
        c.ended_at,
        c.parent_run_uuid,
        c.parent_job_namespace,
        c.parent_job_name,
        c.parent_job_uuid,
        parent.state as parent_state,
        parent.started_at as parent_started_at,
        parent.ended_at as parent_ended_at,
        now() as denormalized_at
    from {{ ref('stg_lineage__runs') }} c
    join jobs using (job_uuid)
    -- the source table, for a primary-key lookup per child (see run_lineage_denormalized)
    left join lateral (
        select p.state, p.started_at, p.ended_at, p.updated_at
        from {{ source('lineage', 'lineage_runs') }} p
        where p.uuid = c.parent_run_uuid
    ) parent on true
    where c.run_uuid = any(array(select k.run_uuid from child_ids k))
)

select * from final
