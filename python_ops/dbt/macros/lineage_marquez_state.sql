{#
  An OpenLineage run state (the event type of the run's latest state) as Marquez's run state: the one
  definition of that map. OTHER never moves a run on: NEW. python_ops/lineage/shapes.py reads the map
  from this macro (MARQUEZ_STATE) and renders it for the reads.
#}
{% macro lineage_marquez_state(expr) -%}
    {%- set marquez = {'START': 'RUNNING', 'RUNNING': 'RUNNING', 'COMPLETE': 'COMPLETED', 'FAIL': 'FAILED',
                       'ABORT': 'ABORTED', 'OTHER': 'NEW'} -%}
    (CASE {{ expr }}{% for ol, mq in marquez.items() %} WHEN '{{ ol }}' THEN '{{ mq }}'{% endfor %} ELSE 'NEW' END)
{%- endmacro %}
