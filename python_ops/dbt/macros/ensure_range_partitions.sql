{#
  Create the RANGE partitions of `relation` that the rows of `staged` need, through the partitions
  component's SQL function `migrata_ensure_range_partitions` (idempotent; moves rows out of the default).
#}
{% macro ensure_range_partitions(relation, staged, column, interval='month') %}
    select migrata_ensure_range_partitions(
        '{{ relation }}'::regclass,
        (select min({{ adapter.quote(column) }})::timestamp at time zone 'UTC' from {{ staged }}),
        (select max({{ adapter.quote(column) }})::timestamp at time zone 'UTC' from {{ staged }})
            + interval '1 day',
        '{{ interval }}'
    )
{% endmacro %}
