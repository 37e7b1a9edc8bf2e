{#
  One entry of the dashboard (`GET /api/v1/stats/runs`): runs of a day in a Marquez state. Stored per day
  by lineage_dashboard_daily; python_ops/lineage/shapes.py renders the same macro for the normalized
  answer, so the two cannot drift apart.
#}
{% macro lineage_dashboard_entry(day, state, runs) -%}
    json_build_object('date', {{ day }}, 'state', {{ state }}, 'count', {{ runs }})
{%- endmacro %}
