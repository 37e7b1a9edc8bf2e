{#-
    One archived table on ClickHouse, built from its Postgres table through postgresql() (named
    collection, no credentials): every row of a dataset at or below that dataset's watermark in
    `migration_watermarks`, with explicit column types and the enrichment columns __migrated_at,
    __source_table, __dataset_slug, __partition_key. Incrementally only rows not archived yet are
    added, which is the sweep for late rows; the Python archive run (python_ops/archive) advances the
    watermarks with verified copies into the same table. Types follow python_ops/archive/schema.py
    (a test builds both and compares them).
-#}
{% macro archive_model(table_name, time_column, id_column='id', dataset_column='dataset_id') -%}
    {%- set scalar = {
        'text': 'String', 'varchar': 'String', 'bpchar': 'String', 'name': 'String', 'citext': 'String',
        'json': 'String', 'jsonb': 'String', 'int2': 'Int16', 'int4': 'Int32', 'int8': 'Int64',
        'float4': 'Float32', 'float8': 'Float64', 'bool': 'Bool', 'uuid': 'UUID', 'date': 'Date32',
        'timestamptz': "DateTime64(6, 'UTC')", 'timestamp': 'DateTime64(6)',
    } -%}
    {%- set columns = [] -%}
    {%- if execute -%}
        {%- set found = run_query(
            "SELECT column_name, udt_name, is_nullable FROM postgresql(" ~ var('pg_collection')
            ~ ", schema='information_schema', table='columns') WHERE table_schema = 'public' AND table_name = '"
            ~ table_name ~ "' ORDER BY toInt32(ordinal_position)"
        ) -%}
        {%- for row in found.rows -%}
            {%- if row[1].startswith('_') -%}
                {%- set ch_type = 'Array(Nullable(' ~ scalar.get(row[1][1:], 'String') ~ '))' -%}
            {%- elif row[2] == 'YES' -%}
                {%- set ch_type = 'Nullable(' ~ scalar.get(row[1], 'String') ~ ')' -%}
            {%- else -%}
                {%- set ch_type = scalar.get(row[1], 'String') -%}
            {%- endif -%}
            {%- do columns.append((row[0], ch_type)) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set time_utc = "CAST(src.`" ~ time_column ~ "`, 'DateTime64(6, \\'UTC\\')')" %}
with watermarks as (
    select dataset_id, watermark_timestamp
    from {{ pg_source('postgres', 'migration_watermarks') }}
    where table_name = '{{ table_name }}'
),

datasets as (
    select id, slug from {{ pg_source('postgres', 'datasets') }}
)

select
    {%- for name, ch_type in columns %}
    CAST(src.`{{ name }}`, '{{ ch_type | replace("'", "\\'") }}') as `{{ name }}`,
    {%- endfor %}
    now64(6, 'UTC') as __migrated_at,
    CAST('{{ table_name }}', 'LowCardinality(String)') as __source_table,
    CAST(d.slug, 'LowCardinality(String)') as __dataset_slug,
    concat(d.slug, '/', toString(toYYYYMM({{ time_utc }}))) as __partition_key
from {{ pg_source('postgres', table_name) }} as src
inner join watermarks as w on w.dataset_id = src.`{{ dataset_column }}`
inner join datasets as d on d.id = src.`{{ dataset_column }}`
where {{ time_utc }} <= w.watermark_timestamp
{%- if is_incremental() %}
    and toString(src.`{{ id_column }}`) not in (select toString(`{{ id_column }}`) from {{ this }})
{%- endif %}
{%- endmacro %}
