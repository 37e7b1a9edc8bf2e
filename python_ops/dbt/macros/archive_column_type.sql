{#-
    The type map: the ClickHouse type an archived Postgres column is stored as, from its udt_name
    (`_x` is an array of x) and nullability. The one place this mapping is written; unknown types are
    kept as their text (String).
-#}
{% macro archive_column_type(udt_name, nullable) -%}
    {%- set scalar = {
        'text': 'String', 'varchar': 'String', 'bpchar': 'String', 'name': 'String', 'citext': 'String',
        'json': 'String', 'jsonb': 'String', 'int2': 'Int16', 'int4': 'Int32', 'int8': 'Int64',
        'float4': 'Float32', 'float8': 'Float64', 'bool': 'Bool', 'uuid': 'UUID', 'date': 'Date32',
        'timestamptz': "DateTime64(6, 'UTC')", 'timestamp': 'DateTime64(6)',
    } -%}
    {%- if udt_name.startswith('_') -%}
        {{ return('Array(Nullable(' ~ scalar.get(udt_name[1:], 'String') ~ '))') }}
    {%- elif nullable -%}
        {{ return('Nullable(' ~ scalar.get(udt_name, 'String') ~ ')') }}
    {%- else -%}
        {{ return(scalar.get(udt_name, 'String')) }}
    {%- endif -%}
{%- endmacro %}
