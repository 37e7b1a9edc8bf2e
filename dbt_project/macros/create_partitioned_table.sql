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
    {% for index in indexes %}
    create {{ "unique" if index.get("unique") }} index
        {{ relation.identifier ~ "_" ~ (index["columns"] | join("_")) ~ "_idx" }}
        on {{ relation }} using {{ index.get("type", "btree") }}
        ({{ index["columns"] | map("string") | join(", ") }});
    {% endfor %}
{% endmacro %}
