{#
  The `where` clause choosing which runs an incremental lineage model (re)builds, `run_alias` being
  the runs relation and `updated_at` the expression of when a row last changed.
  - vars `min_date`/`max_date` (a Dagster monthly partition window): only runs of that window;
  - first build, --full-refresh or `rebuild: true`: every run (of the window);
  - otherwise: runs changed since the newest row already built (of the window), minus a lookback
    (var `lookback_minutes`, default 10) so a transaction that committed late is not missed.
#}
{% macro lineage_changed_runs_filter(run_alias, updated_at) %}
    {%- set min_date = var('min_date', none) -%}
    {%- set max_date = var('max_date', none) -%}
    where true
    {% if min_date and max_date %}
      and {{ run_alias }}.run_date >= '{{ min_date }}'::date and {{ run_alias }}.run_date < '{{ max_date }}'::date
    {% endif %}
    {% if partitioned_is_incremental() and not var("rebuild", false) %}
      and {{ updated_at }} > (
          select coalesce(max(updated_at), '-infinity'::timestamptz)
                 - interval '{{ var("lookback_minutes", 10) | int }} minutes'
            from {{ this }}
          {% if min_date and max_date %}
           where run_date >= '{{ min_date }}'::date and run_date < '{{ max_date }}'::date
          {% endif %}
      )
    {% endif %}
{% endmacro %}
