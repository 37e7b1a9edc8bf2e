-- Every raw event that arrived in Postgres up to the archive's watermark is in ClickHouse exactly once.
with pg as (
    select toUUID(event_id) as event_id
    from {{ pg_source('postgres', 'lineage_events_raw') }}
    where received_at <= (select max(received_at) from {{ ref('openlineage_events') }})
),
ch as (
    select event_id, count() as copies from {{ ref('openlineage_events') }} final group by event_id
)
select pg.event_id, ch.copies
from pg left join ch on pg.event_id = ch.event_id
where ch.copies is null or ch.copies != 1
