{#-
    The model of one archived table, named after its Postgres table (every entry of
    MIGRATA_ARCHIVE__TABLES gets a one-line model `{{ archive_model() }}`, written by
    python_ops.dbt_project). It alone defines the ClickHouse table: a ReplacingMergeTree(__migrated_at)
    ordered by (dataset, time, id), so a row delivered twice collapses into one and every copy is safe
    to repeat, partitioned by dataset and month, with the columns of macro archive_projection. On a
    cluster (macro cluster_engine) the rows of one (dataset, id) go to one shard, so FINAL still
    collapses every copy of a row.

    Two ways to fill it:
    - `dbt build`: every row of a dataset at or below that dataset's watermark, read through
      postgresql(); incrementally only rows not archived yet (the sweep for late rows).
    - the archive run (python_ops/archive) compiles it with the var `archive_slice`
      {"sources": {table: relation}, "dataset_slug": expr}: the rows of `relation` (a placeholder the
      run replaces with one time slice read through postgresql(), or with the rows it pushed into a
      staging table) under the dataset's slug. The run advances the watermarks after verifying.
-#}
{% macro archive_model() -%}
    {%- set entry = archive_entry(model.name) -%}
    {%- set dataset = '`' ~ entry.dataset_column ~ '`' -%}
    {%- set time = '`' ~ entry.time_column ~ '`' -%}
    {%- set id = '`' ~ entry.id_column ~ '`' -%}
    {{ config(
        engine=cluster_engine('ReplacingMergeTree(__migrated_at)'),
        sharding_key='cityHash64(' ~ dataset ~ ', ' ~ id ~ ')',
        partition_by=[dataset, 'toYYYYMM(' ~ time ~ ')'],
        order_by='(' ~ dataset ~ ', ' ~ time ~ ', ' ~ id ~ ')',
        incremental_strategy='append',
    ) }}
    {%- set columns = archive_columns(entry.name) -%}
    {%- set slice = var('archive_slice', {}) -%}
    {%- if entry.name in slice.get('sources', {}) %}
select {{ archive_projection(entry, columns, slice.dataset_slug) }}
from {{ slice.sources[entry.name] }} as src
    {%- else %}
with watermarks as (
    select dataset_id, watermark_timestamp
    from {{ pg_table(archive_config().watermark_table) }}
    where table_name = '{{ entry.name }}'
),

datasets as (
    select id, slug from {{ pg_source('postgres', 'datasets') }}
)

select {{ archive_projection(entry, columns, 'd.slug') }}
from {{ pg_source('archived', entry.name) }} as src
inner join watermarks as w on w.dataset_id = src.{{ dataset }}
inner join datasets as d on d.id = src.{{ dataset }}
where CAST(src.{{ time }}, 'DateTime64(6, \'UTC\')') <= w.watermark_timestamp
        {%- if is_incremental() %}
    and toString(src.{{ id }}) not in (select toString({{ id }}) from {{ this }})
        {%- endif %}
    {%- endif %}
{%- endmacro %}
