{#-
    The one place to query every archived row (the seed's `migrated_data`): each archived table's rows
    once (FINAL) in a common shape, over the tables of MIGRATA_ARCHIVE__TABLES that exist. Every table
    is referenced, so dbt builds the tables before the view.
-#}
{% macro archive_union() -%}
    {%- set parts = [] -%}
    {%- for entry in archive_tables() -%}
        {%- set relation = ref(entry.name) -%}
        {%- if not execute or load_relation(relation) is not none -%}
            {%- do parts.append((entry, relation)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for entry, relation in parts %}
    {%- set columns = [] -%}
    {%- if execute -%}
        {%- for col in adapter.get_columns_in_relation(relation) if not col.name.startswith('__') -%}
            {%- do columns.append('`' ~ col.name ~ '`') -%}
        {%- endfor -%}
    {%- endif %}
select
    __source_table, __dataset_slug, __partition_key, __migrated_at,
    toString(`{{ entry.id_column }}`) as id,
    toString(`{{ entry.dataset_column }}`) as dataset_id,
    `{{ entry.time_column }}` as record_time,
    ifNull(toString(`{{ entry.payload_column }}`), '') as payload,
    formatRowNoNewline('JSONEachRow', {{ columns | join(', ') if columns else "''" }}) as record
from {{ relation }} final
{% if not loop.last %}union all{% endif %}
    {%- else %}
select
    CAST('', 'LowCardinality(String)') as __source_table, CAST('', 'LowCardinality(String)') as __dataset_slug,
    '' as __partition_key, now64(6, 'UTC') as __migrated_at, '' as id, '' as dataset_id,
    now64(6, 'UTC') as record_time, '' as payload, '' as record
where 0
    {%- endfor %}
{%- endmacro %}
