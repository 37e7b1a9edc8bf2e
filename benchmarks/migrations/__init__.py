"""Migrations benchmarks: run-pending of a heavy data migration in chunks, and upgrading from scratch."""
