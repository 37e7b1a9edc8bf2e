{{
    config(
        engine='ReplacingMergeTree(__migrated_at)',
        partition_by=['dataset_id', 'toYYYYMM(accessed_at)'],
        order_by='(dataset_id, accessed_at, id)',
        incremental_strategy='append',
        meta={'archive': {'id': 'id', 'time': 'accessed_at', 'dataset': 'dataset_id', 'payload': 'metadata'}},
    )
}}

{{ archive_model('dataset_access_audit', time_column='accessed_at') }}
