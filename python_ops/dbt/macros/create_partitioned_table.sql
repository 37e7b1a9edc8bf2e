{#
  Create `relation` with the columns of `staged`, natively partitioned by RANGE on `column`, with an
  empty DEFAULT partition (a safety net the gates keep empty) and the configured indexes.
  Each index: {"columns": [...], "type": "btree"|"gin", "unique": bool}; indexes on a partitioned
  table cascade to every partition, present and future.
#}
{% macro create_partitioned_table(relation, staged, column, indexes) %}
    create table {{ relation }} (like {{ staged }} including defaults)
        partition by range ({{ adapter.quote(column) }});
    create table {{ relation.incorporate(path={"identifier": relation.identifier ~ "_default"}) }}
        partition of {{ relation }} default;
    {{ partitioned_table_indexes(relation, indexes) }}
{% endmacro %}

{#
  The configured indexes of `relation`, created when missing (a model that gained an index in a
  later version gets it on its next run; an existing one is left as it is).
#}
{% macro partitioned_table_indexes(relation, indexes) %}
    {% for index in indexes %}
    create {{ "unique" if index.get("unique") }} index if not exists
        {{ relation.identifier ~ "_" ~ (index["columns"] | join("_")) ~ "_idx" }}
        on {{ relation }} using {{ index.get("type", "btree") }}
        ({{ index["columns"] | map("string") | join(", ") }});
    {% endfor %}
{% endmacro %}
