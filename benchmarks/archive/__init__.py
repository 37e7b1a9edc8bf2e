"""Benchmarks of the archive: Postgres → ClickHouse throughput, cleanup deletes, idle incremental runs."""
