"""Own engine start-up: embedded Postgres, ClickHouse clients, the dbt chDB driver.

Kept import-free on purpose: the `.pth` hook imports `dbt_chdb_shim` from here in every interpreter.
Import `python_ops.engines.control` for the verbs.
"""
