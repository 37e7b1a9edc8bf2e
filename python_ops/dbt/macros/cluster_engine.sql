{#-
    The table engine of an archive model: `engine` (e.g. `ReplacingMergeTree(__migrated_at)`) on one
    server; on a cluster (var `cluster`, from MIGRATA_CLICKHOUSE__CLUSTER) its Replicated form, one
    replica per node under the Keeper path `cluster_replica_path` ({uuid}: a path per table that
    survives dbt's renames; {shard}, {replica}: the server's macros). The one place this rule is written.
-#}
{% macro cluster_engine(engine) -%}
    {%- if not var('cluster', '') -%}
        {{ return(engine) }}
    {%- endif -%}
    {%- set name, _, args = engine.partition('(') -%}
    {%- set args = args.rstrip().rstrip(')').strip() -%}
    {%- set path = var('cluster_replica_path', '/clickhouse/tables/{uuid}/{shard}') -%}
    {{ return('Replicated' ~ name.strip() ~ "('" ~ path ~ "', '{replica}'" ~ (', ' ~ args if args else '') ~ ')') }}
{%- endmacro %}
