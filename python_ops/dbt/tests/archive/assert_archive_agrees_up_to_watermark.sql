-- The archive's gate: every row still in Postgres at or below its dataset's watermark is archived in
-- ClickHouse, for each table of MIGRATA_ARCHIVE__TABLES (or only those of the var `archive_gate_tables`).
{%- set only = var('archive_gate_tables', none) %}
{%- set entries = [] %}
{%- for entry in archive_tables() %}
    {%- set relation = ref(entry.name) %}
    {%- if only is none or entry.name in only %}{% do entries.append((entry, relation)) %}{% endif %}
{%- endfor %}
{%- for entry, relation in entries %}
select '{{ entry.name }}' as source_table, toString(src.`{{ entry.id_column }}`) as id
from {{ pg_source('archived', entry.name) }} as src
inner join (
    select dataset_id, watermark_timestamp
    from {{ pg_table(archive_config().watermark_table) }}
    where table_name = '{{ entry.name }}'
) as w on w.dataset_id = src.`{{ entry.dataset_column }}`
where CAST(src.`{{ entry.time_column }}`, 'DateTime64(6, \'UTC\')') <= w.watermark_timestamp
    and toString(src.`{{ entry.id_column }}`) not in (select toString(`{{ entry.id_column }}`) from {{ relation }})
{% if not loop.last %}union all{% endif %}
{%- else %}
select '' as source_table, '' as id where 0
{%- endfor %}
