"""Lineage benchmarks: backfill vs a bare INSERT … SELECT, graph queries denormalized vs normalized,
incremental refresh on top of a large store, ingestion through the CLI."""
