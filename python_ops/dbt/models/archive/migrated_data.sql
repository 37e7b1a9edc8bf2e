{{ config(materialized='view', alias=archive_config().get('target_table')) }}

{{ archive_union() }}
