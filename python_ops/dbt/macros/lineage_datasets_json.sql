{#
  Parallel arrays of dataset namespaces and names → Marquez's `[{"namespace", "name"}]`, in their order
  (a run's inputDatasets / outputDatasets; part of lineage_run_json).
#}
{% macro lineage_datasets_json(namespaces, names) -%}
    coalesce((SELECT json_agg(json_build_object('namespace', u.a, 'name', u.b) ORDER BY u.o)
                FROM unnest({{ namespaces }}, {{ names }}) WITH ORDINALITY u(a, b, o)), '[]'::json)
{%- endmacro %}
