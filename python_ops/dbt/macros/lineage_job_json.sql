{#
  Marquez's Job (spec/openapi.yml) from a lineage_jobs row `jb` and its latest run `run` (a Run as
  lineage_run_json builds it, or null), its inputs and outputs `inputs` / `outputs` (JSON lists, as
  lineage_datasets_json builds them): the one definition of that shape. dbt renders it into
  lineage_jobs_latest (each job's whole answer stored as text); python_ops/lineage/shapes.py renders the
  same macro for a job whose row changed since (its `updated_at` moved) and for the normalized baseline.
#}
{% macro lineage_job_json(jb, run, inputs, outputs) -%}
    {%- set facets = "coalesce(" ~ jb ~ ".facets, '{}'::jsonb)" -%}
    json_build_object('id', json_build_object('namespace', {{ jb }}.namespace_name, 'name', {{ jb }}.name),
        'type', coalesce(nullif({{ facets }} -> 'jobType' ->> 'processingType', ''), 'BATCH'),
        'name', {{ jb }}.name, 'simpleName', regexp_replace({{ jb }}.name, '^.*[.]', ''),
        'parentJobName', NULL, 'parentJobUuid', NULL,
        'createdAt', {{ lineage_json_ts(jb ~ '.created_at') }}, 'updatedAt', {{ lineage_json_ts(jb ~ '.updated_at') }},
        'namespace', {{ jb }}.namespace_name,
        'inputs', {{ inputs }},
        'outputs', {{ outputs }},
        'location', {{ facets }} -> 'sourceCodeLocation' -> 'url',
        'description', {{ facets }} -> 'documentation' -> 'description',
        'latestRun', {{ run }},
        'latestRuns', CASE WHEN {{ run }} IS NOT NULL THEN json_build_array({{ run }}) ELSE '[]'::json END,
        'facets', {{ facets }})
{%- endmacro %}
