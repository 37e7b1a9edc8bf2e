-- Every row still in Postgres at or below its dataset's watermark is archived in ClickHouse.
{%- set tables = [
    ('dataset_access_audit', 'accessed_at'),
    ('lifecycle_audit_log', 'created_at'),
    ('lifecycle_job_runs', 'created_at'),
] %}
{% for table_name, time_column in tables %}
select '{{ table_name }}' as source_table, toString(src.id) as id
from {{ pg_source('postgres', table_name) }} as src
inner join (
    select dataset_id, watermark_timestamp
    from {{ pg_source('postgres', 'migration_watermarks') }}
    where table_name = '{{ table_name }}'
) as w on w.dataset_id = src.dataset_id
where CAST(src.`{{ time_column }}`, 'DateTime64(6, \'UTC\')') <= w.watermark_timestamp
    and toString(src.id) not in (select toString(id) from {{ ref(table_name) }})
{% if not loop.last %}union all{% endif %}
{% endfor %}
