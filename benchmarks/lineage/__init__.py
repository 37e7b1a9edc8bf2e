"""Lineage benchmarks: backfill vs a bare INSERT … SELECT, graph queries denormalized vs normalized,
incremental refresh on top of a large store, ingestion through the CLI, the read API."""

# The floor the read goals name ("within 2x of a bare single-index probe"): one prepared primary-key
# lookup, timed the same way beside the reads in bench_read_api and bench_backfill_runs.
BARE_PROBE = "SELECT uuid, name FROM lineage_jobs WHERE uuid = %s"
