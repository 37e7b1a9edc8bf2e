{{ config(materialized='view', alias=var('archive_target_table')) }}

{{ archive_union([
    (ref('dataset_access_audit'), 'id', 'accessed_at', 'dataset_id', 'metadata'),
    (ref('lifecycle_audit_log'), 'id', 'created_at', 'dataset_id', 'payload'),
    (ref('lifecycle_job_runs'), 'id', 'created_at', 'dataset_id', 'metadata'),
]) }}
