"""Benchmarks of the parquet footer-cache repair (issue 6): repair throughput and scan rate."""
