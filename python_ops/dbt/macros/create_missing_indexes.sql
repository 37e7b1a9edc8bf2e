{#
  The `indexes` of a model's config that its existing table lacks (by column list), created: dbt's
  incremental materialization makes them only when it creates the table, so a model that gained an
  index in a later version (lineage_graph_edges, lineage_jobs_latest: `built_xmin`, which each build
  reads the max of) would otherwise never get it on a store built before. A post-hook; one catalog
  query when nothing is missing.
#}
{% macro create_missing_indexes(relation) %}
    {%- set wanted = config.get('indexes', []) -%}
    {%- if execute and wanted -%}
        {%- set present = run_query(
            "select array_to_string(array_agg(a.attname order by k.n), ',')
               from pg_index i
               cross join lateral unnest(i.indkey::int2[]) with ordinality k(attnum, n)
               join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
              where i.indrelid = '" ~ relation ~ "'::regclass
              group by i.indexrelid").columns[0].values() | list -%}
        {%- for index in wanted if (index['columns'] | join(',')) not in present %}
        create {{ 'unique' if index.get('unique') }} index on {{ relation }}
            using {{ index.get('type', 'btree') }} ({{ index['columns'] | join(', ') }});
        {%- else %}
        select 1
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}
