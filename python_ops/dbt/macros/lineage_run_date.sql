{#
  A run's `run_date` (the partition key of the denormalized lineage tables) from its creation time (its
  first event's time): the UTC day it falls on. The one definition of that rule: stg_lineage__runs
  renders it, and lineage_jobs_latest finds a run's partition from its `created_at` with it.
#}
{% macro lineage_run_date(expr) -%}
    (({{ expr }}) at time zone 'UTC')::date
{%- endmacro %}
