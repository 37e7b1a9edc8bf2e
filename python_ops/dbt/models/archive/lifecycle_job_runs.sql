{{
    config(
        engine='ReplacingMergeTree(__migrated_at)',
        partition_by=['dataset_id', 'toYYYYMM(created_at)'],
        order_by='(dataset_id, created_at, id)',
        incremental_strategy='append',
        meta={'archive': {'id': 'id', 'time': 'created_at', 'dataset': 'dataset_id', 'payload': 'metadata'}},
    )
}}

{{ archive_model('lifecycle_job_runs', time_column='created_at') }}
