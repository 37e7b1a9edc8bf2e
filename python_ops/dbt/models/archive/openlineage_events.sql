{{
    config(
        engine=cluster_engine('ReplacingMergeTree(__migrated_at)'),
        order_by='event_id',
        sharding_key='cityHash64(event_id)',
        partition_by='toYYYYMM(event_time)',
        incremental_strategy='append',
    )
}}

with source as (
    select * from {{ pg_source('postgres', 'lineage_events_raw') }}
    {% if is_incremental() %}
    -- watermark on arrival time, with an overlap for transactions that committed late;
    -- rows delivered twice collapse in the ReplacingMergeTree
    where received_at >= (
        select coalesce(max(received_at), toDateTime64(0, 6, 'UTC')) - interval 10 minute from {{ this }}
    )
    {% endif %}
)

select
    toUUID(event_id) as event_id,
    toDateTime64(event_time, 6, 'UTC') as event_time,
    event_type,
    toUUID(run_id) as run_id,
    job_namespace,
    job_name,
    producer,
    toString(payload) as payload,
    toDateTime64(received_at, 6, 'UTC') as received_at,
    now64(6, 'UTC') as __migrated_at
from source
