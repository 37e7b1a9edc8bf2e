{#
  `true`, or the [min_date, max_date) window of the vars on `column` when a run builds one window
  (a Dagster monthly partition or a range of them): gates then compare only what that run built.
#}
{% macro lineage_window_predicate(column) %}
    {%- if var('min_date', none) and var('max_date', none) -%}
        ({{ column }} >= '{{ var("min_date") }}'::date and {{ column }} < '{{ var("max_date") }}'::date)
    {%- else -%}
        true
    {%- endif -%}
{% endmacro %}
