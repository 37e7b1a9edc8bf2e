-- Gate: no row sits in a DEFAULT partition of the denormalized tables (every month has its partition).
{{ config(meta={'dagster': {'ref': {'name': 'run_lineage_denormalized'}}}) }}
{%- set rld = ref('run_lineage_denormalized') -%}
{%- set rpld = ref('run_parent_lineage_denormalized') %}
select '{{ rld.identifier }}_default' as partition_name, count(*) as rows_in_default
from {{ rld.incorporate(path={"identifier": rld.identifier ~ "_default"}) }}
having count(*) > 0

union all

select '{{ rpld.identifier }}_default', count(*)
from {{ rpld.incorporate(path={"identifier": rpld.identifier ~ "_default"}) }}
having count(*) > 0
