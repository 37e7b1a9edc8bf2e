{#
  `is_incremental()` for the `partitioned_incremental` materialization: dbt's own macro answers true
  only for `materialized='incremental'`. True when the table exists and this is not a full refresh.
#}
{% macro partitioned_is_incremental() %}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set relation = adapter.get_relation(this.database, this.schema, this.table) -%}
    {{ return(relation is not none
              and model.config.materialized == 'partitioned_incremental'
              and not should_full_refresh()) }}
{% endmacro %}
