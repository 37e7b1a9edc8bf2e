-- Gate: every normalized run has exactly one denormalized row and vice versa (row-count parity),
-- within the built window when the run built one. Returns a row (fails) when the counts differ.
{{ config(meta={'dagster': {'ref': {'name': 'run_lineage_denormalized'}}}) }}
with normalized as (
    select count(*) as n from {{ ref('stg_lineage__runs') }}
    where {{ lineage_window_predicate('run_date') }}
),

denormalized as (
    select count(*) as n from {{ ref('run_lineage_denormalized') }}
    where {{ lineage_window_predicate('run_date') }}
)

select normalized.n as normalized_runs, denormalized.n as denormalized_runs
from normalized, denormalized
where normalized.n <> denormalized.n
