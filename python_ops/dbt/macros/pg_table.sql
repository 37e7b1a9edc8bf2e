{#-
    A Postgres table read from ClickHouse with postgresql() through the named collection
    `var('pg_collection')` (created by `migrata engines up`): no credentials in SQL.
-#}
{% macro pg_table(table_name, schema='public') -%}
    postgresql({{ var('pg_collection') }}, schema='{{ schema }}', table='{{ table_name }}')
{%- endmacro %}
