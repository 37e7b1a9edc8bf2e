{#- The entry of MIGRATA_ARCHIVE__TABLES for `table_name` (its id, time, dataset and payload columns). -#}
{% macro archive_entry(table_name) -%}
    {%- for entry in archive_tables() if entry.name == table_name -%}
        {{ return(entry) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error(
        "archived table " ~ table_name ~ " is not in MIGRATA_ARCHIVE__TABLES; run dbt through `migrata dbt`"
    ) }}
{%- endmacro %}
