"""Benchmarks of the `migrata` command-line tool itself."""
