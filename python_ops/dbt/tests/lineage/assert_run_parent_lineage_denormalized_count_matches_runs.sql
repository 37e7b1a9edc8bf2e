-- Gate: every normalized run with a parent has exactly one row in run_parent_lineage_denormalized
-- (within the built window when the run built one).
{{ config(meta={'dagster': {'ref': {'name': 'run_parent_lineage_denormalized'}}}) }}
with normalized as (
    select count(*) as n from {{ ref('stg_lineage__runs') }}
    where parent_run_uuid is not null and {{ lineage_window_predicate('run_date') }}
),

denormalized as (
    select count(*) as n from {{ ref('run_parent_lineage_denormalized') }}
    where {{ lineage_window_predicate('run_date') }}
)

select normalized.n as normalized_child_runs, denormalized.n as denormalized_child_runs
from normalized, denormalized
where normalized.n <> denormalized.n
