{#
  A timestamptz as Marquez writes times: ISO-8601 in UTC with microseconds and `Z`
  (`2026-01-02T03:04:05.000000Z`); null stays null. Part of the Marquez Run shape (lineage_run_json),
  rendered by dbt (lineage_jobs_latest) and by python_ops/lineage/shapes.py (the reads).
#}
{% macro lineage_json_ts(expr) -%}
    to_char({{ expr }} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
{%- endmacro %}
