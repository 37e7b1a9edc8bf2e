"""Benchmarks of the deployment: how long Dagster takes to serve migrata."""
