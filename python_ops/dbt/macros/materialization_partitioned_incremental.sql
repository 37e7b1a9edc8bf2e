{#
  Materialization `partitioned_incremental` (Postgres): a table natively partitioned by RANGE on
  `partition_by` (monthly by default), kept up to date by delete + insert on `unique_key`.

  dbt-postgres cannot create partitioned tables, hence this. Each run:
    1. stages the model's rows in a temp table (the model itself decides what is new or changed);
    2. creates the partitioned table with a DEFAULT partition and its indexes if it does not exist
       (or on --full-refresh); on an existing table, adds the columns and indexes the model gained
       since it was created (like dbt's on_schema_change='append_new_columns');
    3. creates the partitions the staged rows need (`migrata_ensure_range_partitions`);
    4. deletes the rows being replaced — by `unique_key`, in the partitions that hold them (looked up
       first, so the delete is pruned to them), plus every row of the window when the vars
       `min_date`/`max_date` and `rebuild: true` ask to rebuild a window (a Dagster partition backfill);
    5. inserts the staged rows, all in one transaction.
  Config: partition_by, unique_key, partition_interval ('month'), partition_indexes (see
  create_partitioned_table), partition_by_never_increases (default false): true when `partition_by` is
  never null and a row's new value is never later than the one it is stored under (a run's day is that
  of its first event, which only moves earlier); the replaced rows are then looked for only in the
  partitions from the earliest staged value on, not in every partition of the table.
#}
{% materialization partitioned_incremental, adapter='postgres' %}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing = load_cached_relation(this) -%}
    {%- set partition_by = config.require('partition_by') -%}
    {%- set unique_key = config.require('unique_key') -%}
    {%- set interval = config.get('partition_interval', 'month') -%}
    {%- set indexes = config.get('partition_indexes', []) -%}
    {%- set staged = make_temp_relation(target_relation) -%}
    {%- set rebuild = var('rebuild', false) and var('min_date', none) and var('max_date', none) -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {% call statement('stage') %}
        drop table if exists {{ staged }};
        create temporary table {{ staged }} as ({{ sql }});
        analyze {{ staged }};
    {% endcall %}

    {% if existing is none or should_full_refresh() %}
        {% if existing is not none %}
            {% do adapter.drop_relation(existing) %}
        {% endif %}
        {% call statement('create') %}
            {{ create_partitioned_table(target_relation, staged, partition_by, indexes) }}
        {% endcall %}
    {% else %}
        {%- set present = adapter.get_columns_in_relation(existing) | map(attribute='name') | list -%}
        {% call statement('evolve') %}
            {% for column in adapter.get_columns_in_relation(staged) if column.name not in present %}
            alter table {{ target_relation }} add column {{ adapter.quote(column.name) }} {{ column.data_type }};
            {% endfor %}
            {{ partitioned_table_indexes(target_relation, indexes) }}
        {% endcall %}
    {% endif %}

    {% call statement('partitions') %}
        {{ ensure_range_partitions(target_relation, staged, partition_by, interval) }}
    {% endcall %}

    {%- set columns = adapter.get_columns_in_relation(staged) | map(attribute='name') | map('string') | list -%}
    {%- set pkey = adapter.quote(partition_by) -%}
    {%- set ukey = adapter.quote(unique_key) -%}
    {#- The partitions holding the rows being replaced: a replaced row may sit in another partition than
        its new version (a late event moves a run to an earlier day), so they come from the table, not
        from the staged rows. `= any(array(...))` probes each partition's unique_key index; a join
        against the staged rows would be planned as a hash join reading every partition whole. -#}
    {%- set old_keys = [] -%}
    {%- set null_key = false -%}
    {% if existing is not none and not should_full_refresh() %}
        {#- with partition_by_never_increases, only the partitions from the earliest staged key on (as a
            literal, so the planner prunes the rest): a probe of every partition's unique_key index
            costs what the partitions hold, and grew with the store (issue 16) -#}
        {%- set bound = none -%}
        {% if config.get('partition_by_never_increases', false) %}
            {%- set bound = run_query('select min(' ~ pkey ~ ')::text from ' ~ staged).columns[0].values()[0] -%}
        {% endif %}
        {%- set found = run_query(
            'select distinct t.' ~ pkey ~ '::text from ' ~ target_relation ~ ' t where t.' ~ ukey
            ~ ' = any(array(select s.' ~ ukey ~ ' from ' ~ staged ~ ' s))'
            ~ ((" and t." ~ pkey ~ " >= '" ~ (bound | replace("'", "''")) ~ "'") if bound is not none else "")) -%}
        {%- set old_keys = found.columns[0].values() | list -%}
        {%- set null_key = none in old_keys -%}
        {%- set old_keys = old_keys | reject('none') | list -%}
    {% endif %}
    {% call statement('main') %}
        {% if rebuild %}
        delete from {{ target_relation }}
         where {{ pkey }} >= '{{ var("min_date") }}'::date
           and {{ pkey }} < '{{ var("max_date") }}'::date;
        {% endif %}
        {% if old_keys or null_key %}
        {#- literal partition keys: the planner prunes to the partitions that hold replaced rows #}
        delete from {{ target_relation }} t
         where t.{{ ukey }} = any(array(select s.{{ ukey }} from {{ staged }} s))
           and (t.{{ pkey }} in (
               {%- for key in old_keys %}'{{ key | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor -%}
               {{- "null" if not old_keys }})
               {%- if null_key %} or t.{{ pkey }} is null{% endif %});
        {% endif %}
        insert into {{ target_relation }} ({{ columns | join(', ') }})
        select {{ columns | join(', ') }} from {{ staged }};
        drop table {{ staged }};
    {% endcall %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do adapter.commit() %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
