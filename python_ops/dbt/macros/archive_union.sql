{#-
    The one place to query every archived row (the seed's `migrated_data`): each archived model's rows
    once (FINAL), in a common shape. `tables` is a list of (model relation, id, time, dataset, payload
    column). Same view as python_ops/archive/apply.py `refresh_view`.
-#}
{% macro archive_union(tables) -%}
    {%- for relation, id_column, time_column, dataset_column, payload_column in tables %}
    {%- set columns = [] -%}
    {%- if execute -%}
        {%- for col in adapter.get_columns_in_relation(relation) if not col.name.startswith('__') -%}
            {%- do columns.append('`' ~ col.name ~ '`') -%}
        {%- endfor -%}
    {%- endif %}
select
    __source_table, __dataset_slug, __partition_key, __migrated_at,
    toString(`{{ id_column }}`) as id,
    toString(`{{ dataset_column }}`) as dataset_id,
    `{{ time_column }}` as record_time,
    ifNull(toString(`{{ payload_column }}`), '') as payload,
    formatRowNoNewline('JSONEachRow', {{ columns | join(', ') if columns else "''" }}) as record
from {{ relation }} final
{% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}
