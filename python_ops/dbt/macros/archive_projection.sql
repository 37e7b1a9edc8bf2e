{#-
    The select list turning a Postgres row (alias `src`) into an archived row: every column cast to its
    ClickHouse type (macro archive_column_type), then the enrichment columns __migrated_at,
    __source_table, __dataset_slug (`slug` is a SQL expression) and __partition_key (slug/YYYYMM).
-#}
{% macro archive_projection(entry, columns, slug) -%}
    {%- set time_utc = "CAST(src.`" ~ entry.time_column ~ "`, 'DateTime64(6, \\'UTC\\')')" -%}
    {%- for name, udt_name, nullable in columns %}
    CAST(src.`{{ name }}`, '{{ archive_column_type(udt_name, nullable) | replace("'", "\\'") }}') as `{{ name }}`,
    {%- endfor %}
    now64(6, 'UTC') as __migrated_at,
    CAST('{{ entry.name }}', 'LowCardinality(String)') as __source_table,
    CAST({{ slug }}, 'LowCardinality(String)') as __dataset_slug,
    concat({{ slug }}, '/', toString(toYYYYMM({{ time_utc }}))) as __partition_key
{%- endmacro %}
