{#
  Marquez's Run (spec/openapi.yml) from a row `r` with the columns of run_lineage_denormalized: the one
  definition of that shape. dbt renders it into lineage_jobs_latest (each job's latest run, stored as
  text for the job listing and the graph's job nodes); python_ops/lineage/shapes.py renders the same
  macro for the reads built at request time (run history, one run) and for the normalized baseline,
  which selects its own columns under these names from the normalized tables.
#}
{% macro lineage_run_json(r) -%}
    json_build_object('id', {{ r }}.run_uuid, 'createdAt', {{ lineage_json_ts(r ~ '.created_at') }},
        'updatedAt', {{ lineage_json_ts(r ~ '.updated_at') }},
        'nominalStartTime', {{ lineage_json_ts(r ~ '.nominal_start_time') }},
        'nominalEndTime', {{ lineage_json_ts(r ~ '.nominal_end_time') }},
        'state', {{ lineage_marquez_state(r ~ '.state') }},
        'startedAt', {{ lineage_json_ts(r ~ '.started_at') }}, 'endedAt', {{ lineage_json_ts(r ~ '.ended_at') }},
        'durationMs', {{ r }}.duration_ms, 'args', '{}'::json, 'jobName', {{ r }}.job_name,
        'namespace', {{ r }}.namespace_name,
        'inputDatasets', {{ lineage_datasets_json(r ~ '.input_dataset_namespaces', r ~ '.input_dataset_names') }},
        'outputDatasets', {{ lineage_datasets_json(r ~ '.output_dataset_namespaces', r ~ '.output_dataset_names') }},
        'facets', coalesce({{ r }}.facets, '{}'::jsonb))
{%- endmacro %}
