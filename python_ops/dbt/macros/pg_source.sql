{#-
    A Postgres source table read from ClickHouse with postgresql() through the named collection
    `var('pg_collection')`: no credentials in SQL. Calling source() records the dependency, so dbt
    and Dagster see that the model reads the Postgres table.
-#}
{% macro pg_source(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    postgresql({{ var('pg_collection') }}, schema='{{ relation.schema }}', table='{{ relation.identifier }}')
{%- endmacro %}
