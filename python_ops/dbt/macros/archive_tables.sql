{#- The archived tables, in the order of MIGRATA_ARCHIVE__TABLES: the one list every archive model reads. -#}
{% macro archive_tables() -%}
    {{ return(archive_config().get('tables', [])) }}
{%- endmacro %}
