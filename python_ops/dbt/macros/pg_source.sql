{#-
    A declared Postgres source read from ClickHouse (macro pg_table). Calling source() records the
    dependency, so dbt and Dagster see that the model reads the Postgres table.
-#}
{% macro pg_source(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {{ pg_table(relation.identifier, relation.schema) }}
{%- endmacro %}
