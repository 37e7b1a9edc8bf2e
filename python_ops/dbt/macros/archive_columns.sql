{#-
    The columns of an archived Postgres table as [name, udt_name, nullable], in table order. The archive
    run passes them in (var `archive_columns`, read from Postgres' catalog), so compiling never needs
    ClickHouse to reach Postgres; `dbt build` reads information_schema through postgresql().
-#}
{% macro archive_columns(table_name) -%}
    {%- set given = var('archive_columns', {}) -%}
    {%- if table_name in given -%}
        {{ return(given[table_name]) }}
    {%- endif -%}
    {%- set columns = [] -%}
    {%- if execute -%}
        {%- set found = run_query(
            "SELECT column_name, udt_name, is_nullable = 'YES' FROM " ~ pg_table('columns', 'information_schema')
            ~ " WHERE table_schema = 'public' AND table_name = '" ~ table_name ~ "' ORDER BY toInt32(ordinal_position)"
        ) -%}
        {%- for row in found.rows -%}
            {%- do columns.append([row[0], row[1], row[2]]) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(columns) }}
{%- endmacro %}
