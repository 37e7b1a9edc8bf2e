{#-
    migrata's archive settings as dbt sees them: the var `archive`, which `migrata dbt`, the archive run
    and Dagster's resources fill from MIGRATA_ARCHIVE__* (python_ops.dbt_project.dbt_env) as JSON:
    {"tables": [{"name", "id_column", "time_column", "dataset_column", "payload_column"}, ...],
     "target_table": ..., "watermark_table": ...}. Unset (dbt run by hand), it is empty: no archived table.
-#}
{% macro archive_config() -%}
    {%- set raw = var('archive', '{}') -%}
    {%- set value = fromjson(raw) if raw is string else raw -%}
    {{ return(value or {}) }}
{%- endmacro %}
