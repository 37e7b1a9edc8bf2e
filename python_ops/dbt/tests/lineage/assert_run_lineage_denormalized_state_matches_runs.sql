-- Gate: the denormalized state and end time of every run match the normalized run (changed runs were
-- updated), within the built window when the run built one.
{{ config(meta={'dagster': {'ref': {'name': 'run_lineage_denormalized'}}}) }}
select r.run_uuid, r.state as normalized_state, d.state as denormalized_state
from {{ ref('stg_lineage__runs') }} r
join {{ ref('run_lineage_denormalized') }} d on d.run_uuid = r.run_uuid
where {{ lineage_window_predicate('r.run_date') }}
  and (d.state is distinct from r.state or d.ended_at is distinct from r.ended_at)
